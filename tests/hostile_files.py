"""Builders of hostile input files: small on disk, huge once read naively.

Used by tests/test_hostile.py (with sizes just large enough that reading them
whole would pass the test's memory bound) and, with the reported attack sizes, to
measure the tool before and after its limits. No TensorFlow unless a valid
model is needed.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

CHUNK = 1 << 20


def _stream(fh, prefix: bytes, filler: bytes, size: int, suffix: bytes = b"") -> None:
    fh.write(prefix)
    block = filler * CHUNK
    left = size
    while left > 0:
        fh.write(block[:min(left, CHUNK)])
        left -= min(left, CHUNK)
    fh.write(suffix)


def keras_archive(path: Path, members: dict) -> Path:
    """A zip of ``name -> bytes`` or ``name -> (prefix, filler, size, suffix)`` members, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in members.items():
            with archive.open(name, "w", force_zip64=True) as fh:
                if isinstance(content, bytes):
                    fh.write(content)
                else:
                    _stream(fh, *content)
    return path


def valid_members(keras_file: Path) -> dict:
    """The members of a real ``.keras`` file, as bytes."""
    with zipfile.ZipFile(keras_file) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def config_bomb(path: Path, size: int) -> Path:
    """``config.json`` inflating to ``size`` bytes of spaces inside a JSON string."""
    return keras_archive(path, {"metadata.json": b"{}", "config.json": (b'{"pad": "', b" ", size, b'"}')})


def weights_bomb(path: Path, keras_file: Path, size: int) -> Path:
    """A real model's config with ``model.weights.h5`` inflating to ``size`` zero bytes."""
    members = valid_members(keras_file)
    members["model.weights.h5"] = (b"", b"\0", size, b"")
    return keras_archive(path, members)


def many_members(path: Path, keras_file: Path, count: int, size: int) -> Path:
    """A real model plus ``count`` members of ``size`` zero bytes under ``assets/``
    (Keras extracts all members to a temporary directory when there are more than three)."""
    members = valid_members(keras_file)
    members.update({f"assets/pad{i}.bin": (b"", b"\0", size, b"") for i in range(count)})
    return keras_archive(path, members)


def traversal(path: Path, keras_file: Path) -> Path:
    """A real model plus a member named ``../../fmnist_spec_traversal.txt``."""
    members = valid_members(keras_file)
    members["../../fmnist_spec_traversal.txt"] = b"escaped"
    return keras_archive(path, members)


def png(path: Path, width: int, height: int, color_type: int = 6, bit_depth: int = 8, rows: bool = True) -> Path:
    """A PNG of ``width`` x ``height`` zero pixels, compressed row by row (RGBA by default)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + width * channels * bit_depth // 8)
    body = io.BytesIO()
    if rows:
        for _ in range(height):
            body.write(compressor.compress(row))
    body.write(compressor.flush())
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", body.getvalue()) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


def idx_with_trailing_zeros(path: Path, images: int, trailing: int) -> Path:
    """An IDX image file of ``images`` 28x28 zero images followed by ``trailing`` zero bytes, gzipped."""
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", images, 28, 28)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        _stream(fh, header, b"\0", images * 784 + trailing)
    return path


def idx_declaring(path: Path, dims: tuple) -> Path:
    """An IDX header declaring ``dims`` with almost no data, gzipped."""
    header = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as fh:
        fh.write(header + b"\0" * 16)
    return path
