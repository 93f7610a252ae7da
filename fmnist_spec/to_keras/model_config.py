"""What a saved model's ``config.json`` declares, counted before Keras builds anything.

A ``.keras`` file's ``config.json`` says what Keras will allocate when it
loads the model: ``Dense(500000)`` after 784 inputs is 392 million float32
weights (1.5 GB, and as much again for each optimizer slot) whatever the file's
size. :func:`declared_model` reads the layer list as the spec language's
layer mappings and runs the spec's own shape inference
(:func:`fmnist_spec.language.shapes.infer`) on it, so a foreign model is held
to the same limits as a spec (``MAX_PARAMS`` parameters, the activation
estimate of :mod:`fmnist_spec.language.memory`) before TensorFlow is imported.
It also gives the shape of every variable each layer will hold, against which
the weights file's datasets are checked
(:mod:`fmnist_spec.to_keras.weights_file`).

Only layers whose weights and output shape follow from their config are
counted: the classes of :data:`COUNTED` and the weightless classes of
:data:`SHAPE_KEEPING`. A model with any other layer (``LSTM``, ``Embedding``,
a nested model, ...) cannot be bounded and is refused. Each layer's
``build_config.input_shape`` (Keras builds the layer with it before its
weights are loaded) must equal the shape the layers before it give.

No TensorFlow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..language import memory
from ..language.shapes import LayerShape, ShapeChainError, format_shape, infer, pair

COUNTED = ("Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization", "Flatten", "Reshape")
"""Layer classes whose weights and output shape are computed from their config."""
SHAPE_KEEPING = ("Dropout", "Activation", "Softmax", "ReLU", "LeakyReLU", "ELU", "Rescaling", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout", "SpatialDropout2D", "Identity")
"""Weightless layer classes whose output has their input's shape."""
CONTAINERS = ("Sequential", "Functional", "Model")
"""Model classes whose ``config.layers`` is read as one chain of layers."""


class UncountedModel(ValueError):
    """The config cannot be counted or breaks a limit; the message says which layer and why."""


@dataclass(frozen=True)
class DeclaredModel:
    """What a model's config declares.

    Attributes:
        input_shape: One sample's shape, e.g. ``(28, 28, 1)``.
        rows: One :class:`fmnist_spec.language.shapes.LayerShape` per layer
            (after the ``InputLayer``), named as in the config.
        variables: Layer name -> the shape of each variable it holds, in the
            order Keras saves them (trainable first: ``kernel``, ``bias``;
            ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``).
    """

    input_shape: tuple
    rows: list
    variables: dict

    @property
    def parameters(self) -> int:
        """Values in all variables."""
        return sum(math.prod(shape) for shapes in self.variables.values() for shape in shapes)

    @property
    def inference_bytes(self) -> int:
        """Activation bytes one sample takes when the model predicts
        (:func:`fmnist_spec.language.memory.per_sample_inference`)."""
        return memory.per_sample_inference(self.rows, math.prod(self.input_shape))


def declared_model(config: dict) -> DeclaredModel:
    """Count a ``model.get_config()``-style ``config.json`` (``{class_name, config: {layers}}``).

    A dilated ``Conv2D`` is counted on the pixels its kernel spans, ``(k - 1) * d + 1``, and a
    grouped one with ``channels / groups`` input channels per filter.
    A ``Sequential`` model's layers are a chain from its ``InputLayer``; a
    functional model's layers are each counted on their own
    ``build_config.input_shape``, the shape Keras builds them with, and so are
    the layers after a ``Lambda`` (weightless; its output shape is not in the
    config; Keras's ``safe_mode``, always on here, refuses one holding code).

    Raises:
        UncountedModel: no ``InputLayer`` with a batch shape; a layer class
            outside :data:`COUNTED` and :data:`SHAPE_KEEPING`, or options that
            change its weights (``groups``, ``dilation_rate``,
            ``channels_first``); a layer that cannot take the shape it is given;
            a ``build_config`` that disagrees with the shape before it.
    """
    if not isinstance(config, dict) or config.get("class_name") not in CONTAINERS:
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise UncountedModel(f"the model is a {kind!r}; fmnist-spec counts {', '.join(CONTAINERS)} models")
    entries = (config.get("config") or {}).get("layers")
    if not isinstance(entries, list) or not entries:
        raise UncountedModel("config.json lists no layers")
    chain = config["class_name"] == "Sequential"
    input_shape = _input_shape(entries[0])
    rows, variables = [], {}
    shape = (None,) + input_shape
    for index, entry in enumerate(entries[1:], start=1):
        if not chain and isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            continue
        if isinstance(entry, dict) and entry.get("class_name") == "Lambda":
            chain = False  # its output shape is unknown: the layers after it are counted by build_config
            continue
        layer, name = _layer(index, entry)
        declared = (entry.get("build_config") or {}).get("input_shape")
        if not chain:
            if not (isinstance(declared, list) and len(declared) >= 2 and _positive_ints(declared[1:])):
                raise UncountedModel(f"layer {name!r}: no build_config.input_shape to count it by")
            shape = (None,) + tuple(declared[1:])
        try:
            [row] = infer([layer], shape[1:])
        except ShapeChainError as exc:
            raise UncountedModel(f"layer {name!r}: {exc.message}") from None
        row = LayerShape(index, name, row.type, row.input_shape, row.output_shape, row.params)
        if chain:
            _check_build(row, declared)
        rows.append(row)
        variables[name] = variable_shapes(layer, row)
        shape = row.output_shape
    return DeclaredModel(input_shape, rows, variables)


def _input_shape(entry) -> tuple:
    inner = entry.get("config") if isinstance(entry, dict) else None
    shape = (inner or {}).get("batch_shape") or (inner or {}).get("batch_input_shape")
    if not (isinstance(entry, dict) and entry.get("class_name") == "InputLayer" and isinstance(shape, list)
            and len(shape) >= 2 and _positive_ints(shape[1:])):
        raise UncountedModel("the first layer of config.json is not an InputLayer with a batch_shape such as "
                             "[null, 28, 28, 1]; fmnist-spec loads models whose input shape is declared")
    return tuple(shape[1:])


def _positive_ints(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                            for v in values)


def _window(value) -> bool:
    return _positive_ints(value if isinstance(value, list) else [value])


def _layer(index: int, entry) -> tuple[dict, str]:
    """(the spec language's mapping of a serialized layer, its name)."""
    kind = entry.get("class_name") if isinstance(entry, dict) else None
    inner = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(inner, dict):
        raise UncountedModel(f"layer {index} of config.json has no config mapping")
    name = str(inner.get("name", f"layer {index}"))
    where = f"layer {name!r} ({kind})"
    if kind in SHAPE_KEEPING:
        return {"type": "Dropout"}, name
    if kind not in COUNTED:
        raise UncountedModel(f"{where}: fmnist-spec cannot bound the memory of a {kind} layer from its config; "
                             f"it counts {', '.join(COUNTED + SHAPE_KEEPING)}")
    if inner.get("data_format", "channels_last") != "channels_last":
        raise UncountedModel(f"{where}: data_format {inner.get('data_format')!r}; fmnist-spec counts channels_last")
    layer = {"type": kind}
    if kind == "Dense":
        layer.update(units=inner.get("units"), use_bias=inner.get("use_bias", True))
        valid = _positive_ints([layer["units"]])
    elif kind == "Conv2D":
        layer.update({k: inner.get(k) for k in ("filters", "kernel_size", "strides", "padding")},
                     use_bias=inner.get("use_bias", True))
        dilation, groups = inner.get("dilation_rate", 1), inner.get("groups", 1)
        valid = _positive_ints([layer["filters"], groups]) and _window(layer["kernel_size"]) \
            and _window(dilation) and _window(layer["strides"]) and layer["padding"] in ("valid", "same")
        if valid:  # a dilated kernel spans (k - 1) * d + 1 pixels; the weights stay k x k
            kernel, rate = pair(layer["kernel_size"]), pair(dilation)
            layer.update(kernel=kernel, groups=groups,
                         kernel_size=[(k - 1) * d + 1 for k, d in zip(kernel, rate)])
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        layer.update({k: inner.get(k) for k in ("pool_size", "strides", "padding")})
        valid = _window(layer["pool_size"]) and (layer["strides"] is None or _window(layer["strides"])) \
            and layer["padding"] in ("valid", "same")
    elif kind == "BatchNormalization":
        layer.update(center=inner.get("center", True), scale=inner.get("scale", True), axis=inner.get("axis", -1))
        valid = layer["axis"] in (-1, [-1])
    elif kind == "Reshape":
        layer["target_shape"] = inner.get("target_shape")
        valid = isinstance(layer["target_shape"], list) and all(
            isinstance(d, int) and (d > 0 or d == -1) for d in layer["target_shape"])
    else:  # Flatten
        valid = True
    if not valid:
        raise UncountedModel(f"{where}: its config ({', '.join(f'{k}={v!r}' for k, v in layer.items() if k != 'type')}"
                             f", groups, dilation_rate) is not one fmnist-spec can count")
    return layer, name


def _check_build(row: LayerShape, declared) -> None:
    if declared is None:
        return
    if not isinstance(declared, list) or tuple(declared) != row.input_shape:
        raise UncountedModel(f"layer {row.name!r}: its build_config declares the input shape {declared!r}, "
                             f"but the layers before it give {format_shape(row.input_shape)}")


def variable_shapes(layer: dict, row: LayerShape) -> list[tuple]:
    """The shapes of the variables a layer holds, in Keras's saving order.

    Args:
        layer: A spec layer mapping (``{type: Dense, units: 10}``).
        row: Its inferred :class:`fmnist_spec.language.shapes.LayerShape`.
    """
    kind, last = layer["type"], row.input_shape[-1]
    bias = layer.get("use_bias", True)
    if kind == "Dense":
        units = layer["units"]
        return [(last, units)] + ([(units,)] if bias else [])
    if kind == "Conv2D":
        kh, kw = layer.get("kernel") or pair(layer["kernel_size"])
        filters = layer["filters"]
        return [(kh, kw, last // layer.get("groups", 1), filters)] + ([(filters,)] if bias else [])
    if kind == "BatchNormalization":
        return [(last,)] * (bool(layer["scale"]) + bool(layer["center"]) + 2)
    return []
