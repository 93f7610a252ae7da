"""Build-only specs: without ``compile`` a spec builds, renders, generates code and shows its untrained
filters (lesson 8-3's ``no_training_model``); training it is an error at the top of the file."""

import ast

import pytest
import yaml
from conftest import ROOT

from fmnist_spec import SpecError, build_model, load_spec, parse_spec, validate
from fmnist_spec.cli.main import main
from fmnist_spec.tools.codegen import generate

UNTRAINED = """\
spec_version: 1
name: no_training_model
seed: 42
style: add
layers:
  - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu, padding: same, input_shape: [28, 28, 1]}
"""
"""Lesson 8-3's untrained model (ed1-8-3.py, cell 13): one Conv2D, no output layer, never compiled."""


@pytest.fixture
def untrained(tmp_path):
    path = tmp_path / "untrained.yaml"
    path.write_text(UNTRAINED, encoding="utf-8")
    return path


def test_a_spec_without_compile_is_valid_and_builds_the_lessons_untrained_conv(untrained, capsys):
    assert validate(untrained) == []
    spec = load_spec(untrained)
    assert spec.build_only and not load_spec(ROOT / "specs" / "relu_adam.yaml").build_only
    model = build_model(spec)
    assert model.layers[0].weights[0].shape == (3, 3, 1, 32)  # the lesson's print: (3, 3, 1, 32)
    assert model.output_shape == (None, 28, 28, 32) and not model.compiled
    assert main(["validate", str(untrained)]) == 0
    assert main(["build", str(untrained), "--summary"]) == 0
    assert "320" in capsys.readouterr().out  # 3 * 3 * 32 + 32 parameters


def test_a_build_only_spec_keeps_the_model_checks_and_drops_the_training_ones(tmp_path):
    text = UNTRAINED.replace("kernel_size: 3", "kernel_size: 30").replace("padding: same", "padding: valid")
    problems = [p for p in validate(_write(tmp_path, text)) if p.severity == "error"]
    assert len(problems) == 1 and problems[0].path.startswith("layers[0]")  # larger than the 28x28 image
    # the same model with a compile section must end in a 10-way output, as before
    problems = validate(_write(tmp_path, UNTRAINED + "compile: {loss: sparse_categorical_crossentropy}\n"))
    assert any("a classifier needs one score per class" in p.message for p in problems)


def test_render_of_a_build_only_spec_has_no_compile_and_is_itself_build_only(untrained, tmp_path, capsys):
    assert main(["render", str(untrained)]) == 0
    text = capsys.readouterr().out
    assert "compile" not in yaml.safe_load(text)
    assert load_spec(_write(tmp_path, text)).build_only


@pytest.mark.parametrize("style", ["list", "add"])
def test_codegen_of_a_build_only_spec_builds_the_model_and_neither_compiles_nor_fits(untrained, style, tmp_path):
    import runpy

    script = generate(load_spec(untrained), style)
    calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(script)) if isinstance(n, ast.Call)}
    assert "model.summary" in calls and "keras.layers.Conv2D" in calls
    assert not {"model.compile", "model.fit", "model.evaluate", "load_fashion_mnist"} & calls
    (tmp_path / "untrained.py").write_text(script, encoding="utf-8")
    namespace = runpy.run_path(str(tmp_path / "untrained.py"))  # builds the model: no data, no training
    assert namespace["model"].count_params() == 320 and not namespace["model"].compiled


def test_inspect_filters_of_a_spec_draws_the_untrained_kernel(untrained, tmp_path, capsys):
    out = tmp_path / "filters.png"
    assert main(["inspect", str(untrained), "--filters", "0", "-o", str(out)]) == 0
    assert "drew 32 filters of conv2d" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["inspect", str(untrained), "--mistakes", "-o", str(tmp_path / "m.png")]) == 2
    assert "only --filters draws one" in capsys.readouterr().err


def test_inspect_filters_of_a_seeded_spec_are_kerass_seeded_initial_weights(untrained):
    import keras
    import numpy as np

    from fmnist_spec.tools.inspect import filters, load_untrained

    kernel = filters(load_untrained(untrained).model, "0").kernel
    keras.utils.set_random_seed(42)
    reference = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu",
                                                                               padding="same")])
    np.testing.assert_array_equal(kernel, keras.ops.convert_to_numpy(reference.layers[0].kernel))


@pytest.mark.parametrize("command", [["train"], ["compare"], ["train", "--epochs", "1"]])
def test_training_a_build_only_spec_is_an_error_at_the_top_with_a_hint(untrained, tmp_path, command, capsys):
    out = tmp_path / "runs" / "r"
    assert main([*command, str(untrained), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{untrained}:1:1: the spec has no compile section")
    assert "hint: add a compile section" in err and "Traceback" not in err
    assert not out.exists()


def test_the_api_refuses_to_train_or_compare_a_build_only_spec(untrained, tmp_path):
    from fmnist_spec import train
    from fmnist_spec.tools.compare import compare

    with pytest.raises(SpecError, match="no compile section") as err:
        train(load_spec(untrained), out=tmp_path / "r")
    assert (err.value.line, err.value.column) == (1, 1)
    with pytest.raises(SpecError, match="no compile section"):
        compare([untrained], out=tmp_path / "c")
    assert not (tmp_path / "r").exists()


def test_evaluate_weights_with_a_build_only_spec_is_refused(untrained, tmp_path, capsys):
    weights = tmp_path / "model.weights.h5"
    build_model(load_spec(untrained)).save_weights(weights)
    assert main(["evaluate", str(untrained), "--weights", str(weights)]) == 2
    assert "no compile section" in capsys.readouterr().err


def _write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_spec_of_text_without_compile_is_build_only():
    assert parse_spec(UNTRAINED).build_only
