"""Saved ``keras.Sequential`` (``.keras`` file) -> spec data. Imports Keras.

The reverse of :mod:`fmnist_spec.to_keras.builder`. Each layer's spec arguments are
read from its ``get_config()``; then the layer the spec would build is made
and its config compared with the saved one key by key, so any setting the
spec language cannot express (a ``kernel_regularizer``, a seeded initializer,
a ``noise_shape``, a ``dtype`` other than the model's policy, ...) is reported by name
instead of being silently dropped. The same is done for the optimizer and the loss.

The layers' dtype policy becomes the spec's ``dtype_policy``: a mixed one (every layer
but the last under ``mixed_bfloat16``, the last float32, as ``build_model`` makes it)
is written out, and so is ``float32`` for a model with a Conv2D layer, whose ``auto``
could resolve otherwise on another machine.

What a ``.keras`` file keeps: the layers with their configs, the model's
name, and, when the model was compiled before saving, the ``compile``
settings (optimizer with its arguments, loss, metrics). It does not keep the
``fit`` or data settings, so those are left to their defaults, except
``data.flatten``, which follows from the input shape (``(784,)`` needs it).
Keras's runtime flags (``run_eagerly``, ``jit_compile``,
``steps_per_execution``) are not part of the spec and are ignored.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import keras
import numpy as np

from ..language import facts
from ..errors import Problem, SpecError
from ..language import registry
from ..to_keras.layers import LAYERS, LOSSES, OPTIMIZERS, SCHEDULES
from ..language.spec import CONVOLUTIONS
from ..language.names import layer_names
from ..to_keras.precision import last_layer_dtype, model_dtype_policy
from ..language.schema import default, schema


def _snake_case(class_name: str) -> str:
    """The name Keras gives an unnamed layer of a class (``MaxPooling2D`` -> ``max_pooling2d``),
    as ``keras.src.utils.naming.to_snake_case`` makes it."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_SAVED_LAYERS = {kind: cls for kind, cls in LAYERS.items() if kind != "Input"}
"""Layer classes a saved Sequential can hold (an ``Input`` is its input, not one of its layers)."""

_AUTO_LAYER_NAME = re.compile(r"^(" + "|".join(_snake_case(kind) for kind in _SAVED_LAYERS) + r")(_\d+)?$")
"""Names Keras gives layers of the registry's classes (``dense``, ``dense_1``, ``conv2d``, ...)."""
_AUTO_MODEL_NAME = re.compile(r"^sequential(_\d+)?$")
_IGNORED_LAYER_KEYS = {"name"}
_IGNORED_OPTIMIZER_KEYS = {"name"}


class _Unsupported(Exception):
    """One thing the spec language cannot express: (path, message, hint)."""

    def __init__(self, path: str, message: str, hint: str = ""):
        super().__init__(message)
        self.path, self.message, self.hint = path, message, hint


def _f32(value):
    """Keras keeps hyperparameters as float32: 0.10000000149011612 -> 0.1 (shortest repr)."""
    if isinstance(value, float):
        return float(str(np.float32(value)))
    return value


def _normalise(value):
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return _f32(value)


def _differences(saved: dict, reference: dict, ignored: set) -> list[str]:
    """Keys whose values differ between two configs, as ``key=value`` of the saved one."""
    saved, reference = _normalise(saved), _normalise(reference)
    out = []
    for key in sorted(set(saved) | set(reference)):
        if key in ignored or saved.get(key) == reference.get(key):
            continue
        out.append(f"{key}={_short(saved.get(key))}")
    return out


def _short(value) -> str:
    if isinstance(value, dict) and "class_name" in value:
        config = value.get("config") or {}
        inner = ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None)
        return f"{value['class_name']}({inner})"
    return repr(value)


def _initializer_name(config, where: str) -> str:
    """The spec's name (``he_normal``) of a serialized Keras initializer with default arguments."""
    names = registry.INITIALIZERS
    for name in names:
        reference = keras.initializers.serialize(keras.initializers.get(name))
        if _normalise(reference) == _normalise(config):
            return name
    raise _Unsupported(where, f"kernel_initializer={_short(config)} is not expressible in a spec",
                       "specs take an initializer by name with Keras's default arguments: "
                       + ", ".join(names))


def _activation(config: dict, where: str) -> str:
    activation = config.get("activation")
    allowed = registry.ACTIVATIONS
    if not isinstance(activation, str) or activation not in allowed:
        raise _Unsupported(where, f"activation={_short(activation)} is not a Keras activation "
                           "the spec language knows", "use one of: " + ", ".join(allowed))
    return activation


def _window(value):
    """A saved ``kernel_size``/``pool_size``/``strides`` pair: ``[3, 3]`` -> ``3``, ``[3, 2]`` stays."""
    if isinstance(value, (list, tuple)):
        value = [int(v) for v in value]
        return value[0] if len(set(value)) == 1 else value
    return value


_WINDOWS = ("kernel_size", "pool_size", "strides")


def _layer_arguments(kind: str, config: dict, where: str) -> dict:
    """The spec arguments of a saved layer (before the reference check): the arguments the
    spec's definition of ``kind`` has, where the saved value differs from its default."""
    props = schema()["$defs"][kind]["properties"]
    arguments = {}
    for key in registry.layer(kind).arguments:
        prop = props[key]
        if key not in config:
            continue
        if key == "activation":
            value = _activation(config, where)
            value = None if value == "linear" else value
        elif key == "kernel_initializer":
            value = _initializer_name(config.get(key), where)
        elif key in _WINDOWS:
            value = _window(config[key])
        elif key == "target_shape":
            value = [int(v) for v in config[key]]
        else:
            value = _f32(config[key])
        if kind.endswith("Pooling2D") and key == "strides" and value == arguments.get("pool_size", 2):
            continue  # Keras stores strides=pool_size for strides=None
        if key in schema()["$defs"][kind]["required"] or "default" not in prop or value != prop["default"]:
            arguments[key] = value
    return arguments


def _give_back_names(layers: list[dict], saved: list) -> None:
    """Write the saved name back into a layer (in place) whose automatic-looking name (``dense_1``)
    was left out when the spec would give that name to another layer, or this layer another
    layer's saved name: a given ``dense_1`` before an automatic ``dense`` would come back swapped.
    A session's ``dense_3``, ``dense_4`` stay left out (they become ``dense``, ``dense_1``). Naming
    one layer changes the automatic names of the others of its class, so this repeats until no
    name lands on another layer."""
    while True:
        names = layer_names(layers)
        wrong = [i for i, name in enumerate(names) if saved[i] and name != saved[i]
                 and (name in saved or saved[i] in names)]
        if not wrong:
            return
        for i in wrong:
            kind = {"type": layers[i]["type"]} if "type" in layers[i] else {}
            layers[i] = {**kind, "name": saved[i], **layers[i]}

def layer_entry(entry: dict, index: int, dtype: str = "float32") -> dict:
    """The spec mapping of one serialized layer (an item of ``model.get_config()['layers']``).

    Args:
        entry: The serialized layer.
        index: Its position among the spec's layers.
        dtype: The dtype policy name the spec would build it with.

    Raises:
        _Unsupported: the class is not Dense, Flatten or Dropout, or an
            argument differs from what the spec would build.
    """
    kind = entry.get("class_name")
    config = entry.get("config", {})
    name = config.get("name")
    where = f"layers[{index}]"
    label = f"{kind} {name!r}" if name else str(kind)
    if kind not in _SAVED_LAYERS:
        raise _Unsupported(where, f"layer {name!r} is a {kind}, which the spec language cannot express",
                           "specs have the layer types " + ", ".join(_SAVED_LAYERS))
    arguments = _layer_arguments(kind, config, f"{where} ({label})")
    reference = _SAVED_LAYERS[kind](**arguments, dtype=dtype).get_config()
    differences = _differences(config, reference, _IGNORED_LAYER_KEYS)
    if differences:
        raise _Unsupported(where, f"{label} has {', '.join(differences)}, which the spec language cannot "
                           "express", f"a spec's {kind} takes only: "
                           + ", ".join(registry.LAYER_KEYS[1:] + registry.LAYERS[kind].arguments))
    out = {"type": kind} if kind != "Dense" else {}
    if name and not _AUTO_LAYER_NAME.match(name):
        out["name"] = name
    out.update(arguments)
    return out


def _optimizer(serialized: dict):
    """``'adam'`` (Keras's defaults) or ``{type: SGD, learning_rate: 0.1, ...}`` (only the changed arguments)."""
    kind = serialized.get("class_name")
    config = serialized.get("config", {})
    if kind not in OPTIMIZERS:
        raise _Unsupported("compile.optimizer", f"the optimizer is {kind}, which the spec language cannot express",
                           "specs have the optimizers " + ", ".join(OPTIMIZERS))
    arguments = {}
    for key in registry.OPTIMIZERS[registry.OPTIMIZER_NAMES[kind]].arguments:
        if key in config and _f32(config[key]) != _f32(default("$defs", kind, key)):
            arguments[key] = _f32(config[key])
    if isinstance(arguments.get("learning_rate"), dict):
        arguments["learning_rate"] = _schedule(arguments["learning_rate"])
        reference = OPTIMIZERS[kind](**{**arguments, "learning_rate": _keras_schedule(
            arguments["learning_rate"])}).get_config()
    else:
        reference = OPTIMIZERS[kind](**arguments).get_config()
    differences = _differences(config, reference, _IGNORED_OPTIMIZER_KEYS)
    if differences:
        raise _Unsupported("compile.optimizer", f"{kind} has {', '.join(differences)}, which the spec "
                           "language cannot express",
                           f"a spec's {kind} takes only: "
                           + ", ".join(registry.OPTIMIZERS[registry.OPTIMIZER_NAMES[kind]].arguments))
    if not arguments:
        return registry.OPTIMIZER_NAMES[kind]
    return {"type": kind, **arguments}


def _schedule(serialized: dict) -> dict:
    """``{type: ExponentialDecay, ...}`` (arguments other than Keras's defaults) of a saved schedule."""
    kind = serialized.get("class_name")
    config = dict(serialized.get("config") or {})
    if kind not in SCHEDULES:
        raise _Unsupported("compile.optimizer.learning_rate", f"the learning rate is a {kind} schedule, which "
                           "the spec language cannot express", "specs have the schedules " + ", ".join(SCHEDULES))
    props = schema()["$defs"][kind]["properties"]
    arguments = registry.SCHEDULES[kind].arguments
    out = {"type": kind}
    for key in arguments:
        prop = props[key]
        if key in config and ("default" not in prop or _normalise(config[key]) != prop["default"]):
            out[key] = _normalise(config[key])
    differences = _differences(config, _keras_schedule(out).get_config(), {"name"})
    if differences:
        raise _Unsupported("compile.optimizer.learning_rate", f"{kind} has {', '.join(differences)}, which the "
                           "spec language cannot express",
                           f"a spec's {kind} takes only: " + ", ".join(arguments))
    return out


def _keras_schedule(schedule: dict):
    return SCHEDULES[schedule["type"]](**{k: v for k, v in schedule.items() if k != "type"})


def _loss(loss):
    if isinstance(loss, str) and loss in LOSSES:
        return loss
    if isinstance(loss, dict) and loss.get("class_name") in registry.LOSS_NAMES:
        kind = loss["class_name"]
        from_logits = bool(loss.get("config", {}).get("from_logits", False))
        reference = LOSSES[registry.LOSS_NAMES[kind]](from_logits=from_logits).get_config()
        differences = _differences(loss.get("config", {}), reference, {"name"})
        if differences:
            raise _Unsupported("compile.loss", f"{kind} has {', '.join(differences)}, which the spec "
                               "language cannot express", "a spec's loss takes only from_logits")
        return {"type": kind, "from_logits": True} if from_logits else registry.LOSS_NAMES[kind]
    raise _Unsupported("compile.loss", f"the loss {_short(loss)} is not one the spec language knows",
                       "specs have the losses " + ", ".join(LOSSES))


def compile_entry(compile_config: dict | None) -> tuple[dict, bool]:
    """(the spec's ``compile`` mapping, whether the file kept compile settings)."""
    if not compile_config:
        return {"loss": "sparse_categorical_crossentropy"}, False
    out = {}
    if compile_config.get("optimizer") is not None:
        out["optimizer"] = _optimizer(compile_config["optimizer"])
    out["loss"] = _loss(compile_config.get("loss"))
    metrics = compile_config.get("metrics") or []
    allowed = list(registry.METRICS)
    if not isinstance(metrics, list) or any(m not in allowed for m in metrics):
        raise _Unsupported("compile.metrics", f"metrics={_short(metrics)} are not all ones the spec "
                           "language knows", "specs have the metrics " + ", ".join(allowed))
    if metrics:
        out["metrics"] = list(metrics)
    for key in ("loss_weights", "weighted_metrics"):
        if compile_config.get(key) is not None:
            raise _Unsupported(f"compile.{key}", f"{key}={_short(compile_config[key])} is not expressible "
                               "in a spec", f"compile the model without {key}")
    return out, True


def model_to_spec(model, compile_config: dict | None = None) -> tuple[dict, list[str]]:
    """Spec data (plain dict, YAML-ready) of a ``keras.Sequential``, and notes about what was assumed.

    Args:
        model: A built ``keras.Sequential`` (with a known input shape).
        compile_config: ``model.get_compile_config()``, or None when the
            model was not compiled.

    Raises:
        _Unsupported: something the spec language cannot express.
    """
    if not isinstance(model, keras.Sequential):
        raise _Unsupported("", f"the model is a {type(model).__name__}, not a keras.Sequential",
                           "specs describe Sequential models only")
    entries = model.get_config()["layers"]
    if not entries or entries[0].get("class_name") != "InputLayer":
        raise _Unsupported("layers[0]", "the saved model has no input shape (it was never built)",
                           "build the model with keras.Input(shape=...) before saving it")
    input_shape = [int(d) for d in entries[0]["config"]["batch_shape"][1:]]
    if len(entries) < 2:
        raise _Unsupported("layers", "the model has no layers", "")
    try:
        policy = model_dtype_policy(model)
    except ValueError as exc:
        raise _Unsupported("dtype_policy", str(exc), "build the model under one keras.config.set_dtype_policy, "
                           "the last layer with dtype='float32' under a mixed one") from None
    last = len(entries) - 2
    layers = [layer_entry(entry, i, (i == last and last_layer_dtype(policy)) or policy)
              for i, entry in enumerate(entries[1:])]
    _give_back_names(layers, [entry.get("config", {}).get("name") for entry in entries[1:]])
    layers[0]["input_shape"] = input_shape
    compile_, kept = compile_entry(compile_config)
    data: dict = {"spec_version": 1}
    if not _AUTO_MODEL_NAME.match(model.name):
        data["name"] = model.name
    if policy != "float32" or any(entry.get("class_name") in CONVOLUTIONS for entry in entries):
        data["dtype_policy"] = policy
    data["layers"] = layers
    data["compile"] = compile_
    if input_shape == [math.prod(facts.IMAGE_SHAPE)]:
        data["data"] = {"flatten": True}
    notes = [] if kept else ["the file keeps no compile settings (the model was saved uncompiled); "
                             "compile.loss is set to sparse_categorical_crossentropy"]
    return data, notes


def _layout(data: dict) -> str:
    """YAML in the shipped specs' layout: one flow mapping per layer."""
    import yaml

    def flow(value) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False,
                              width=10_000).strip()
        return text[:-3].strip() if text.endswith("\n...") else text  # a scalar's document end

    lines = []
    for key, value in data.items():
        if key == "layers":
            lines.append("layers:")
            lines += [f"  - {flow(layer)}" for layer in value]
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines) + "\n"


def export_text(path: str | Path) -> tuple[str, list[str]]:
    """The spec of the saved model at ``path`` as YAML text, and notes for the user.

    The model is loaded with :func:`fmnist_spec.to_keras.builder.load_model` (Keras's
    ``safe_mode``: no code from the file runs). The text is checked with
    :func:`fmnist_spec.parse_spec` before it is returned.

    Raises:
        SpecError: the file is missing or not a loadable ``.keras`` file, the
            model uses something the spec language cannot express (the
            problem's ``path`` names the layer, ``layers[1]``, and the message
            the class or argument), or the resulting spec is not valid.
    """
    from ..to_keras.builder import load_model
    from ..language.validation import parse_spec
    from .preflight import check_export

    file = str(path)
    check_export(path)
    try:
        model = load_model(path)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, ... for bad files
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise SpecError([Problem(file, None, None, "", f"cannot load the model: {first}",
                                 "export reads .keras files with safe_mode=True; models with Lambda "
                                 "layers or custom objects cannot be exported")]) from None
    try:
        compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
        data, notes = model_to_spec(model, compile_config)
    except _Unsupported as exc:
        raise SpecError([Problem(file, None, None, exc.path, exc.message, exc.hint)]) from None
    name = Path(path).name
    name = name if name.isprintable() else repr(name)  # a line break in a file name stays in the comment
    text = f"# Exported by fmnist-spec from {name}.\n" + _layout(data)
    try:
        parse_spec(text, f"{file} (exported spec)")
    except SpecError as exc:
        raise SpecError([Problem(file, None, None, p.path, f"the exported spec would be invalid: {p.message}",
                                 p.hint) for p in exc.problems]) from None
    return text, notes
