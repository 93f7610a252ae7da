"""Writing outputs whole or not at all: a temporary file in the same
directory, then ``os.replace``, so an interrupted run never leaves a
half-written file under the final name.

Every temporary file is named ``.<name>.tmp-<pid>-<random><suffix>``; one left
behind by a process killed mid-write is recognised by its dead pid and removed
by :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import yaml

_TEMPORARY = re.compile(r"^\..+\.tmp-(?P<pid>[0-9]+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (``os.kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_beside(path: Path, suffix: str) -> Path:
    """An empty temporary file next to ``path``, with the permissions a plain
    ``open()`` would give (mkstemp's are 0600)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def atomic_write(path: str | Path, content: str | bytes | Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Write ``path`` whole or not at all.

    Args:
        path: The file to write; its directory must exist.
        content: Text (written as UTF-8), bytes, or a function that writes the
            file at the temporary path it is given (``model.save``, ``savefig``).
        suffix: The temporary file's suffix, for writers that choose the format
            by it (``.keras``, ``.png``).

    Raises:
        OSError: the file could not be written (the old ``path``, if any, is unchanged).
    """
    path = Path(path)
    tmp = _temp_beside(path, suffix)
    try:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            content(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` in ``directory`` whose
    writing process is gone; return what was deleted."""
    removed = []
    for path in Path(directory).glob(".*.tmp-*"):
        match = _TEMPORARY.match(path.name)
        if match and not pid_alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_writable_dir(directory: str | Path) -> None:
    """Create ``directory`` (and parents) if needed and prove a file can be
    written in it, before any long work starts.

    Raises:
        OSError: the directory cannot be created or written to; the message
            names the path.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _temp_beside(directory / "probe", ".tmp").unlink()
    except OSError as exc:
        raise OSError(f"cannot write in {str(directory)!r}: {exc.strerror or exc}") from None


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, text)


def write_json(path: str | Path, data) -> None:
    """Write ``data`` as indented JSON atomically."""
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


class _QuotingDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that also quotes every string the YAML 1.2 core
    schema would read as another type (``1e3``, ``.nan``, ``010``, ``0o7``);
    its own YAML 1.1 resolver already quotes ``yes``, ``~``, ``true``, ``null``."""


def _represent_str(dumper, text: str):
    from .source.yaml12 import TAG, Yaml12Loader

    resolved = Yaml12Loader("").resolve(yaml.ScalarNode, text, (True, False))
    escaped = any(ch in _BREAKS or not ch.isprintable() for ch in text)  # only "..." escapes them
    return dumper.represent_scalar(TAG + "str", text, style='"' if escaped or resolved != TAG + "str" else None)


_BREAKS = "\r\n\x85\u2028\u2029"
"""Line breaks in YAML 1.1; quoted or plain, they would be folded when read back."""


_QuotingDumper.add_representer(str, _represent_str)


def write_yaml(path: str | Path, data) -> None:
    """Write ``data`` as block-style YAML atomically (keys in the given order),
    so that fmnist-spec's YAML 1.2 reader gives ``data`` back unchanged."""
    atomic_write(path, yaml.dump(data, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True))


def save_model(model, path: str | Path) -> None:
    """``model.save`` to a temporary ``.keras`` file, then rename it to ``path``."""
    atomic_write(path, model.save, suffix=".keras")
