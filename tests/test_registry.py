"""The registry, the JSON Schema and Keras agree on every name, argument and default."""

import ast
import inspect
from pathlib import Path

import pytest

from conftest import ROOT
from fmnist_spec.language import registry
from fmnist_spec.language.schema import schema

PACKAGE = ROOT / "fmnist_spec"


def _strings(node) -> set:
    """Every string in an ``enum`` or ``const`` under a schema fragment, without following ``$ref``:
    the names it allows, however it is arranged (``if``/``then`` or ``anyOf``)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "enum":
                found |= {v for v in value if isinstance(v, str)}
            elif key == "const" and isinstance(value, str):
                found.add(value)
            elif key not in ("$ref", "default", "examples", "description", "title"):
                found |= _strings(value)
    elif isinstance(node, list):
        for item in node:
            found |= _strings(item)
    return found


def _property(node, key: str) -> dict:
    """The first ``properties[key]`` anywhere under ``node`` (not through ``$ref``)."""
    if isinstance(node, dict):
        if key in node.get("properties", {}):
            return node["properties"][key]
        children = [v for k, v in node.items() if k != "$ref"]
    else:
        children = node if isinstance(node, list) else []
    for child in children:
        found = _property(child, key)
        if found:
            return found
    return {}


def _object_properties(node) -> set:
    """The property names of every object schema under ``node`` (not through ``$ref``)."""
    found = set()
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for key, value in node.items():
            if key not in ("$ref", "properties"):
                found |= _object_properties(value)
    elif isinstance(node, list):
        for item in node:
            found |= _object_properties(item)
    return found


DEFS = schema()["$defs"]


def test_layer_types_are_the_schemas():
    assert _strings(DEFS["layer"]) == set(registry.LAYERS)


@pytest.mark.parametrize("kind", sorted(registry.LAYERS))
def test_layer_arguments_are_the_schemas_properties(kind):
    props = set(DEFS[kind]["properties"])
    keys = set(registry.LAYERS[kind].keys)
    assert keys <= props and keys <= set(registry.LAYER_KEYS)
    assert props - keys == set(registry.LAYERS[kind].arguments)
    first = registry.LAYERS[kind].first
    assert first is None or first in registry.LAYERS[kind].arguments


def test_activations_and_initializers_are_the_schemas():
    assert _strings(_property(DEFS["Dense"], "activation")) == set(registry.ACTIVATIONS)
    assert _strings(_property(DEFS["Dense"], "kernel_initializer")) == set(registry.INITIALIZERS)


def test_optimizer_names_and_classes_are_the_schemas():
    assert _strings(DEFS["optimizer"]) == set(registry.OPTIMIZERS) | set(registry.OPTIMIZER_NAMES)


@pytest.mark.parametrize("name", sorted(registry.OPTIMIZERS))
def test_optimizer_arguments_are_the_schemas_properties(name):
    entry = registry.OPTIMIZERS[name]
    assert set(DEFS[entry.class_name]["properties"]) - {"type"} == set(entry.arguments)


def test_loss_names_classes_and_arguments_are_the_schemas():
    assert _strings(DEFS["loss"]) == set(registry.LOSSES) | set(registry.LOSS_NAMES)
    for entry in registry.LOSSES.values():
        assert _object_properties(DEFS["loss"]) - {"type"} == set(entry.arguments)
        assert entry.labels in ("integer", "one-hot")


def test_metrics_are_the_schemas():
    metrics = schema()["properties"]["compile"]["properties"]["metrics"]
    assert _strings(metrics) == set(registry.METRICS)


def test_callback_and_schedule_types_are_the_schemas():
    assert _strings(_property(DEFS["callback"], "type")) == set(registry.CALLBACKS)
    assert _strings(_property(DEFS["learning_rate_schedule"], "type")) == set(registry.SCHEDULES)
    for kinds in (registry.CALLBACKS, registry.SCHEDULES):
        for kind, entry in kinds.items():
            assert entry.class_name == kind
            assert set(DEFS[kind]["properties"]) - {"type"} == set(entry.arguments), kind
            assert entry.first is None or entry.first in entry.arguments


def test_monitored_quantities_are_the_schemas_and_the_metrics_with_and_without_val():
    for kind in ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"):
        assert DEFS[kind]["properties"]["monitor"]["enum"] == list(registry.MONITORED)
    names = {"loss", *registry.METRICS}
    assert set(registry.MONITORED) == names | {"val_" + n for n in names}


def _keras_default(parameter, spec_default):
    """Keras's default as a spec writes it: ``strides=(1, 1)`` is the spec's ``1``."""
    value = parameter.default
    if isinstance(value, tuple) and isinstance(spec_default, int) and value == (spec_default,) * len(value):
        return spec_default
    return value


def test_every_class_name_is_a_keras_class_taking_the_registry_arguments():
    import keras

    for module, entries in ((keras.callbacks, registry.CALLBACKS),
                            (keras.optimizers.schedules, registry.SCHEDULES)):
        for entry in entries.values():
            parameters = inspect.signature(getattr(module, entry.class_name)).parameters
            assert set(entry.arguments) <= set(parameters), entry
            if entry.first is not None:
                assert next(iter(parameters)) == entry.first, entry

    for entry in registry.LAYERS.values():
        parameters = inspect.signature(getattr(keras.layers, entry.class_name)).parameters
        assert set(entry.arguments) <= set(parameters), entry
        if entry.first is not None:
            assert next(iter(parameters)) == entry.first  # Dense(100): units comes first
    for entry in registry.OPTIMIZERS.values():
        parameters = inspect.signature(getattr(keras.optimizers, entry.class_name)).parameters
        assert set(entry.arguments) <= set(parameters), entry
    for name, entry in registry.LOSSES.items():
        cls = getattr(keras.losses, entry.class_name)
        assert set(entry.arguments) <= set(inspect.signature(cls).parameters)
        assert getattr(keras.losses, name) is not None  # the function compile(loss=name) resolves


def test_schema_defaults_are_kerass_defaults():
    """A spec that leaves an argument out gets what Keras would use: the schema's defaults
    must be the Keras 3.15 signature defaults (a Keras upgrade that changes one fails here)."""
    import keras

    for kind, entry in registry.LAYERS.items():
        parameters = inspect.signature(getattr(keras.layers, entry.class_name)).parameters
        for key in entry.arguments:
            prop = DEFS[kind]["properties"][key]
            if "default" in prop:
                assert _keras_default(parameters[key], prop["default"]) == prop["default"], (kind, key)
    for module, entries in ((keras.callbacks, registry.CALLBACKS),
                            (keras.optimizers.schedules, registry.SCHEDULES)):
        for kind, entry in entries.items():
            parameters = inspect.signature(getattr(module, entry.class_name)).parameters
            for key in entry.arguments:
                prop = DEFS[kind]["properties"][key]
                if "default" in prop:
                    assert parameters[key].default == prop["default"], (kind, key)
                else:
                    assert parameters[key].default is inspect.Parameter.empty, (kind, key)
    for entry in registry.OPTIMIZERS.values():
        parameters = inspect.signature(getattr(keras.optimizers, entry.class_name)).parameters
        for key in entry.arguments:
            assert parameters[key].default == DEFS[entry.class_name]["properties"][key]["default"], \
                (entry.class_name, key)


def test_every_activation_initializer_and_metric_name_resolves_in_keras():
    import keras

    for name in registry.ACTIVATIONS:
        assert callable(keras.activations.get(name)), name
    for name in registry.INITIALIZERS:
        assert keras.initializers.get(name) is not None, name
    for name, labels in registry.METRICS.items():
        if labels is not None:  # 'accuracy' is resolved by compile from the loss
            assert keras.metrics.get(name) is not None, name


def test_keras_classes_are_looked_up_only_for_registry_names():
    from fmnist_spec.to_keras import layers

    assert set(layers.LAYERS) == set(registry.LAYERS)
    assert set(layers.OPTIMIZERS) == set(registry.OPTIMIZER_NAMES)
    assert set(layers.LOSSES) == set(registry.LOSSES)
    assert set(layers.CALLBACKS) == set(registry.CALLBACKS)
    assert set(layers.SCHEDULES) == set(registry.SCHEDULES)
    assert layers.OPTIMIZERS["Adam"].__name__ == "Adam"


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="unknown optimizer 'adamw'; known: sgd, adagrad, rmsprop, adam"):
        registry.optimizer_class("adamw")
    with pytest.raises(KeyError, match="unknown layer type 'LSTM'; known: Dense, Flatten, Dropout, Conv2D"):
        registry.layer("LSTM")
    with pytest.raises(KeyError, match="known: sparse_categorical_crossentropy, categorical_crossentropy"):
        registry.loss("mse")
    assert registry.optimizer_class("Adam") == registry.optimizer_class("ADAM") == "Adam"
    assert registry.loss({"type": "SparseCategoricalCrossentropy"}) == ("sparse_categorical_crossentropy", False)


def _vocabulary() -> set:
    return (set(registry.OPTIMIZERS) | set(registry.OPTIMIZER_NAMES) | set(registry.LOSSES)
            | set(registry.LOSS_NAMES))


def _name_maps(path: Path) -> list[int]:
    """Lines of dict literals in ``path`` that map a vocabulary name to another (a name <-> class map)."""
    words = _vocabulary()
    lines = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value in words and isinstance(v, ast.Constant)
                and v.value in words for k, v in zip(node.keys, node.values)):
            lines.append(node.lineno)
    return lines


def test_no_module_but_the_registry_types_a_name_to_class_map():
    found = {str(p.relative_to(ROOT)): _name_maps(p) for p in PACKAGE.rglob("*.py")
             if p.name != "registry.py"}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_the_name_map_finder_flags_a_retyped_map(tmp_path):
    retyped = tmp_path / "retyped.py"
    retyped.write_text('_OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam"}\n', "utf-8")
    assert _name_maps(retyped) == [1]
