"""The spec's callbacks in training: replaying EarlyStopping's state, metrics.json's
stopped/best epoch, the best epoch marked in the learning curves."""

from __future__ import annotations

import numpy as np
import pytest
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
