import inspect
import json

import jsonschema
import pytest

from conftest import ROOT, SPECS
from fmnist_spec.language.schema import schema, schema_text
from fmnist_spec.language.schema_errors import did_you_mean
from fmnist_spec.source.yaml_source import read_source


def test_published_schema_is_the_packaged_one():
    assert (ROOT / "schemas" / "model-spec.schema.json").read_text("utf-8") == schema_text()


def test_schema_is_valid_draft_2020_12():
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def _properties(node, where="$"):
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            yield f"{where}.{key}", sub
        for key, sub in node.items():
            if key != "if":  # discriminator tests, not keys
                yield from _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{where}[{i}]")


def test_every_key_has_a_description():
    missing = [where for where, sub in _properties(schema()) if "description" not in sub and "$ref" not in sub]
    assert missing == []


def test_top_level_and_sections_reject_unknown_keys():
    s = schema()
    assert s["additionalProperties"] is False
    for section in ("compile", "fit", "data"):
        assert s["properties"][section]["additionalProperties"] is False
    for name in ("Dense", "Flatten", "Dropout", "SGD", "Adagrad", "RMSprop", "Adam"):
        assert s["$defs"][name]["additionalProperties"] is False


def test_examples_in_the_schema_are_valid_for_their_key():
    validator = jsonschema.Draft202012Validator(schema())
    for where, sub in _properties(schema()):
        for example in sub.get("examples", []):
            errors = list(validator.evolve(schema={**sub, "$defs": schema()["$defs"]}).iter_errors(example))
            assert not errors, (where, example, errors[0].message)


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_specs_are_valid_against_the_raw_schema(path):
    jsonschema.validate(read_source(path).data, schema(), cls=jsonschema.Draft202012Validator)


def test_optimizer_defaults_are_keras_defaults():
    import keras

    for name in ("SGD", "Adagrad", "RMSprop", "Adam"):
        signature = inspect.signature(getattr(keras.optimizers, name).__init__).parameters
        for key, prop in schema()["$defs"][name]["properties"].items():
            if key == "type":
                continue
            assert key in signature, (name, key)
            assert prop["default"] == signature[key].default, (name, key)


def test_dense_defaults_are_keras_defaults():
    import keras

    signature = inspect.signature(keras.layers.Dense.__init__).parameters
    for key in ("activation", "use_bias", "kernel_initializer"):
        assert schema()["$defs"]["Dense"]["properties"][key]["default"] == signature[key].default


def test_every_activation_and_initializer_is_known_to_keras():
    import keras

    dense = schema()["$defs"]["Dense"]["properties"]
    for name in dense["activation"]["anyOf"][0]["enum"]:
        keras.activations.get(name)
    for name in dense["kernel_initializer"]["enum"]:
        keras.initializers.get(name)


def test_did_you_mean_uses_aliases_case_and_spelling():
    assert did_you_mean("lr", ["learning_rate", "momentum"]) == "did you mean 'learning_rate'?"
    assert "case-sensitive" in did_you_mean("dense", ["Dense", "Flatten"])
    assert did_you_mean("sigmod", ["sigmoid", "relu"]) == "did you mean 'sigmoid'?"
    assert did_you_mean("zzz", ["sigmoid"]) == ""


def test_schema_command_prints_valid_json(capsys):
    from fmnist_spec.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"].startswith("fmnist-spec")


def test_every_key_and_definition_has_a_title_for_editors():
    untitled = [where for where, sub in _properties(schema()) if "title" not in sub]
    assert untitled == []
    assert all("title" in d for d in schema()["$defs"].values())
    assert schema()["$id"].endswith("model-spec.schema.json")


def test_defaults_are_filled_in_once_from_the_schema():
    from fmnist_spec.language.schema import default, with_defaults

    written = {"spec_version": 1,
               "layers": [{"type": "Flatten", "input_shape": [28, 28]}, {"units": 10, "activation": "softmax"}],
               "compile": {"optimizer": {"type": "Adam", "learning_rate": 0.01},
                           "loss": {"type": "SparseCategoricalCrossentropy"}},
               "data": {"train_samples": 600}}
    filled = with_defaults(written)
    assert filled["layers"][1] == {"type": "Dense", "units": 10, "activation": "softmax", "use_bias": True,
                                   "kernel_initializer": "glorot_uniform"}
    assert "input_shape" not in filled["layers"][1]  # no default: stays absent
    assert filled["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.01, "beta_1": 0.9,
                                              "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}
    assert filled["compile"]["loss"] == {"type": "SparseCategoricalCrossentropy", "from_logits": False}
    assert filled["data"]["validation"] == {"test_size": 0.2, "random_state": 42}
    assert filled["data"]["train_samples"] == 600 and filled["fit"]["epochs"] == default("fit", "epochs")
    assert filled["distribute"]["strategy"] == "default" and filled["warnings"] == {"ignore": []}
    assert "fit" not in written and "type" not in written["layers"][1]  # the written data are unchanged
    named = with_defaults({**written, "compile": {"loss": "sparse_categorical_crossentropy"}})
    assert named["compile"]["optimizer"] == "rmsprop"  # a name string: Keras's own defaults apply
