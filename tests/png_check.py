"""Checks that a file is a real, non-trivial PNG picture."""

from pathlib import Path

import numpy as np
from PIL import Image


def assert_real_png(path: Path, min_bytes: int = 5_000, min_width: int = 300, min_colours: int = 20) -> tuple:
    """Assert ``path`` is a PNG Pillow can decode fully, at least ``min_bytes``
    long, ``min_width`` pixels wide and with ``min_colours`` distinct colours
    (a blank or one-colour picture fails). Returns its (width, height)."""
    assert path.is_file(), f"{path} was not written"
    assert path.stat().st_size > min_bytes, f"{path}: only {path.stat().st_size} bytes"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        size = image.size
    assert size[0] >= min_width, f"{path}: {size[0]} pixels wide"
    assert len(np.unique(pixels, axis=0)) >= min_colours, f"{path}: nearly blank"
    return size
