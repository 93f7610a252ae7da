"""Writing outputs whole or not at all: a temporary file in the same
directory, then ``os.replace``, so an interrupted run never leaves a
half-written file under the final name."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import yaml


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_beside(path: Path, suffix: str) -> Path:
    """An empty temporary file next to ``path``, with the permissions a plain
    ``open()`` would give (mkstemp's are 0600)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


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
    path = Path(path)
    tmp = _temp_beside(path, ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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
    write_text(path, yaml.dump(data, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True))


def save_model(model, path: str | Path) -> None:
    """``model.save`` to a temporary ``.keras`` file, then rename it to ``path``."""
    path = Path(path)
    tmp = _temp_beside(path, ".keras")
    try:
        model.save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
