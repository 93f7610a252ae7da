"""Output paths checked before any work starts.

Every path a command will write (``--save``, ``--plot``, ``--confusion``,
``-o/--output``, ``--out``, ``--tensorboard``) is checked right after the
arguments are read, before a spec is trained, a model built or a test set
evaluated, so a typo costs nothing: a missing parent folder, a path that is a
folder where a file is wanted (or a file where a folder is wanted), a folder
that cannot be written (read-only file system, no permission) or a file that
exists already (nothing a user made is replaced unless ``--overwrite`` says
so) is an :class:`OutputPathError`, exit status 2. Nothing is created here:
writability is proven by creating and removing an empty temporary file in
the nearest folder that exists.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from ..errors import HintedError


class OutputPathError(HintedError, ValueError):
    """An output path that cannot be written as asked (bad input, exit status 2)."""


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _prove_writable(directory: Path, flag: str, shown: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(prefix=".fmnist-spec-probe-", dir=directory):
            pass
    except OSError as exc:
        message = f"{flag} {shown}: cannot write in {str(directory)!r}: {exc.strerror or exc}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the disk, not the input: exit 1
            from ..running.run_folder import RunWriteError

            raise RunWriteError(message + "\n  hint: free some space and run the same command again") from None
        raise OutputPathError(message, "choose a folder you can write to") from None


def check_file(path: str | None, flag: str, suffixes: tuple, overwrite: bool = False) -> None:
    """Check that the file ``path`` (given with ``flag``) can be written.

    Args:
        path: The output file, or None (nothing to check).
        flag: The flag that named it, for messages (``--save``).
        suffixes: Accepted endings, lower case (``(".keras",)``).
        overwrite: Whether an existing file may be replaced.

    Raises:
        OutputPathError: a wrong ending, a missing parent folder, a folder
            at ``path``, an existing file without ``overwrite``, or a parent
            folder that cannot be written.
    """
    if path is None:
        return
    target = Path(path)
    if not path.lower().endswith(suffixes):
        raise OutputPathError(f"{flag} {path}: must end in {' or '.join(suffixes)}",
                              f"for example {flag} model{suffixes[0]}")
    if target.is_dir():
        raise OutputPathError(f"{flag} {path}: is a directory; a file is wanted here",
                              f"give a file name inside it, e.g. {target / ('model' + suffixes[0])}")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise OutputPathError(f"{flag} {path}: the directory {str(target.parent)!r} does not exist",
                              f"create it first (mkdir -p {target.parent})")
    if target.exists() and not overwrite:
        raise OutputPathError(f"{flag} {path}: the file exists already and is left as it is",
                              "give another name, or add --overwrite to replace it")
    _prove_writable(parent, flag, path)


def check_dir(path: str | None, flag: str) -> None:
    """Check that the folder ``path`` (given with ``flag``) exists and can be written,
    or can be created.

    Raises:
        OutputPathError: ``path`` or a folder on the way is a file, or the
            nearest existing folder cannot be written.
    """
    if path is None:
        return
    target = Path(path)
    existing = _nearest_existing(target)
    if not existing.is_dir():
        what = "is" if existing == target.absolute() else f"is inside {str(existing)!r}, which is"
        raise OutputPathError(f"{flag} {path}: {what} not a directory",
                              f"{flag} takes a folder; give a new or existing folder's path")
    _prove_writable(existing, flag, path)
