"""Shape and parameter inference for the spec's layer list, without TensorFlow.

Follows Keras's own rules (``keras.layers.Dense.compute_output_shape`` and
friends): ``Dense(units)`` maps ``(batch, ..., d)`` to ``(batch, ..., units)``
with ``d * units (+ units)`` parameters, ``Flatten`` maps ``(batch, a, b)`` to
``(batch, a * b)``, ``Dropout`` keeps the shape. ``validate --summary`` prints
this table; a test checks it against Keras's ``model.summary()`` figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerShape:
    """One row of the inferred summary.

    Attributes:
        index: Position in ``layers`` (0-based).
        name: The layer's name, or the name Keras gives it in a fresh process
            (``dense``, ``dense_1``, ``flatten``, ...).
        type: Keras class name.
        input_shape: Input shape with None for the batch axis, e.g. ``(None, 784)``.
        output_shape: Output shape, e.g. ``(None, 100)``.
        params: Number of weights (kernel and bias), an int.
    """

    index: int
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    params: int


def _auto_name(kind: str, seen: dict) -> str:
    base = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def infer(layers: list[dict], input_shape) -> list[LayerShape]:
    """Shapes and parameter counts of each layer.

    Args:
        layers: The spec's ``layers`` as plain dicts (schema-valid).
        input_shape: Shape of one sample without the batch axis, e.g. ``(784,)``.

    Returns:
        One :class:`LayerShape` per layer, in order.
    """
    shape = (None,) + tuple(input_shape)
    seen: dict = {}
    rows = []
    for index, layer in enumerate(layers):
        kind = layer.get("type", "Dense")
        auto = _auto_name(kind, seen)
        name = layer.get("name") or auto
        if kind == "Dense":
            units = layer["units"]
            out = shape[:-1] + (units,)
            params = shape[-1] * units + (units if layer.get("use_bias", True) else 0)
        elif kind == "Flatten":
            out = (None, math.prod(shape[1:]))
            params = 0
        else:  # Dropout
            out, params = shape, 0
        rows.append(LayerShape(index, name, kind, shape, out, params))
        shape = out
    return rows


def format_shape(shape: tuple) -> str:
    """``(None, 28, 10)`` as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def summary_table(rows: list[LayerShape], model_name: str) -> str:
    """A text table in the layout of Keras's ``model.summary()``."""
    lines = [f'Model: "{model_name}"', f"{'Layer (type)':<32}{'Output Shape':<24}{'Param #':>12}"]
    for row in rows:
        lines.append(f"{row.name + ' (' + row.type + ')':<32}{format_shape(row.output_shape):<24}{row.params:>12,}")
    lines.append(f"Total params: {sum(r.params for r in rows):,}")
    return "\n".join(lines)
