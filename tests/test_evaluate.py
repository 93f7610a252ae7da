import re
from dataclasses import replace
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import write_fashion_dir
from fmnist_spec import build_model, load_model, parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.tools.evaluate import InputError, evaluate, predict, read_image
from fmnist_spec.language.facts import CLASS_NAMES
from fmnist_spec.files import save_model
from png_check import assert_real_png

SPEC = ("spec_version: 1\nseed: 3\nlayers:\n  - {{type: Flatten, input_shape: [28, 28]}}\n"
        "  - {{units: 16, activation: relu}}\n  - {{units: 10{output}}}\n"
        "compile: {{optimizer: adam, loss: {loss}, metrics: [accuracy]}}\n"
        "fit: {{epochs: 2, batch_size: 8, verbose: 0}}\ndata: {{scale: {scale}}}\n")
SOFTMAX = {"output": ", activation: softmax", "loss": "sparse_categorical_crossentropy"}
LOGITS = {"output": "", "loss": "{type: SparseCategoricalCrossentropy, from_logits: true}"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_fashion_dir(tmp_path_factory.mktemp("fashion"), n_train=50, n_test=30)


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    return train(parse_spec(SPEC.format(scale=255.0, **SOFTMAX)), out=tmp_path_factory.mktemp("run"),
                 data_dir=tiny)


def test_evaluate_a_run_folder_matches_keras_evaluate(run, tiny):
    result = evaluate(run.out_dir, data_dir=tiny)
    assert result.preparation.scale == 255.0 and not result.preparation.flatten
    assert result.preparation.source == str(run.out_dir / "spec.yaml")
    assert result.loss == pytest.approx(run.metrics.test["loss"], rel=1e-4)
    assert result.accuracy == pytest.approx(run.metrics.test["accuracy"])
    assert [c["name"] for c in result.per_class] == list(CLASS_NAMES)
    assert all(c["images"] == 3 for c in result.per_class)  # labels are arange(30) % 10
    assert sum(c["correct"] for c in result.per_class) == round(result.accuracy * 30)
    assert result.confusion.sum() == 30 and np.trace(result.confusion) == round(result.accuracy * 30)
    mean_of_classes = np.mean([c["loss"] for c in result.per_class])
    assert mean_of_classes == pytest.approx(result.loss, rel=1e-5)  # equal class sizes


def test_the_run_folders_spec_yaml_says_how_to_scale(tiny, tmp_path):
    raw = train(parse_spec(SPEC.format(scale=25.5, **SOFTMAX)), out=tmp_path / "run", data_dir=tiny)
    result = evaluate(tmp_path / "run", data_dir=tiny)
    assert result.preparation.scale == 25.5
    assert result.accuracy == pytest.approx(raw.metrics.test["accuracy"])
    shutil.copy(tmp_path / "run" / "model.keras", tmp_path / "copy.keras")
    bare = evaluate(tmp_path / "copy.keras", data_dir=tiny)
    assert bare.preparation.scale == 255.0 and bare.loss != pytest.approx(result.loss, rel=1e-3)


def test_a_bare_model_file_is_prepared_from_its_input_shape(run, tiny, tmp_path):
    bare = tmp_path / "copy.keras"
    shutil.copy(run.out_dir / "model.keras", bare)
    result = evaluate(bare, data_dir=tiny)
    assert result.preparation.scale == 255.0 and not result.preparation.flatten
    assert not result.preparation.from_logits and "no spec.yaml" in result.preparation.source
    assert result.loss == pytest.approx(run.metrics.test["loss"], rel=1e-4)
    flat = parse_spec(SPEC.format(scale=255.0, **SOFTMAX).replace(
        "  - {type: Flatten, input_shape: [28, 28]}\n  - {units: 16, activation: relu}",
        "  - {units: 16, activation: relu, input_shape: [784]}").replace("data: {", "data: {flatten: true, "))
    save_model(build_model(flat), tmp_path / "flat.keras")
    assert evaluate(tmp_path / "flat.keras", data_dir=tiny).preparation.flatten


def test_a_logits_model_gets_softmax_before_the_loss(tiny, tmp_path):
    spec = parse_spec(SPEC.format(scale=255.0, **LOGITS))
    result = train(spec, out=tmp_path / "run", data_dir=tiny)
    shutil.copy(tmp_path / "run" / "model.keras", tmp_path / "bare.keras")
    for target in (tmp_path / "run", tmp_path / "bare.keras"):
        evaluation = evaluate(target, data_dir=tiny)
        assert evaluation.preparation.from_logits
        assert evaluation.loss == pytest.approx(result.metrics.test["loss"], rel=1e-4)
    from fmnist_spec.running.data import read_dir

    image = read_dir(tiny).test_images[0]
    logits = result.model.predict(image[None].astype(np.float32) / 255.0, verbose=0)[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    [guess] = predict(tmp_path / "bare.keras", [write_png(tmp_path / "x.png", image)])
    assert guess.label == probabilities.argmax() and guess.probability == pytest.approx(probabilities.max())


def test_evaluate_cli_prints_per_class_and_draws_the_confusion_matrix(run, tiny, tmp_path, capsys):
    picture = tmp_path / "cm.png"
    assert main(["evaluate", str(run.out_dir), "--data-dir", str(tiny), "--confusion", str(picture)]) == 0
    out = capsys.readouterr().out
    figures = re.search(r"^test loss (\d+\.\d{4}), accuracy (\d\.\d{4})$", out, re.MULTILINE)
    assert float(figures[1]) == pytest.approx(run.metrics.test["loss"], abs=1e-4)
    assert float(figures[2]) == pytest.approx(run.metrics.test["accuracy"], abs=1e-4)
    assert re.search(r"^Ankle boot +3 +\d +\d\.\d{4} +\d+\.\d{4}$", out, re.MULTILINE)
    assert "Ankle boot" in out and "T-shirt/top" in out and f"confusion matrix: {picture}" in out
    assert_real_png(picture, min_bytes=20_000)


def test_evaluate_cli_refuses_what_is_not_a_model(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no model.keras in this folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["evaluate", str(tmp_path / "notes.txt")]) == 2
    (tmp_path / "broken.keras").write_text("not a zip")
    assert main(["evaluate", str(tmp_path / "broken.keras")]) == 2
    assert "broken.keras: not a valid Keras archive" in capsys.readouterr().err


def write_png(path, pixels, mode="L"):
    Image.fromarray(pixels.astype(np.uint8)).convert(mode).save(path)
    return path


def test_predict_names_the_class_the_model_ranks_first(run, tiny, tmp_path, capsys):
    from fmnist_spec.running.data import read_dir

    test_images = read_dir(tiny).test_images[:4]
    paths = [write_png(tmp_path / f"img{i}.png", image) for i, image in enumerate(test_images)]
    assert (read_image(paths[0]) == test_images[0]).all()
    model = load_model(run.out_dir / "model.keras")
    expected = model.predict(test_images.astype(np.float32) / 255.0, verbose=0)
    predictions = predict(run.out_dir / "model.keras", paths)
    assert [p.label for p in predictions] == list(expected.argmax(axis=1))
    assert [p.probability for p in predictions] == pytest.approx(list(expected.max(axis=1)), rel=1e-5)
    assert main(["predict", str(run.out_dir / "model.keras"), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{paths[0]}: {predictions[0].name} ({predictions[0].probability:.3f})"
    assert len(lines) == 4


@pytest.mark.parametrize(("size", "mode", "message"), [((32, 32), "L", "32x32 image in mode L"),
                                                       ((28, 28), "RGB", "28x28 image in mode RGB")])
def test_predict_refuses_other_sizes_and_modes_with_status_2(run, tmp_path, capsys, size, mode, message):
    path = write_png(tmp_path / "x.png", np.zeros(size[::-1]), mode)
    with pytest.raises(InputError, match=message):
        read_image(path)
    assert main(["predict", str(run.out_dir / "model.keras"), str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "expected 28x28 8-bit grayscale" in err and "convert('L')" in err
    assert "Traceback" not in err


def test_predict_refuses_a_file_that_is_no_image(run, tmp_path, capsys):
    (tmp_path / "x.png").write_text("hello")
    assert main(["predict", str(run.out_dir / "model.keras"), str(tmp_path / "x.png")]) == 2
    assert "cannot read it as an image" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_evaluate_and_predict_on_real_fashion_mnist(real_data, tmp_path):
    from conftest import ROOT
    from fmnist_spec import load_spec
    from fmnist_spec.tools.compare import compare

    spec = load_spec(ROOT / "specs" / "relu_adam.yaml")
    [row] = compare([replace(spec, epochs=1)], out=tmp_path / "cmp", data=real_data, verbose=0,
                    log=lambda line: None).rows
    assert row["val_accuracy"] > 0.80 and row["test_accuracy"] > 0.78
    result = evaluate(row["run"], data=real_data)
    assert [c["images"] for c in result.per_class] == [1000] * 10 and result.confusion.sum() == 10_000
    assert result.accuracy == pytest.approx(row["test_accuracy"], abs=1e-6)
    assert result.loss == pytest.approx(row["test_loss"], rel=1e-4)
    assert result.per_class[6]["accuracy"] < result.accuracy  # Shirt is one of the hardest classes
    trousers = np.flatnonzero(real_data.test_labels == 1)[:5]
    paths = [write_png(tmp_path / f"t{i}.png", real_data.test_images[i]) for i in trousers]
    guesses = predict(f"{row['run']}/model.keras", paths)
    assert sum(g.name == "Trouser" and g.probability > 0.5 for g in guesses) >= 4
