"""Pictures of what a network learned (matplotlib, Agg canvas, no pyplot
state, written atomically as PNG or SVG by the path's suffix): a ``Conv2D``
layer's filters, one image's feature maps, and misclassified test images.

The numbers come from :mod:`fmnist_spec.tools.inspect`. Filters and feature
maps are drawn as one mosaic image per picture (tiles separated by blank
gaps), which keeps a 32x64-filter layer quick to draw; each function returns
its matplotlib ``Figure`` (already saved) so tests can read what was drawn.
Colours follow lesson 8-3 of the textbook: filters on a diverging map centred
on 0 (``bwr``, ``vmin=-m, vmax=m``), images in ``gray_r``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..language.facts import CLASS_NAMES
from ..running.plots import _figure, _save

TILE_INCHES = 0.6
"""The side of one filter or feature-map tile."""
FILTER_COLUMNS = 16
FEATURE_MAP_COLUMNS = 8
MISTAKE_COLUMNS = 5
MAX_INPUT_CHANNELS = 8
"""Filters are drawn for at most this many input channels (a note says when more exist)."""
MAX_MISTAKES = 100
"""Most misclassified images one picture draws (``inspect --mistakes --count``): 20 rows of 5."""
MAX_TILES = 1024
"""Most filter or feature-map tiles one picture draws; a note says how many were left out
(a 20,000-channel layer drew 20,000 tiles and failed with MemoryError)."""
MAX_PIXELS = 8_000_000
"""Most pixels of one picture (width x height at the figure's DPI): larger figures are
scaled down to it. Agg's image resampling holds several float copies of the canvas:
1,024 feature maps on an 11.7-megapixel figure peaked at 801 MB; at 8 megapixels a
picture stays well under 1 GB."""


def _bounded_figure(width: float, height: float):
    """:func:`fmnist_spec.running.plots._figure`, scaled down to at most :data:`MAX_PIXELS`."""
    from ..running.plots import DPI

    pixels = width * height * DPI * DPI
    if pixels > MAX_PIXELS:
        factor = math.sqrt(MAX_PIXELS / pixels)
        width, height = width * factor, height * factor
    return _figure(width, height)


def mosaic(tiles: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """Tiles laid out row by row with ``gap`` blank (NaN) pixels between them.

    Args:
        tiles: ``(n, height, width)``; NaN tiles stay blank.
        columns: Tiles per row, >= 1.
        gap: Blank pixels between neighbouring tiles.

    Returns:
        ``(rows * (height + gap) - gap, columns * (width + gap) - gap)``
        float64, ``rows = ceil(n / columns)``; tile ``k`` starts at row
        ``(k // columns) * (height + gap)``, column ``(k % columns) * (width + gap)``.
    """
    n, height, width = tiles.shape
    rows = max(1, math.ceil(n / columns))
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for k, tile in enumerate(tiles):
        top, left = (k // columns) * (height + gap), (k % columns) * (width + gap)
        out[top:top + height, left:left + width] = tile
    return out


def _show_mosaic(figure, ax, grid, cmap: str, vmin: float, vmax: float) -> None:
    """Show ``grid`` on ``ax`` without ticks, with a colour bar; NaN drawn white."""
    import matplotlib

    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    image = ax.imshow(grid, cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02)


def filter_tiles(kernel: np.ndarray, columns: int = FILTER_COLUMNS,
                 max_inputs: int = MAX_INPUT_CHANNELS) -> tuple[np.ndarray, int]:
    """``(tiles (n, kh, kw), columns)`` of a ``(kh, kw, in, out)`` kernel: for each of the first
    ``max_inputs`` input channels, one row block of its ``out`` filters, padded with NaN tiles
    to whole rows."""
    kh, kw, inputs, outputs = kernel.shape
    columns = min(outputs, columns)
    per_block = math.ceil(outputs / columns) * columns
    tiles = np.full((min(inputs, max_inputs) * per_block, kh, kw), np.nan)
    for channel in range(min(inputs, max_inputs)):
        tiles[channel * per_block:channel * per_block + outputs] = np.moveaxis(kernel[:, :, channel, :], -1, 0)
    return tiles, columns


def draw_filters(filters, path: str | Path):
    """Draw a ``Conv2D`` kernel: one tile per (input channel, filter), blue < 0 < red.

    Args:
        filters: A :class:`fmnist_spec.tools.inspect.Filters`.
        path: ``.png`` or ``.svg``.

    Returns:
        ``(figure, notes)``; a note says when input channels were left out.
    """
    kernel = filters.kernel
    kh, kw, inputs, outputs = kernel.shape
    drawn = max(1, min(outputs, MAX_TILES // min(inputs, MAX_INPUT_CHANNELS)))
    kernel = kernel[..., :drawn]
    tiles, columns = filter_tiles(kernel)
    grid = mosaic(tiles, columns)
    rows = len(tiles) // columns
    figure = _bounded_figure(max(5.0, columns * TILE_INCHES * kw / 3 + 1.5),
                             max(2.5, rows * TILE_INCHES * kh / 3 + 1.2))
    m = float(np.abs(kernel).max()) or 1.0
    ax = figure.subplots()
    _show_mosaic(figure, ax, grid, "bwr", -m, m)
    if inputs > 1:
        block = rows // min(inputs, MAX_INPUT_CHANNELS)
        ax.set_yticks([(c * block) * (kh + 1) + kh / 2 for c in range(min(inputs, MAX_INPUT_CHANNELS))],
                      [f"in {c}" for c in range(min(inputs, MAX_INPUT_CHANNELS))], fontsize=7)
    ax.set_title(f"{filters.layer}: {outputs} filters, {kh}x{kw}, {inputs} input channel"
                 f"{'s' if inputs > 1 else ''} (weights; blue < 0 < red, |max| {m:.3g})", fontsize=10)
    figure.tight_layout()
    _save(figure, path)
    notes = []
    if drawn < outputs:
        notes.append(f"drew filters 0..{drawn - 1} of {outputs} (a picture has at most {MAX_TILES:,} tiles)")
    if inputs > MAX_INPUT_CHANNELS:
        notes.append(f"drew the filters of input channels 0..{MAX_INPUT_CHANNELS - 1} of {inputs}")
    return figure, notes


def draw_feature_maps(maps, path: str | Path, class_names=CLASS_NAMES):
    """Draw the input image and its feature maps in one layer, one tile per channel, on one colour scale.

    Args:
        maps: A :class:`fmnist_spec.tools.inspect.FeatureMaps`.
        path: ``.png`` or ``.svg``.
        class_names: Names in label order.

    Returns:
        The figure; at most :data:`MAX_TILES` feature maps are drawn (the title says how many of how many).
    """
    height, width, total = maps.maps.shape
    channels = min(total, MAX_TILES)
    columns = min(channels, FEATURE_MAP_COLUMNS)
    grid = mosaic(np.moveaxis(maps.maps[..., :channels], -1, 0), columns)
    rows = math.ceil(channels / columns)
    tile = TILE_INCHES * 1.4
    figure = _bounded_figure(max(6.0, columns * tile * width / 28 + 4.0), max(3.2, rows * tile * height / 28 + 1.4))
    left, right = figure.subplots(1, 2, width_ratios=[1, max(1.0, columns * width / (28 * 1.5))])
    left.imshow(maps.image, cmap="gray_r", vmin=0, vmax=255)
    left.set_xticks([])
    left.set_yticks([])
    truth = f"true: {class_names[maps.label]}\n" if maps.label is not None else ""
    left.set_title(f"{maps.image_name}\n{truth}predicted: {class_names[maps.predicted]} "
                   f"({maps.probability:.2f})", fontsize=9)
    low, high = float(np.nanmin(grid)), float(np.nanmax(grid))
    _show_mosaic(figure, right, grid, "viridis", low, high if high > low else low + 1)
    drawn = f"{channels:,} feature maps" if channels == total else f"feature maps 0..{channels - 1} of {total:,}"
    right.set_title(f"{maps.layer}: {drawn}, {height}x{width}", fontsize=10)
    figure.tight_layout()
    _save(figure, path)
    return figure


def draw_mistakes(found, path: str | Path, count: int = 25, class_names=CLASS_NAMES):
    """Draw the first ``count`` misclassified test images with true and predicted class.

    Args:
        found: A :class:`fmnist_spec.tools.inspect.Mistakes`.
        path: ``.png`` or ``.svg``.
        count: How many to draw at most, 1 to :data:`MAX_MISTAKES`.
        class_names: Names in label order.

    Returns:
        The figure.
    """
    shown = min(count, len(found.indices), MAX_MISTAKES)
    columns = max(1, min(shown, MISTAKE_COLUMNS))
    rows = max(1, math.ceil(shown / columns))
    figure = _figure(max(5.0, columns * 1.7), rows * 2.0 + 0.8)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for k in range(shown):
        ax = axes[k]
        ax.imshow(found.images[k], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"#{found.indices[k]}  true: {class_names[found.labels[k]]}\n"
                     f"predicted: {class_names[found.predicted[k]]} ({found.probabilities[k]:.2f})",
                     fontsize=8, color="firebrick")
    if shown == 0:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=axes[0].transAxes)
    wrong = len(found.indices)
    figure.suptitle(f"{shown} of {wrong:,} misclassified test images ({wrong / found.total:.2%} "
                    f"of {found.total:,}), in test-set order", fontsize=11)
    figure.tight_layout()
    _save(figure, path)
    return figure
