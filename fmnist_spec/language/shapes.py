"""Shape and parameter inference for the spec's layer list, without TensorFlow.

Follows Keras's own rules (``compute_output_shape`` of each layer class in
Keras 3, channels-last):

- ``Dense(units)`` maps ``(batch, ..., d)`` to ``(batch, ..., units)`` with
  ``d * units (+ units)`` parameters;
- ``Flatten`` maps ``(batch, a, b, ...)`` to ``(batch, a * b * ...)``;
- ``Dropout`` keeps the shape;
- ``Conv2D(filters, kernel_size, strides, padding)`` maps ``(batch, h, w, c)``
  to ``(batch, h', w', filters)`` with ``kh * kw * c * filters (+ filters)``
  parameters, where ``h' = floor((h - kh) / sh) + 1`` for ``padding: valid``
  and ``ceil(h / sh)`` for ``same`` (``keras.src.ops.operation_utils.compute_conv_output_shape``);
- ``MaxPooling2D`` / ``AveragePooling2D(pool_size, strides=pool_size, padding)``
  map ``(batch, h, w, c)`` to ``(batch, h', w', c)`` by the same rule
  (``compute_pooling_output_shape``), no parameters;
- ``BatchNormalization(center, scale)`` keeps the shape, ``(2 + center + scale) * c``
  parameters: beta (``center``) and gamma (``scale``) are trainable, the moving
  mean and variance (``2 * c``) are not (``BatchNormalization.build``);
- ``Reshape(target_shape)`` maps ``(batch, ...)`` to ``(batch, *target_shape)``,
  one ``-1`` standing for what is left.

An ``Input`` element (``{type: Input, shape: [...]}``) first in the list gives
the input shape and, as in Keras's ``Sequential.summary()``, is not a row.
Layer names are Keras's (:func:`fmnist_spec.language.names.layer_names`).
``validate --summary`` prints this table; ``tests/test_shapes.py`` checks it
against Keras for every shipped spec and ``tests/test_differential.py`` for
hundreds of random stacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .names import layer_names


@dataclass(frozen=True)
class LayerShape:
    """One row of the inferred summary.

    Attributes:
        index: Position in ``layers`` (0-based; an ``Input`` element counts).
        name: The layer's name, or the name Keras gives it in a fresh process
            (``dense``, ``dense_1``, ``conv2d``, ``max_pooling2d``, ...).
        type: Keras class name.
        input_shape: Input shape with None for the batch axis, e.g. ``(None, 784)``.
        output_shape: Output shape, e.g. ``(None, 100)``.
        params: Number of weights (kernel, bias, normalisation statistics), an int.
        non_trainable: How many of ``params`` training does not change (a
            ``BatchNormalization``'s moving mean and variance), an int.
    """

    index: int
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    params: int
    non_trainable: int = 0

    @property
    def trainable(self) -> int:
        """How many of ``params`` training changes (Keras's ``trainable_weights``)."""
        return self.params - self.non_trainable


class ShapeChainError(ValueError):
    """The layer list cannot be built: a layer does not accept what the one before gives.

    Attributes:
        index: Position of the layer in ``layers``.
        key: The layer's key the problem is best shown at (``"kernel_size"``,
            ``"type"``, ...), or None for the layer itself.
        message: What is wrong, with the shapes involved.
        hint: How to fix it.
    """

    def __init__(self, index: int, key: str | None, message: str, hint: str):
        super().__init__(message)
        self.index, self.key, self.message, self.hint = index, key, message, hint


def pair(value) -> tuple[int, int]:
    """Keras's ``standardize_tuple``: ``3`` -> ``(3, 3)``, ``[3, 2]`` -> ``(3, 2)``."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _sliding(size: int, window: int, stride: int, padding: str) -> int:
    """Output length of a convolution or pooling window along one axis."""
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - window) // stride + 1


def _spatial(index: int, kind: str, shape: tuple, window: tuple, window_key: str, strides: tuple,
             padding: str) -> tuple[int, int]:
    """(h', w') of a 2-D window layer on ``shape`` = (None, h, w, c); ShapeChainError when empty."""
    h, w = shape[1], shape[2]
    if padding == "valid" and (window[0] > h or window[1] > w):
        raise ShapeChainError(
            index, window_key,
            f"{kind}'s {window_key} {list(window)} is larger than its input feature map "
            f"{h}x{w} (input shape {format_shape(shape)})",
            f"use a smaller {window_key}, padding: same, or fewer pooling layers before this one")
    out = (_sliding(h, window[0], strides[0], padding), _sliding(w, window[1], strides[1], padding))
    if min(out) <= 0:  # pragma: no cover - valid padding with window <= size never gives 0
        raise ShapeChainError(index, window_key, f"{kind} would give a feature map of size {out}",
                              "use a smaller window or stride")
    return out


def _needs_channels(index: int, kind: str, shape: tuple) -> None:
    if len(shape) == 4:
        return
    if len(shape) == 3:
        hint = ("give the samples a channel axis: input_shape: [28, 28, 1] on the first layer "
                "(or an Input with shape: [28, 28, 1]); the images are then given as (n, 28, 28, 1)")
    else:
        hint = "2-D layers need images (height, width, channels): start with input_shape: [28, 28, 1]"
    raise ShapeChainError(index, "type",
                          f"{kind} takes samples of shape (height, width, channels), i.e. input of rank 4, "
                          f"but receives {format_shape(shape)}", hint)


def _reshape(index: int, shape: tuple, target: list) -> tuple:
    size = math.prod(shape[1:])
    unknown = [i for i, d in enumerate(target) if d == -1]
    known = math.prod(d for d in target if d != -1)
    if len(unknown) > 1:
        raise ShapeChainError(index, "target_shape", f"target_shape {list(target)} has more than one -1",
                              "at most one axis can be -1 (what is left)")
    if unknown:
        if known == 0 or size % known:
            raise ShapeChainError(index, "target_shape",
                                  f"target_shape {list(target)} cannot hold the {size:,} values of "
                                  f"{format_shape(shape)}", f"the known axes must divide {size:,}")
        target = [size // known if d == -1 else d for d in target]
    elif known != size:
        raise ShapeChainError(index, "target_shape",
                              f"target_shape {list(target)} holds {known:,} values, but its input "
                              f"{format_shape(shape)} has {size:,}",
                              f"the product of target_shape must be {size:,}, e.g. {_example_target(shape)}")
    return (None,) + tuple(target)


def _example_target(shape: tuple) -> list:
    size = math.prod(shape[1:])
    return [28, 28, 1] if size == 784 else [size]


def input_shape_of(layers: list[dict]) -> tuple | None:
    """The sample shape the layer list declares: an ``Input``'s ``shape`` or the first layer's
    ``input_shape``, as a tuple; None when neither is given."""
    first = layers[0]
    if first.get("type") == "Input":
        return tuple(first["shape"])
    given = first.get("input_shape")
    return tuple(given) if given is not None else None


def infer(layers: list[dict], input_shape) -> list[LayerShape]:
    """Shapes and parameter counts of each layer.

    Args:
        layers: The spec's ``layers`` as plain dicts (schema-valid); a leading
            ``Input`` element is skipped (it is no row of Keras's summary).
        input_shape: Shape of one sample without the batch axis, e.g. ``(784,)``
            or ``(28, 28, 1)``.

    Returns:
        One :class:`LayerShape` per layer, in order.

    Raises:
        ShapeChainError: a layer cannot take what the layer before gives (a
            kernel or pool larger than the feature map, a 2-D layer on samples
            without a channel axis, a target shape of the wrong size).
    """
    shape = (None,) + tuple(input_shape)
    rows = []
    for index, (layer, name) in enumerate(zip(layers, layer_names(layers))):
        kind = layer.get("type", "Dense")
        if kind == "Input":
            continue
        out, params = _layer(index, kind, layer, shape)
        non_trainable = 2 * shape[-1] if kind == "BatchNormalization" else 0
        rows.append(LayerShape(index, name, kind, shape, out, params, non_trainable))
        shape = out
    return rows


def _layer(index: int, kind: str, layer: dict, shape: tuple) -> tuple[tuple, int]:
    """(output shape, parameters) of one layer on input ``shape``."""
    if kind == "Dense":
        units = layer["units"]
        return shape[:-1] + (units,), shape[-1] * units + (units if layer.get("use_bias", True) else 0)
    if kind == "Flatten":
        return (None, math.prod(shape[1:])), 0
    if kind == "Conv2D":
        _needs_channels(index, kind, shape)
        kernel = pair(layer["kernel_size"])
        strides = pair(layer.get("strides", 1))
        h, w = _spatial(index, kind, shape, kernel, "kernel_size", strides, layer.get("padding", "valid"))
        filters = layer["filters"]
        params = kernel[0] * kernel[1] * shape[3] * filters + (filters if layer.get("use_bias", True) else 0)
        return (None, h, w, filters), params
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        _needs_channels(index, kind, shape)
        pool = pair(layer.get("pool_size", 2))
        strides = pair(layer["strides"]) if layer.get("strides") is not None else pool
        h, w = _spatial(index, kind, shape, pool, "pool_size", strides, layer.get("padding", "valid"))
        return (None, h, w, shape[3]), 0
    if kind == "BatchNormalization":  # beta if center, gamma if scale, moving mean and variance
        return shape, (2 + layer.get("center", True) + layer.get("scale", True)) * shape[-1]
    if kind == "Reshape":
        return _reshape(index, shape, list(layer["target_shape"])), 0
    return shape, 0  # Dropout


def format_shape(shape: tuple) -> str:
    """``(None, 28, 10)`` as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def memory_size(params: int) -> str:
    """Bytes of ``params`` float32 weights as Keras's summary writes them (``39.85 KB``;
    ``keras.src.utils.summary_utils.readable_memory_size``, 1 KB = 1,024 bytes)."""
    size = params * 4.0
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def summary_table(rows: list[LayerShape], model_name: str) -> str:
    """A text table in the layout of Keras's ``model.summary()``.

    The columns are as wide as their longest cell plus two spaces, so a long
    ``name (type)`` never runs into the shape column; the totals are Keras's
    three lines (total, trainable, non-trainable, each with its float32 size).
    """
    cells = [(f"{row.name} ({row.type})", format_shape(row.output_shape), f"{row.params:,}") for row in rows]
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(c[i]) for c in cells + [header]) for i in range(3)]
    lines = [f'Model: "{model_name}"']
    for first, shape, params in [header] + cells:
        lines.append(f"{first:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}".rstrip())
    total = sum(r.params for r in rows)
    non_trainable = sum(r.non_trainable for r in rows)
    lines += [f"Total params: {total:,} ({memory_size(total)})",
              f"Trainable params: {total - non_trainable:,} ({memory_size(total - non_trainable)})",
              f"Non-trainable params: {non_trainable:,} ({memory_size(non_trainable)})"]
    return "\n".join(lines)
