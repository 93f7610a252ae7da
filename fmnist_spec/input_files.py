"""What a path the user gave names, checked before it is opened.

Every file fmnist-spec reads on the user's behalf (a spec and its
``extends`` bases, a ``.keras`` model, an image, an IDX data file) must be a
regular file: a directory, ``/dev/zero``, a named pipe or a socket would make
``open().read()`` fail with a misleading error, block forever or never end.
No TensorFlow here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory, not a file"),
    (stat.S_ISCHR, "a character device, not a regular file"),
    (stat.S_ISBLK, "a block device, not a regular file"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)


def not_a_regular_file(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None when it is a regular file.

    Symbolic links are followed, so a link to ``/dev/zero`` is a device.

    Returns:
        ``"no such file"``, ``"a directory, not a file"``, ``"a character
        device, not a regular file"`` and the like, or None.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except NotADirectoryError:
        return "no such file (a part of the path is not a directory)"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    for test, what in _KINDS:
        if test(mode):
            return what
    return "not a regular file"


def file_size(path: str | Path) -> int:
    """Size of a regular file in bytes (``os.stat``)."""
    return os.stat(path).st_size
