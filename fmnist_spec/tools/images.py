"""Read one 28x28 grayscale image for ``predict``, within bounded memory.

Pillow's ``Image.open`` reads only the header; pixels are decoded by
``load()``. The size and mode are checked between the two, so a 13000x13000
PNG of 656 KB is refused without decoding its 676 MB of pixels. Pillow's own
decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``, about 89 million
pixels: a warning above it, ``DecompressionBombError`` above twice it) runs
inside ``open``; both become the same clear error here, and no raw warning is
printed. Source: Pillow's reference, "Image.open" and "MAX_IMAGE_PIXELS".
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..input_files import file_size, not_a_regular_file
from ..language import facts

MAX_IMAGE_BYTES = 1024 * 1024
"""Largest image file accepted, in bytes (a 28x28 PNG is under 1 KB; an
uncompressed 28x28 RGBA TIFF about 3.5 KB)."""


class ImageError(ValueError):
    """An image cannot be used; the message starts with its path and says
    what was received, what is expected and how to fix it."""


def read_image(path: str | Path) -> np.ndarray:
    """Read one 28x28 grayscale image (PNG, or any format Pillow reads) as ``(28, 28)`` uint8.

    Raises:
        ImageError: not a regular file, larger than :data:`MAX_IMAGE_BYTES`,
            unreadable, another size, not 8-bit grayscale (Pillow mode ``L``),
            or more than one frame (an animation).
    """
    from PIL import Image, UnidentifiedImageError

    problem = not_a_regular_file(path)
    if problem:
        raise ImageError(f"{path}: {problem}; expected a 28x28 grayscale image file")
    if file_size(path) > MAX_IMAGE_BYTES:
        raise ImageError(f"{path}: the file has {file_size(path):,} bytes, more than the limit of "
                         f"{MAX_IMAGE_BYTES:,} for a 28x28 image")
    height, width = facts.IMAGE_SHAPE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size, mode, frames = image.size, image.mode, getattr(image, "n_frames", 1)
                if size == (width, height) and mode == "L" and frames == 1:
                    image.load()
                    return np.asarray(image).astype(np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: refused before decoding: {str(exc).rstrip('.')}; expected a "
                         f"{width}x{height} image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:  # Pillow's decoders vary
        raise ImageError(f"{path}: cannot read it as an image ({exc})") from None
    if frames != 1:
        raise ImageError(f"{path}: an image of {frames} frames (an animation); expected one "
                         f"{width}x{height} grayscale picture\n"
                         f"  hint: save the frame you mean as a PNG first")
    raise ImageError(
        f"{path}: {size[0]}x{size[1]} image in mode {mode}; expected {width}x{height} 8-bit grayscale "
        f"(Pillow mode L), like Fashion-MNIST: a light garment on a black background\n"
        f"  hint: convert it first, e.g. Image.open(p).convert('L').resize(({width}, {height})).save(q)")
