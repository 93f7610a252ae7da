import json
from dataclasses import replace

import keras
import pytest
import yaml

from conftest import ROOT
from fmnist_spec import load_model, load_spec, parse_spec, train
from fmnist_spec.running.train import prepare


def test_prepare_splits_as_the_notes(real_data):
    spec = load_spec(ROOT / "specs" / "relu_adam.yaml")
    splits = prepare(spec, real_data)
    assert splits.x_train.shape == (48_000, 28, 28) and splits.x_val.shape == (12_000, 28, 28)
    assert splits.x_train.dtype.name == "float32" and float(splits.x_train.max()) == 1.0
    from sklearn.model_selection import train_test_split

    _, _, y_train, _ = train_test_split(real_data.train_images / 255.0, real_data.train_labels,
                                        test_size=0.2, random_state=42)
    assert (splits.y_train == y_train).all()


def test_prepare_gives_the_values_of_scaling_before_the_split(real_data):
    from sklearn.model_selection import train_test_split

    spec = load_spec(ROOT / "specs" / "relu_adam.yaml")
    splits = prepare(spec, real_data)
    x_train, x_val, _, _ = train_test_split(real_data.train_images.astype("float32") / 255.0,
                                            real_data.train_labels, test_size=0.2, random_state=42)
    assert (splits.x_train == x_train).all() and (splits.x_val == x_val).all()
    assert splits.x_test.dtype.name == "float32" and splits.x_test.flags.c_contiguous


def test_flatten_reshapes_to_784(real_data):
    splits = prepare(load_spec(ROOT / "specs" / "dense_sigmoid.yaml"), real_data)
    assert splits.x_train.shape == (48_000, 784) and splits.x_test.shape == (10_000, 784)


def test_train_writes_the_run_folder_on_tiny_data(tiny_data_dir, tmp_path):
    spec = parse_spec("spec_version: 1\nname: 패션 MNIST 모델\nlayers:\n"
                      "  - {name: hidden, units: 8, activation: sigmoid, input_shape: [784]}\n"
                      "  - {name: output, units: 10, activation: softmax}\n"
                      "compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                      "fit: {epochs: 2, batch_size: 8, verbose: 0}\ndata: {flatten: true}\n")
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["history.json", "learning_curves.png", "log.csv", "metrics.json", "model.keras", "model.weights.h5",
                     "spec.yaml"]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["accuracy"]) == 2 and len(history["val_loss"]) == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["samples"] == {"train": 40, "validation": 10, "test": 20}
    assert metrics["status"] == "finished" and metrics["resumed_from_epoch"] == 0
    assert metrics["parameters"] == 784 * 8 + 8 + 90 and metrics["fit_seconds"] > 0
    assert set(metrics["test"]) == {"loss", "accuracy"}
    resolved = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text("utf-8"))
    assert resolved["name"] == "패션 MNIST 모델" and resolved["fit"]["epochs"] == 2
    assert parse_spec((tmp_path / "run" / "spec.yaml").read_text("utf-8")).resolved() == resolved
    model = load_model(tmp_path / "run" / "model.keras")
    assert model.name == "패션 MNIST 모델" and model.count_params() == metrics["parameters"]
    assert result.history == history
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


def _seeded(compile_extra: str = "", fit_extra: str = "", dropout: bool = True) -> str:
    """A seeded spec text; Keras turns XLA off under op determinism, so no jit_compile case."""
    return ("spec_version: 1\nseed: 7\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
            + ("  - {type: Dropout, rate: 0.2}\n" if dropout else "")
            + "  - {units: 10, activation: softmax}\n"
            "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]"
            + compile_extra + "}\nfit: {epochs: 2, batch_size: 8, verbose: 0" + fit_extra + "}\n")


@pytest.mark.parametrize("compile_extra, fit_extra, dropout", [
    ("", "", True),
    (", steps_per_execution: 3", "", False),
    ("", ", validation_freq: 2", True),
], ids=["defaults", "steps_per_execution", "validation_freq"])
def test_same_seed_gives_the_same_history(tiny_data_dir, tmp_path, compile_extra, fit_extra, dropout):
    text = _seeded(compile_extra, fit_extra, dropout)
    first = train(parse_spec(text), out=tmp_path / "a", data_dir=tiny_data_dir)
    second = train(parse_spec(text), out=tmp_path / "b", data_dir=tiny_data_dir)
    assert first.history == second.history
    assert first.metrics.validation == second.metrics.validation
    assert first.metrics.test == second.metrics.test


def test_steps_per_execution_does_not_change_the_history(tiny_data_dir, tmp_path):
    # 40 training images in batches of 8: 5 steps per epoch, so 3 steps per call
    # leaves a partial call at the end of each epoch.
    one = train(parse_spec(_seeded(", steps_per_execution: 1")), out=tmp_path / "a", data_dir=tiny_data_dir)
    three = train(parse_spec(_seeded(", steps_per_execution: 3")), out=tmp_path / "b", data_dir=tiny_data_dir)
    assert one.model.steps_per_execution == 1 and three.model.steps_per_execution == 3
    assert one.history == three.history


@pytest.mark.parametrize("freq, validated", [("2", 1), ("[1, 3]", 2), ("[]", 0)])
def test_validation_freq_validates_only_those_epochs(tiny_data_dir, tmp_path, freq, validated):
    spec = parse_spec(_seeded(fit_extra=f", validation_freq: {freq}").replace("epochs: 2", "epochs: 3"))
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert len(result.history["loss"]) == 3 and len(result.history["val_loss"]) == 3  # one entry per epoch
    assert sum(v is not None for v in result.history["val_loss"]) == validated  # None: not validated
    assert set(result.metrics.validation) == {"loss", "accuracy"}
    resolved = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text("utf-8"))
    assert parse_spec(yaml.safe_dump(resolved)).validation_freq == spec.validation_freq


def test_fast_defaults_reach_keras(tiny_data_dir, tmp_path):
    spec = parse_spec(_seeded())
    assert (spec.steps_per_execution, spec.jit_compile, spec.validation_freq,
            spec.validation_batch_size) == (100, "auto", 1, 1024)
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert result.model.steps_per_execution == 100
    resolved = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text("utf-8"))
    assert resolved["compile"]["steps_per_execution"] == 100 and resolved["fit"]["validation_freq"] == 1
    assert resolved["fit"]["validation_batch_size"] == 1024


def test_validation_batch_size_does_not_change_training(tiny_data_dir, tmp_path):
    small = train(parse_spec(_seeded(fit_extra=", validation_batch_size: 2")), out=tmp_path / "a",
                  data_dir=tiny_data_dir)
    large = train(parse_spec(_seeded(fit_extra=", validation_batch_size: null")), out=tmp_path / "b",
                  data_dir=tiny_data_dir)
    assert small.history["loss"] == large.history["loss"]
    assert small.history["val_accuracy"] == large.history["val_accuracy"]
    assert small.history["val_loss"] == pytest.approx(large.history["val_loss"], rel=1e-5)


def test_a_seed_set_on_the_spec_is_recorded(tiny_data_dir, tmp_path):
    text = _seeded().replace("seed: 7\n", "")
    first = train(replace(parse_spec(text), seed=11), out=tmp_path / "a", data_dir=tiny_data_dir)
    second = train(replace(parse_spec(text), seed=11), out=tmp_path / "b", data_dir=tiny_data_dir)
    assert first.history == second.history
    assert yaml.safe_load((tmp_path / "a" / "spec.yaml").read_text("utf-8"))["seed"] == 11


@pytest.mark.slow
def test_one_epoch_on_real_fashion_mnist_beats_080(real_data, tmp_path):
    spec = load_spec(ROOT / "specs" / "relu_adam.yaml")
    result = train(replace(spec, epochs=1), out=tmp_path / "run", data=real_data, verbose=0)
    assert result.metrics.samples["train"] == 48_000
    assert result.metrics.validation["accuracy"] > 0.80
    assert result.metrics.test["accuracy"] > 0.78
    assert isinstance(result.model, keras.Sequential)


def test_thread_settings_reach_tensorflow_in_a_fresh_process():
    import subprocess
    import sys

    code = ("from fmnist_spec.running.train import set_threads; set_threads(1, 2); import tensorflow as tf; "
            "tf.constant(1.0) + 1.0; t = tf.config.threading; "
            "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=True)
    assert done.stdout.split() == ["1", "2"]


def test_thread_settings_after_tensorflow_started_only_warn():
    import tensorflow as tf

    from fmnist_spec.running.train import set_threads

    tf.constant(1.0) + 1.0  # starts TensorFlow's runtime
    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.warns(UserWarning, match="already running"):
        set_threads(current + 3, 0)
    assert tf.config.threading.get_intra_op_parallelism_threads() == current


def test_threading_defaults_are_auto_and_a_spec_can_change_them():
    spec = parse_spec(_seeded())
    assert (spec.intra_op_parallelism_threads, spec.inter_op_parallelism_threads) == ("auto", "auto")
    assert spec.thread_counts() == (1, 1)  # a dense model: one thread each
    spec = parse_spec(_seeded() + "threading: {intra_op_parallelism_threads: 0}\n")
    assert spec.resolved()["threading"] == {"intra_op_parallelism_threads": 0, "inter_op_parallelism_threads": "auto"}
    assert spec.thread_counts() == (0, 1)


def test_threading_auto_lets_tensorflow_choose_for_a_convolutional_model():
    from fmnist_spec import load_spec

    spec = load_spec(ROOT / "specs" / "cnn.yaml")
    assert spec.convolutional
    assert spec.thread_counts() == (0, 0)
    spec = parse_spec(_seeded() + "threading: {inter_op_parallelism_threads: 2}\n")
    assert not spec.convolutional and spec.thread_counts() == (1, 2)


def test_package_train_stays_the_function_after_the_module_is_imported():
    import fmnist_spec
    import fmnist_spec.running.train  # noqa: F401

    assert callable(fmnist_spec.train) and fmnist_spec.train.__name__ == "train"
