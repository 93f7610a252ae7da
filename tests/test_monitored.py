"""The spec's callbacks in training: replaying EarlyStopping's state, metrics.json's
stopped/best epoch, the best epoch marked in the learning curves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist_spec.running.monitored import direction, replay


def _keras_early_stopping(values, **arguments):
    """Drive keras.callbacks.EarlyStopping with the logs of ``values`` (val_loss or val_accuracy)."""
    import keras

    monitor = arguments.get("monitor", "val_loss")
    model = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=["accuracy"])
    callback = keras.callbacks.EarlyStopping(**arguments)
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            break
    return callback


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.1, 1.0, allow_nan=False), min_size=1, max_size=12),
       patience=st.integers(0, 3), min_delta=st.sampled_from([0.0, 0.01]),
       monitor=st.sampled_from(["val_loss", "val_accuracy"]), start=st.integers(0, 2),
       baseline=st.sampled_from([None, 0.5]))
def test_replay_of_the_log_equals_keras_early_stopping(values, patience, min_delta, monitor, start, baseline):
    arguments = {"monitor": monitor, "mode": "auto" if monitor == "val_loss" else "max", "patience": patience, "min_delta": min_delta, "start_from_epoch": start,
                 "baseline": baseline}
    keras_state = _keras_early_stopping(values, **arguments)
    state = replay(values, arguments)
    assert state.best == keras_state.best
    assert (state.best_epoch or 0) == keras_state.best_epoch
    assert (state.stopped_epoch or 0) == keras_state.stopped_epoch
    if state.stopped_epoch is None:
        assert state.wait == keras_state.wait


def test_direction_follows_keras_auto_mode():
    assert direction("val_loss") == "min" and direction("loss") == "min"
    assert direction("val_accuracy") == "max"
    assert direction("val_accuracy", "min") == "min"


def test_learning_curves_mark_the_best_epoch(tmp_path):
    from png_check import assert_real_png

    from fmnist_spec.running.plots import learning_curves

    history = {"loss": [0.9, 0.6, 0.5, 0.45], "accuracy": [0.6, 0.7, 0.8, 0.82],
               "val_loss": [0.8, 0.55, 0.6, 0.7], "val_accuracy": [0.65, 0.79, 0.78, 0.77]}
    path = tmp_path / "curves.png"
    marked = learning_curves({"run": history}, path, best_epochs={"run": 2})
    assert marked == {"run": {"epoch": 2, "val_loss": 0.55, "val_accuracy": 0.79}}
    assert_real_png(path)
    assert learning_curves({"run": history}, tmp_path / "plain.png") == {}


def test_resumed_run_gets_early_stoppings_wait_and_best_back_from_the_log():
    """BackupAndRestore sets model._initial_epoch; EarlyStopping.on_train_begin has reset its
    counters; ResumeMonitors (after it) puts back those of the epochs in log.csv."""
    from types import SimpleNamespace

    import keras

    from fmnist_spec.running.monitored import _resume_monitors

    model = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1)])
    arguments = {"monitor": "val_loss", "mode": "auto", "patience": 3, "min_delta": 0.0, "baseline": None,
                 "start_from_epoch": 0, "restore_best_weights": False}
    early = keras.callbacks.EarlyStopping(**arguments)
    checkpoint = keras.callbacks.ModelCheckpoint("/nonexistent/x.keras", save_best_only=True)
    given = [SimpleNamespace(type="EarlyStopping", arguments=arguments),
             SimpleNamespace(type="ModelCheckpoint", arguments={"monitor": "val_loss", "mode": "auto"})]
    log = {"val_loss": [0.9, 0.5, 0.6, 0.7]}  # best epoch 2 (index 1), two epochs without improvement
    resume = _resume_monitors(list(zip(given, [early, checkpoint])), lambda epochs: log, None)
    for callback in (early, checkpoint, resume):
        callback.set_model(model)
    model._initial_epoch = 4
    early.on_train_begin()
    resume.on_train_begin()
    assert (early.wait, early.best, early.best_epoch) == (2, 0.5, 1)
    assert checkpoint.best == 0.5
    # one more epoch without improvement stops it, as in a run that was never interrupted
    model.stop_training = False
    early.on_epoch_end(4, {"val_loss": 0.8})
    assert model.stop_training and early.stopped_epoch == 4


def test_a_fresh_run_keeps_keras_start_values():
    from types import SimpleNamespace

    import keras

    from fmnist_spec.running.monitored import _resume_monitors

    model = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1)])
    early = keras.callbacks.EarlyStopping(patience=2)
    given = SimpleNamespace(type="EarlyStopping", arguments={"monitor": "val_loss", "patience": 2})
    resume = _resume_monitors([(given, early)], lambda epochs: {"val_loss": [0.1]}, None)
    early.set_model(model)
    resume.set_model(model)
    early.on_train_begin()
    resume.on_train_begin()
    assert (early.wait, early.best, early.best_epoch) == (0, None, 0)
