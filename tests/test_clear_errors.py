"""Inputs that gave Python tracebacks now give their documented exit status and a message:
an empty TF_CONFIG, a data folder with too few training images, a .keras of another input shape
inside a run folder given to evaluate."""

import pytest
from conftest import write_fashion_dir

from fmnist_spec import load_spec, parse_spec
from fmnist_spec.cli.main import main

SPEC = """\
spec_version: 1
seed: 1
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 10, activation: softmax}
compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1, batch_size: 8}
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["", "  ", "{not json"])
@pytest.mark.parametrize("strategy", ["mirrored", "multi_worker_mirrored"])
def test_an_empty_or_malformed_tf_config_is_bad_input_before_training(spec_file, tmp_path, monkeypatch, capsys,
                                                                      value, strategy):
    monkeypatch.setenv("TF_CONFIG", value)
    out = tmp_path / "run"
    assert main(["train", str(spec_file), "--set", f"distribute.strategy={strategy}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: TF_CONFIG is set but " in err and "hint: unset it (unset TF_CONFIG)" in err
    assert "Traceback" not in err and "JSONDecodeError" not in err and not out.exists()


@pytest.mark.parametrize("n_train", [0, 1])
def test_a_data_folder_with_too_few_training_images_says_how_many_and_what_is_needed(
        spec_file, tmp_path, capsys, n_train):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=n_train)
    out = tmp_path / "run"
    assert main(["train", str(spec_file), "--data-dir", str(data_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    image = "image" if n_train == 1 else "images"
    assert f"error: {data_dir}: {n_train} training {image}, which test_size 0.2 splits into 0 for training" in err
    assert "at least 2 training images are needed" in err and "hint: give a data folder" in err
    assert "Traceback" not in err and "ValueError" not in err and not out.exists()


def test_the_split_check_agrees_with_scikit_learn():
    from sklearn.model_selection import train_test_split

    from fmnist_spec.running.data import DataError
    from fmnist_spec.running.splits import check_split_sizes

    for test_size in (0.2, 0.5, 0.75, 0.9):
        for n in range(12):
            try:
                train_test_split(list(range(n)), test_size=test_size)
                sklearn_ok = True
            except ValueError:
                sklearn_ok = False
            try:
                check_split_sizes(n, test_size, "data")
                ours = True
            except DataError:
                ours = False
            assert ours == sklearn_ok, (n, test_size)


def test_prepare_refuses_a_folder_whose_training_images_leave_a_side_empty(tmp_path):
    from fmnist_spec.running.data import DataError, load_fashion_mnist
    from fmnist_spec.running.splits import prepare

    data = load_fashion_mnist(write_fashion_dir(tmp_path / "fashion", n_train=3))
    spec = parse_spec(SPEC + "data: {validation: {test_size: 0.7}}\n")  # ceil(0.7 * 3) = 3 for validation
    with pytest.raises(DataError, match=r": 3 training images, which test_size 0.7 splits into 0 for training and "
                                         r"3 for validation; .* at least 4 training images are needed"):
        prepare(spec, data)
    assert prepare(parse_spec(SPEC), data).samples() == {"train": 2, "validation": 1, "test": 20}


def test_evaluating_a_keras_file_of_another_input_shape_inside_a_run_folder_is_bad_input(
        spec_file, tmp_path, capsys):
    import keras

    data_dir = write_fashion_dir(tmp_path / "fashion")
    run = tmp_path / "run"
    assert main(["train", str(spec_file), "--data-dir", str(data_dir), "--out", str(run)]) == 0
    assert load_spec(run / "spec.yaml").input_shape == (28, 28)
    other = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    other.compile(loss="sparse_categorical_crossentropy")
    other.save(run / "other.keras")
    capsys.readouterr()
    assert main(["evaluate", str(run / "other.keras"), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert f"error: {run / 'other.keras'}: the model takes samples of shape (784,), but the spec of the run " in err
    assert "gives the images as (28, 28)" in err and "hint: evaluate the run folder itself" in err
    assert "Traceback" not in err
    assert main(["evaluate", str(run), "--data-dir", str(data_dir)]) == 0  # the run's own model still evaluates
