"""Inspect a ``.keras`` archive before Keras opens it.

A ``.keras`` file is a zip archive that Keras writes with three members,
stored uncompressed: ``metadata.json``, ``config.json`` (the model's
architecture) and ``model.weights.h5``. Keras reads ``config.json`` whole into
memory, reads the weights whole when memory allows, and extracts every member
to a temporary directory when the archive holds more than three. Its own guard
(``keras/src/saving/saving_lib.py``, ``_reject_zip_bomb``) only refuses members
over 4 GiB, so a 3 MB file could still make it allocate gigabytes or fill the
disk. :func:`inspect_archive` reads only the zip's central directory (and
``config.json``, once its declared size is known to be small) and refuses
anything a Fashion-MNIST model does not need, so loading stays within bounded
memory and writes nothing to disk. The declared sizes are what
:mod:`zipfile` enforces while reading (it never returns more than a member's
declared ``file_size``), so checking them bounds what Keras can read.

No TensorFlow here.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from ..input_files import not_a_regular_file

MEMBERS = ("metadata.json", "config.json", "model.weights.h5", "model.weights.npz")
"""The member names Keras 3 writes for a model without assets."""
MAX_MEMBERS = len(MEMBERS)
"""Most members accepted; Keras extracts every member to disk when there are more than three."""
MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Largest ``config.json`` accepted (a 100-layer model's is about 85 KB)."""
MAX_METADATA_BYTES = 64 * 1024
"""Largest ``metadata.json`` accepted (Keras writes about 100 bytes)."""
MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024
"""Largest weights member accepted whatever the layers declare (1 GiB: 50 million
float32 parameters with two optimizer slots each is 600 MB)."""
MAX_RATIO = 100
"""Largest compression ratio (uncompressed / stored) of a member over
:data:`RATIO_FLOOR`. Keras stores members uncompressed (ratio 1); the DEFLATE
format cannot exceed about 1032 (zlib's technical notes)."""
RATIO_FLOOR = 1024 * 1024
"""Members smaller than this (bytes) may have any compression ratio."""
BYTES_PER_PARAMETER = 8 * 3
"""Weights-file allowance per parameter the layers declare: float64 at most,
times three for the value and two optimizer slots (Adam's ``m`` and ``v``)."""
BYTES_PER_LAYER = 16 * 1024
"""HDF5 allowance per layer (groups, attributes; measured: about 4.4 KB per
``Dense`` layer with Adam's variables)."""
MAX_DIRECTORY_BYTES = 64 * 1024
"""Largest zip central directory accepted (three members take about 200 bytes);
checked from the end record before :mod:`zipfile` parses the directory."""
MAX_ARCHIVE_BYTES = MAX_WEIGHTS_BYTES + MAX_CONFIG_BYTES + MAX_METADATA_BYTES + MAX_DIRECTORY_BYTES
"""Largest ``.keras`` file accepted on disk (bytes): every member at its limit, stored."""
BYTES_FIXED = 1024 * 1024
"""HDF5 allowance per file, on top of the per-layer one."""
WEIGHTLESS = {"InputLayer", "Flatten", "Dropout", "Activation", "Softmax", "ReLU", "Reshape",
              "Rescaling", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
              "Identity", "Permute", "LeakyReLU", "ELU"}
"""Layer classes that hold no weights."""
CONTAINERS = {"Sequential", "Functional", "Model"}
"""Model classes whose ``config.layers`` list is walked."""


class ArchiveError(ValueError):
    """The file is not a ``.keras`` archive fmnist-spec will open; the message
    starts with the path and says which limit or rule it breaks."""


def inspect_archive(path: str | Path) -> dict:
    """Check a ``.keras`` file's zip directory and ``config.json`` against the limits.

    Args:
        path: The ``.keras`` file.

    Returns:
        The parsed ``config.json``.

    Raises:
        ArchiveError: not a regular file; not a zip archive ("not a valid
            Keras archive"); an unexpected member name (such as
            ``../../x``); too many members; a member larger than its limit or
            compressed more than :data:`MAX_RATIO` to 1; weights larger than
            the declared layers need; ``config.json`` missing or not JSON.
    """
    path = Path(path)
    problem = not_a_regular_file(path)
    if problem:
        raise ArchiveError(f"{path}: {problem}; expected a .keras model file")
    _check_directory(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_members(path, infos)
            raw = archive.read("config.json")
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{path}: not a valid Keras archive ({exc}); a .keras file is a zip archive "
                           "written by model.save") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:  # truncated data, encryption
        raise ArchiveError(f"{path}: not a valid Keras archive ({type(exc).__name__}: {exc})") from None
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"{path}: not a valid Keras archive (config.json is not JSON: "
                           f"{str(exc)[:200]})") from None
    if not isinstance(config, dict):
        raise ArchiveError(f"{path}: not a valid Keras archive (config.json is not a JSON object)")
    _check_weights(path, infos, config)
    return config


def _check_directory(path: Path) -> None:
    """Refuse an oversized file or zip central directory before :mod:`zipfile` reads it."""
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{path}: the file has {size:,} bytes, more than the limit of "
                           f"{MAX_ARCHIVE_BYTES:,} for a .keras model")
    with open(path, "rb") as fh:  # the end record: the last 22 bytes plus a comment of up to 64 KiB
        fh.seek(max(0, size - 22 - 65535))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ArchiveError(f"{path}: not a valid Keras archive (no zip end record: the file is empty, "
                           "truncated or not a zip file); a .keras file is a zip archive written by model.save")
    entries, directory_size = struct.unpack("<HL", tail[at + 10:at + 16])
    if entries != 0xFFFF and entries > MAX_MEMBERS:
        raise ArchiveError(f"{path}: the archive has {entries:,} members, more than the limit of "
                           f"{MAX_MEMBERS} ({', '.join(MEMBERS)}); Keras would extract them all to disk")
    if directory_size != 0xFFFFFFFF and directory_size > MAX_DIRECTORY_BYTES:
        raise ArchiveError(f"{path}: the zip directory has {directory_size:,} bytes, more than the limit "
                           f"of {MAX_DIRECTORY_BYTES:,}")


def _check_members(path: Path, infos: list) -> None:
    names = [info.filename for info in infos]
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"{path}: the archive has {len(infos):,} members, more than the limit of "
                           f"{MAX_MEMBERS} ({', '.join(MEMBERS)}); Keras would extract them all to disk")
    for info in infos:
        if info.filename not in MEMBERS or names.count(info.filename) > 1:
            what = "a second" if info.filename in MEMBERS else "an unexpected"
            raise ArchiveError(f"{path}: the archive has {what} member {info.filename!r}; a .keras model "
                               f"without assets holds only {', '.join(MEMBERS)}")
        limit = {"config.json": MAX_CONFIG_BYTES, "metadata.json": MAX_METADATA_BYTES}.get(
            info.filename, MAX_WEIGHTS_BYTES)
        if info.file_size > limit:
            raise ArchiveError(f"{path}: the member {info.filename} unpacks to {info.file_size:,} bytes, "
                               f"more than the limit of {limit:,}")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(f"{path}: the member {info.filename} unpacks to {info.file_size:,} bytes from "
                               f"{info.compress_size:,}, a compression ratio over the limit of {MAX_RATIO} "
                               "(a decompression bomb)")
    if "config.json" not in names:
        raise ArchiveError(f"{path}: not a valid Keras archive (no config.json)")


def _check_weights(path: Path, infos: list, config: dict) -> None:
    weights = [info for info in infos if info.filename.startswith("model.weights.")]
    if not weights:
        return
    counted = declared_parameters(config)
    if counted is None:  # layers we cannot count: MAX_WEIGHTS_BYTES, checked already, is the bound
        return
    parameters, layers = counted
    allowed = BYTES_FIXED + BYTES_PER_LAYER * layers + BYTES_PER_PARAMETER * parameters
    if weights[0].file_size > allowed:
        raise ArchiveError(
            f"{path}: the member {weights[0].filename} unpacks to {weights[0].file_size:,} bytes, but the "
            f"{layers:,} layers in config.json declare {parameters:,} parameters, which need at most "
            f"{allowed:,} bytes")


def declared_parameters(config: dict) -> tuple[int, int] | None:
    """``(parameters, layers)`` a model's ``config.json`` declares, or None when
    it has layers whose weights cannot be counted from the config alone.

    ``Dense`` layers are counted from ``units``, ``use_bias`` and the last axis
    of ``build_config.input_shape``; :data:`WEIGHTLESS` layers count zero;
    nested models are walked; any other layer makes the count unknown.
    """
    parameters = layers = 0
    stack = [config]
    while stack:
        entry = stack.pop()
        if not isinstance(entry, dict):
            return None
        kind, inner = entry.get("class_name"), entry.get("config")
        if not isinstance(inner, dict):
            return None
        if kind in CONTAINERS:
            children = inner.get("layers")
            if not isinstance(children, list):
                return None
            stack.extend(children)
            continue
        layers += 1
        if kind in WEIGHTLESS:
            continue
        if kind != "Dense":
            return None
        shape = (entry.get("build_config") or {}).get("input_shape")
        units = inner.get("units")
        if not (isinstance(shape, list) and shape and isinstance(shape[-1], int) and isinstance(units, int)):
            return None
        parameters += units * shape[-1] + (units if inner.get("use_bias", True) else 0)
    return parameters, layers
