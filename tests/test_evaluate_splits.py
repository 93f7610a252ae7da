"""``evaluate --split validation`` and ``evaluate SPEC --weights FILE`` equal a plain Keras
``model.evaluate`` on the same arrays; a run folder holds ``model.weights.h5``."""

from __future__ import annotations

import warnings

import pytest

from conftest import write_fashion_dir
from fmnist_spec import parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.running.data import load_fashion_mnist
from fmnist_spec.tools.evaluate import InputError, evaluate

SPEC = ("spec_version: 1\nseed: 5\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 16, activation: relu}\n  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: 2, batch_size: 16, verbose: 0}\n"
        "data: {scale: 255.0, validation: {test_size: 0.25, random_state: 7}}\n")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    return write_fashion_dir(tmp_path_factory.mktemp("fashion"), n_train=200, n_test=40)


@pytest.fixture(scope="module")
def run(fashion, tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("spec") / "small.yaml"
    spec_path.write_text(SPEC)
    return spec_path, train(parse_spec(SPEC, str(spec_path)), out=tmp_path_factory.mktemp("runs") / "small",
                            data_dir=fashion)


def _plain_keras_validation(model_path, fashion):
    """The notes' way: train_test_split of train_input / 255 with the spec's settings, model.evaluate."""
    import keras
    from sklearn.model_selection import train_test_split

    data = load_fashion_mnist(fashion)
    _, val_input, _, val_target = train_test_split(data.train_images / 255.0, data.train_labels,
                                                   test_size=0.25, random_state=7)
    model = keras.models.load_model(model_path)
    return model.evaluate(val_input, val_target, verbose=0, return_dict=True)


def test_validation_split_equals_plain_keras_evaluate(run, fashion):
    _, result = run
    evaluation = evaluate(result.out_dir, data_dir=fashion, split="validation")
    expected = _plain_keras_validation(result.out_dir / "model.keras", fashion)
    assert evaluation.split == "validation" and int(evaluation.confusion.sum()) == 50
    assert evaluation.accuracy == pytest.approx(expected["accuracy"], abs=1e-6)
    assert evaluation.loss == pytest.approx(expected["loss"], rel=1e-5)
    # and training's own figure of the same split with the same weights
    assert evaluation.accuracy == pytest.approx(result.metrics.validation["accuracy"], abs=1e-6)
    assert evaluation.loss == pytest.approx(result.metrics.validation["loss"], rel=1e-4)  # model.evaluate's loss


def test_weights_file_loaded_into_the_specs_model_gives_the_same_figures(run, fashion):
    spec_path, result = run
    weights = result.out_dir / "model.weights.h5"
    assert weights.is_file()
    for split in ("test", "validation"):
        from_weights = evaluate(spec_path, weights=weights, data_dir=fashion, split=split)
        from_model = evaluate(result.out_dir, data_dir=fashion, split=split)
        assert from_weights.accuracy == from_model.accuracy
        assert from_weights.loss == pytest.approx(from_model.loss, rel=1e-6)
    expected = _plain_keras_validation(result.out_dir / "model.keras", fashion)
    assert evaluate(spec_path, weights=weights, data_dir=fashion, split="validation").loss == pytest.approx(
        expected["loss"], rel=1e-5)


def test_weights_of_another_model_are_a_clear_error(run, fashion, tmp_path, capsys):
    spec_path, result = run
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("units: 16", "units: 32"))
    with pytest.raises(InputError, match="cannot load these weights"):
        evaluate(other, weights=result.out_dir / "model.weights.h5", data_dir=fashion)
    assert main(["evaluate", str(other), "--weights", str(result.out_dir / "model.weights.h5"),
                 "--data-dir", str(fashion)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "hint:" in err and "Traceback" not in err
    assert "/layers/dense/vars/0 declares shape (784, 16)" in err, err  # the layer's, not an optimizer slot's
    assert "value=[[" not in err and "List of objects" not in err, err


def test_weights_load_without_keras_optimizer_warning(run, fashion):
    spec_path, result = run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(spec_path, weights=result.out_dir / "model.weights.h5", data_dir=fashion)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)], [str(w.message) for w in caught]


def test_cli_split_validation_prints_the_validation_figures(run, fashion, capsys):
    _, result = run
    assert main(["evaluate", str(result.out_dir), "--split", "validation", "--data-dir", str(fashion)]) == 0
    out = capsys.readouterr().out
    assert "50 validation images" in out
    assert f"validation loss {result.metrics.validation['loss']:.4f}" in out


def test_a_keras_file_inside_a_run_folder_takes_its_spec(run, fashion):
    import shutil

    _, result = run
    inner = result.out_dir / "checkpoints" / "copy.keras"
    inner.parent.mkdir()
    shutil.copyfile(result.out_dir / "model.keras", inner)
    try:
        evaluation = evaluate(inner, data_dir=fashion, split="validation")
    finally:
        shutil.rmtree(inner.parent)
    assert evaluation.preparation.source == str((result.out_dir / "spec.yaml").resolve())
    assert evaluation.accuracy == pytest.approx(result.metrics.validation["accuracy"], abs=1e-6)
