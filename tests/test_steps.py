"""Batches per train_step call (fmnist_spec.to_keras.steps): the same training as plain Keras fit."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT

from fmnist_spec import parse_spec
from fmnist_spec.to_keras.steps import BatchesPerCall
from fmnist_spec.running.train import Splits, _plan, train


def _model(seed: int, dropout: bool = True):
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    layers = [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")]
    layers += [keras.layers.Dropout(0.2)] if dropout else []
    model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(real_data, samples: int, plan: BatchesPerCall | None, epochs: int = 2):
    x = real_data.train_images[:samples].astype("float32") / np.float32(255)
    y = real_data.train_labels[:samples]
    model = _model(3)
    if plan is None:
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, validation_data=(x[:64], y[:64]),
                            validation_batch_size=32)
    else:
        with plan.installed(model):
            history = model.fit(x, y, batch_size=plan.call_batch_size, epochs=epochs, verbose=0,
                                validation_data=(x[:64], y[:64]), validation_batch_size=32)
    return model, history.history


@pytest.mark.parametrize("samples, steps", [(3200, 20), (1000, 7), (1000, 100)],
                         ids=["whole-calls", "partial-call-and-batch", "one-partial-call"])
def test_same_history_and_weights_as_plain_fit(real_data, samples, steps):
    # 1000 samples: 31 full batches of 32 and one of 8; 7 batches per call leaves a call of 4 batches
    plain_model, plain = _fit(real_data, samples, None)
    plan = BatchesPerCall(32, steps, samples)
    model, ours = _fit(real_data, samples, plan)
    assert ours == plain
    assert int(model.optimizer.iterations) == int(plain_model.optimizer.iterations) == 2 * plan.batches
    for mine, theirs in zip(model.get_weights(), plain_model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_the_model_is_plain_keras_again_after_fit(real_data):
    model, _ = _fit(real_data, 640, BatchesPerCall(32, 5, 640), epochs=1)
    assert "train_step" not in vars(model)
    assert model.steps_per_execution == 1 and model.train_function is None and model.test_function is None
    x = real_data.test_images[:100].astype("float32") / np.float32(255)
    before = model.evaluate(x, real_data.test_labels[:100], verbose=0)
    model.fit(x, real_data.test_labels[:100], batch_size=32, epochs=1, verbose=0)  # Keras's own train_step
    assert int(model.optimizer.iterations) == 20 + 4 and before[0] > 0


def test_given_steps_per_execution_comes_back_after_fit(real_data):
    model = _model(1, dropout=False)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=6)
    x = real_data.train_images[:96].astype("float32")
    with BatchesPerCall(32, 6, 96).installed(model):
        assert model.steps_per_execution == 1
        model.fit(x, real_data.train_labels[:96], batch_size=192, epochs=1, verbose=0)
    assert model.steps_per_execution == 6


def test_one_step_per_call_leaves_keras_alone():
    model = _model(1)
    with BatchesPerCall(32, 1, 100).installed(model) as plan:
        assert "train_step" not in vars(model) and plan.call_batch_size == 32


@pytest.mark.parametrize("call, last", [(0, 99), (14, 1499), (15, 1499)])
def test_last_batch_of_a_call(call, last):
    plan = BatchesPerCall(32, 100, 48000)
    assert plan.batches == 1500 and plan.call_batch_size == 3200
    assert plan.last_batch(call) == last


def test_progress_bar_counts_batches_not_calls(real_data, capsys):
    x = real_data.train_images[:1000].astype("float32")
    model = _model(1, dropout=False)
    plan = BatchesPerCall(32, 10, 1000)
    with plan.installed(model):
        model.fit(x, real_data.train_labels[:1000], batch_size=plan.call_batch_size, epochs=1, verbose=2,
                  callbacks=[plan.progress_bar()])
    out = capsys.readouterr().out
    assert "32/32" in out and "4/4" not in out


def test_train_runs_steps_per_execution_batches_per_call_and_keeps_keras_setting(tiny_data_dir, tmp_path,
                                                                                 monkeypatch):
    seen = []
    installed = BatchesPerCall.installed

    def spy(plan, model):
        seen.append(plan)
        return installed(plan, model)

    monkeypatch.setattr(BatchesPerCall, "installed", spy)
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy,"
                      " metrics: [accuracy], steps_per_execution: 4}\n"
                      "fit: {epochs: 1, batch_size: 8, verbose: 0}\n")
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert seen == [BatchesPerCall(8, 4, 40)]
    assert result.model.steps_per_execution == 4  # the saved model is compiled as the spec says
    saved = json.loads(keras.saving.load_model(tmp_path / "run" / "model.keras").to_json())
    assert saved["compile_config"]["steps_per_execution"] == 4


@pytest.mark.parametrize("jit_compile, steps", [(True, 1), (False, 4)])
def test_xla_keeps_keras_own_loop(jit_compile, steps):
    # model.jit_compile is what Keras resolved (false under op determinism, or when a layer can't)
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy,"
                      " steps_per_execution: 4, jit_compile: true}\nfit: {batch_size: 8}\n")
    splits = Splits(*[np.zeros(40)] * 6)
    assert _plan(SimpleNamespace(jit_compile=jit_compile), spec, splits) == BatchesPerCall(8, steps, 40)


@pytest.fixture
def evaluated(monkeypatch):
    """The number of images of every ``training._evaluate`` call, in order."""
    from fmnist_spec.running import train as training

    sizes = []
    evaluate = training._evaluate
    monkeypatch.setattr(training, "_evaluate", lambda model, x, y, batch: sizes.append(len(y)) or
                        evaluate(model, x, y, batch))
    return sizes


def test_validation_figures_are_fit_last_pass_and_equal_evaluate(real_data, tmp_path, evaluated):
    spec = parse_spec("spec_version: 1\nseed: 5\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {units: 10, activation: softmax}\ncompile: {optimizer: adam, loss:"
                      " sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                      "fit: {epochs: 2, batch_size: 32, verbose: 0}\n"
                      "data: {train_samples: 3000}\n")
    result = train(spec, out=tmp_path / "run", data=real_data)
    assert evaluated == [10000]  # the test images only: the validation pass of fit's last epoch is reused
    from fmnist_spec.running.train import prepare

    splits = prepare(spec, real_data)
    again = result.model.evaluate(splits.x_val, splits.y_val, batch_size=1024, verbose=0, return_dict=True)
    assert result.metrics["validation"] == {k: float(v) for k, v in again.items()}
    assert result.metrics["validation"]["loss"] == result.history["val_loss"][-1]


def test_validation_is_evaluated_when_the_last_epoch_was_not_validated(tiny_data_dir, tmp_path, evaluated):
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy,"
                      " metrics: [accuracy]}\n"
                      "fit: {epochs: 3, batch_size: 8, verbose: 0, validation_freq: 2}\n")
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert evaluated == [10, 20]  # validation and test
    assert set(result.metrics["validation"]) == {"loss", "accuracy"}


def test_console_command_runs_exit_handlers_and_flushes_before_leaving(tmp_path):
    # run() leaves with os._exit once TensorFlow is imported: the exit status, the exit
    # handlers and everything printed to a pipe must survive it
    code = ("import atexit, sys; import tensorflow; from fmnist_spec import cli\n"
            f"atexit.register(lambda: open({str(tmp_path / 'ran')!r}, 'w').write('yes'))\n"
            "sys.argv = ['fmnist-spec', 'validate', 'specs/relu_adam.yaml', 'no-such.yaml']\n"
            "print('before', end='')\ncli.run()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 2
    assert done.stdout.startswith("before") and "relu_adam.yaml" in done.stdout
    assert "no-such.yaml" in done.stdout + done.stderr
    assert (tmp_path / "ran").read_text() == "yes"


def test_console_command_whose_reader_went_away_exits_1_without_a_traceback():
    specs = map(str, sorted(ROOT.glob("specs/*.yaml")))
    child = subprocess.Popen([sys.executable, "-m", "fmnist_spec", "validate", *specs],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # before the child writes anything: like `| head -0`
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
