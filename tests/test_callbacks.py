"""fit.callbacks and learning-rate schedules: typed spec objects with Keras's defaults, the Keras
objects make_callbacks / make_optimizer build, and the images shaped by the model's input shape."""

import inspect
import json

import keras
import numpy as np
import pytest
from conftest import ROOT

from fmnist_spec import build_model, load_spec, parse_spec, train
from fmnist_spec.language.spec import CallbackSpec
from fmnist_spec.to_keras.builder import compile_model, make_callbacks, make_optimizer

HEAD = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n  - {units: 10, activation: softmax}\n"
        "compile:\n  optimizer: adam\n  loss: sparse_categorical_crossentropy\n  metrics: [accuracy]\n")


@pytest.mark.parametrize("kind", ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"])
def test_callback_defaults_are_keras_defaults(kind):
    extra = ", filepath: x.keras" if kind == "ModelCheckpoint" else ""
    spec = parse_spec(HEAD + f"fit:\n  callbacks: [{{type: {kind}{extra}}}]\n")
    (callback,) = spec.callbacks
    assert isinstance(callback, CallbackSpec) and callback.type == kind
    parameters = inspect.signature(getattr(keras.callbacks, kind)).parameters
    for key, value in callback.arguments.items():
        if parameters[key].default is not inspect.Parameter.empty:
            assert value == parameters[key].default, key


def test_early_stopping_spec_is_the_textbooks():
    spec = load_spec(ROOT / "specs" / "early_stopping.yaml")
    assert [c.type for c in spec.callbacks] == ["ModelCheckpoint", "EarlyStopping"]
    assert spec.callbacks[0].arguments == {"filepath": "best-model.keras", "monitor": "val_loss",
                                           "save_best_only": True, "save_weights_only": False, "mode": "auto"}
    assert spec.callbacks[1].arguments["patience"] == 2 and spec.callbacks[1].arguments["restore_best_weights"]
    assert spec.epochs == 20 and spec.layers[2].arguments == {"rate": 0.3} and spec.warnings == ()


def test_make_callbacks_writes_checkpoints_inside_the_run_folder_and_fit_uses_them(tmp_path, real_data):
    spec = parse_spec(HEAD + "fit:\n  epochs: 3\n  callbacks:\n"
                      "    - {type: ModelCheckpoint, filepath: sub/best.weights.h5, save_weights_only: true,"
                      " save_best_only: true, monitor: val_accuracy}\n"
                      "    - {type: EarlyStopping, monitor: loss, patience: 0, min_delta: 100}\n"
                      "    - {type: ReduceLROnPlateau, monitor: loss, factor: 0.5, patience: 0, min_delta: 100}\n")
    run_dir = tmp_path / "run"
    made = make_callbacks(spec, run_dir)
    assert [type(c).__name__ for c in made] == ["AtomicModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau"]
    assert isinstance(made[0], keras.callbacks.ModelCheckpoint)  # Keras's, saving atomically (to_keras/compat.py)
    assert made[0].filepath == str(run_dir / "sub" / "best.weights.h5") and made[0].save_weights_only
    model = build_model(spec)
    compile_model(model, spec)
    x = real_data.train_images[:200] / np.float32(255.0)
    y = real_data.train_labels[:200]
    history = model.fit(x[:160], y[:160], epochs=spec.epochs, validation_data=(x[160:], y[160:]), verbose=0,
                        callbacks=made)
    assert (run_dir / "sub" / "best.weights.h5").is_file()
    assert len(history.history["loss"]) == 2  # min_delta 100: no epoch improves; stops after patience 0 + 1
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.0005)  # reduced once, after epoch 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing written outside the run folder


@pytest.mark.parametrize("schedule,kind", [
    ("{type: ExponentialDecay, initial_learning_rate: 1, decay_steps: 10, decay_rate: 0.5, staircase: true}",
     "ExponentialDecay"),
    ("{type: CosineDecay, initial_learning_rate: 0.01, decay_steps: 100, warmup_target: 0.1, warmup_steps: 5}",
     "CosineDecay"),
    ("{type: PiecewiseConstantDecay, boundaries: [10], values: [1, 0.5]}", "PiecewiseConstantDecay"),
])
def test_a_schedule_becomes_the_optimizers_learning_rate(schedule, kind):
    spec = parse_spec(HEAD.replace("optimizer: adam", f"optimizer: {{type: SGD, learning_rate: {schedule}}}"))
    optimizer = make_optimizer(spec)
    made = optimizer._learning_rate
    assert type(made).__name__ == kind
    if kind == "ExponentialDecay":
        assert made.initial_learning_rate == 1.0 and made.staircase is True
        assert float(made(25)) == pytest.approx(0.25)  # 1 * 0.5 ** floor(25 / 10)
    if kind == "PiecewiseConstantDecay":
        assert made.values == [1.0, 0.5] and float(made(11)) == pytest.approx(0.5)


@pytest.mark.parametrize("name,shape", [("dense_sigmoid", (784,)), ("relu_flatten", (28, 28)),
                                        ("cnn", (28, 28, 1)), ("cnn_input", (28, 28, 1)),
                                        ("dropout_input", (28, 28))])
def test_the_images_take_the_models_input_shape(name, shape, tiny_data_dir):
    from fmnist_spec.running.data import load_fashion_mnist
    from fmnist_spec.running.train import prepare

    spec = load_spec(ROOT / "specs" / f"{name}.yaml")
    assert spec.input_shape == shape and spec.input_layer == name.endswith("_input")
    splits = prepare(spec, load_fashion_mnist(tiny_data_dir))
    assert splits.x_train.shape[1:] == splits.x_val.shape[1:] == splits.x_test.shape[1:] == shape
    assert build_model(spec).input_shape == (None,) + shape


def test_input_style_resolves_to_an_input_element_and_builds_the_same_model():
    keras.backend.clear_session()
    first = build_model(load_spec(ROOT / "specs" / "cnn.yaml"))
    keras.backend.clear_session()
    second = build_model(load_spec(ROOT / "specs" / "cnn_input.yaml"))
    assert first.get_config()["layers"] == second.get_config()["layers"]
    resolved = load_spec(ROOT / "specs" / "cnn_input.yaml").resolved()
    assert resolved["layers"][0] == {"type": "Input", "shape": [28, 28, 1]}
    assert "input_shape" not in resolved["layers"][1] and resolved["data"]["flatten"] is False


def test_learning_rate_is_recorded_apart_from_the_training_figures(tmp_path, tiny_data_dir):
    spec = parse_spec(HEAD + "fit:\n  epochs: 2\n  callbacks:\n"
                      "    - {type: ReduceLROnPlateau, monitor: loss, factor: 0.5, patience: 0, min_delta: 100}\n")
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert "learning_rate" in result.history  # Keras logs the rate ReduceLROnPlateau changes
    assert set(result.metrics.train) == {"loss", "accuracy"}
    assert result.metrics.learning_rate == pytest.approx(0.001)  # used during epoch 2 (reduced at its end)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "learning_rate" not in saved["train"] and saved["learning_rate"] == pytest.approx(0.001)
