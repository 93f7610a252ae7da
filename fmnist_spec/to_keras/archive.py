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
import math
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
BYTES_SCALARS = 64 * 1024
"""Declared-bytes allowance for a weights file's scalars (the optimizer's ``iterations``,
``learning_rate``, ...) on top of the per-parameter one."""
BYTES_FIXED = 1024 * 1024
"""HDF5 allowance per file, on top of the per-layer one."""


class ArchiveError(ValueError):
    """The file is not a ``.keras`` archive fmnist-spec will open; the message
    starts with the path and says which limit or rule it breaks."""


def inspect_archive(path: str | Path, vet=None) -> dict:
    """Check a ``.keras`` file's zip directory, ``config.json`` and weights against the limits.

    Args:
        path: The ``.keras`` file.
        vet: Called with the parsed ``config.json`` before its layers are
            counted (``export`` refuses layers a spec cannot express there, in
            its own words); it may raise.

    Returns:
        The parsed ``config.json``.

    Raises:
        ArchiveError: not a regular file; not a zip archive ("not a valid
            Keras archive"); an unexpected member name (such as
            ``../../x``); too many members; a member larger than its limit or
            compressed more than :data:`MAX_RATIO` to 1; ``config.json``
            missing or not JSON; layers that cannot be counted from it (see
            :mod:`fmnist_spec.to_keras.model_config`), more than ``MAX_PARAMS``
            parameters, or one image's activations over ``MAX_EVALUATION_BYTES``;
            weights larger than the declared layers need, or HDF5 datasets
            that do not fit them (:mod:`fmnist_spec.to_keras.weights_file`).
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
            config = _config(path, archive.read("config.json"))
            if vet is not None:
                vet(config)
            _check_weights(path, archive, infos, config)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{path}: not a valid Keras archive ({exc}); a .keras file is a zip archive "
                           "written by model.save") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:  # truncated data, encryption
        raise ArchiveError(f"{path}: not a valid Keras archive ({type(exc).__name__}: {exc})") from None
    return config


def _config(path: Path, raw: bytes) -> dict:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"{path}: not a valid Keras archive (config.json is not JSON: "
                           f"{str(exc)[:200]})") from None
    if not isinstance(config, dict):
        raise ArchiveError(f"{path}: not a valid Keras archive (config.json is not a JSON object)")
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


def _check_weights(path: Path, archive: zipfile.ZipFile, infos: list, config: dict) -> None:
    """Count what ``config.json`` declares (:func:`fmnist_spec.to_keras.model_config.declared_model`),
    hold it to the spec's limits, then check the weights member's size and its HDF5 datasets'
    declared shapes (:func:`fmnist_spec.to_keras.weights_file.check_weights_file`) against it."""
    from ..language.checks import MAX_PARAMS
    from ..language.memory import MAX_EVALUATION_BYTES, format_bytes
    from .model_config import UncountedModel, declared_model
    from .weights_file import WeightsFileError, check_weights_file

    try:
        declared = declared_model(config)
    except UncountedModel as exc:
        raise ArchiveError(f"{path}: cannot load it: {exc}") from None
    parameters, layers = declared.parameters, len(declared.rows) + 1  # and the InputLayer
    if parameters > MAX_PARAMS:
        biggest = max(declared.rows, key=lambda r: sum(math.prod(s) for s in declared.variables[r.name]))
        raise ArchiveError(f"{path}: config.json declares {parameters:,} parameters ({parameters * 4 / 2**30:.1f} "
                           f"GiB of float32 weights), more than the limit of {MAX_PARAMS:,} (the spec's); "
                           f"layer {biggest.name!r} ({biggest.type}) alone has "
                           f"{sum(math.prod(s) for s in declared.variables[biggest.name]):,}")
    if declared.inference_bytes > MAX_EVALUATION_BYTES:
        worst = max(declared.rows, key=lambda r: math.prod(r.output_shape[1:]))
        raise ArchiveError(f"{path}: one image would need about {format_bytes(declared.inference_bytes)} of "
                           f"activations, more than the limit of {format_bytes(MAX_EVALUATION_BYTES)}; layer "
                           f"{worst.name!r} ({worst.type}) outputs {math.prod(worst.output_shape[1:]):,} values "
                           "per image")
    weights = [info for info in infos if info.filename.startswith("model.weights.")]
    if not weights:
        return
    allowed = BYTES_FIXED + BYTES_PER_LAYER * layers + BYTES_PER_PARAMETER * parameters
    if weights[0].file_size > allowed:
        raise ArchiveError(
            f"{path}: the member {weights[0].filename} unpacks to {weights[0].file_size:,} bytes, but the "
            f"{layers:,} layers in config.json declare {parameters:,} parameters, which need at most "
            f"{allowed:,} bytes")
    if weights[0].filename != "model.weights.h5":
        return  # .npz: bounded by its declared size, checked above
    try:
        with archive.open(weights[0]) as member:
            check_weights_file(member, declared.variables, weights_budget(parameters))
    except WeightsFileError as exc:
        raise ArchiveError(f"{path}: the member model.weights.h5 does not fit the model in config.json: "
                           f"{exc}") from None


def weights_budget(parameters: int) -> int:
    """Most bytes a weights file's datasets may declare for a model of ``parameters`` parameters:
    :data:`BYTES_PER_PARAMETER` each (float64, value and two optimizer slots) plus
    :data:`BYTES_SCALARS` for the optimizer's scalars."""
    return BYTES_PER_PARAMETER * parameters + BYTES_SCALARS
