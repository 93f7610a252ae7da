"""The spec's own callbacks (``fit.callbacks``) in every fitter, and what they decided.

:func:`spec_callbacks` gives the Keras objects of ``spec.callbacks``
(:func:`fmnist_spec.to_keras.builder.make_callbacks`, a ``ModelCheckpoint``'s file
inside the run folder) followed by a :class:`ResumeMonitors` that carries their
state over ``--resume``; :func:`learning_rate_log` puts the learning rate into each
epoch's logs before ``CSVLogger`` writes them.

Keras's ``BackupAndRestore`` restores the weights, the optimizer and the epoch, not
a callback's counters: ``EarlyStopping.on_train_begin`` sets ``wait``, ``best`` and
``best_epoch`` back to their start values. :func:`replay` recomputes them from the
run's ``log.csv`` with Keras's own rule (``MonitorCallback._is_improvement`` and
``EarlyStopping.on_epoch_end``, Keras 3.15), and the best epoch's weights of an
``EarlyStopping(restore_best_weights=True)`` are kept in ``backup/best.weights.h5``.

:func:`figures` is what ``metrics.json`` records (``stopped_epoch``, ``best_epoch``,
``monitor``, ``best``). This module imports TensorFlow only inside functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

MONITORING = ("EarlyStopping", "ModelCheckpoint")
"""Callback types whose monitored quantity decides a best epoch."""

BEST_WEIGHTS, BEST_EPOCH = "best.weights.h5", "best.json"
"""In ``backup/``: the best epoch's weights of an ``EarlyStopping(restore_best_weights=True)``
and ``{"epoch": e}`` (0-based), written after the weights."""


@dataclass
class Replayed:
    """A monitor's state after some epochs, as Keras's callbacks keep it.

    Attributes:
        best: The best monitored value so far, or None (nothing monitored yet).
        best_epoch: Its 0-based epoch (Keras's ``best_epoch``), or None.
        wait: Epochs counted since the last improvement (``EarlyStopping.wait``).
        stopped_epoch: 0-based epoch at which ``EarlyStopping`` stopped training, or None.
    """

    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    stopped_epoch: int | None = None


def direction(monitor: str, mode: str = "auto") -> str:
    """``"min"`` or ``"max"``: how Keras's ``mode='auto'`` reads ``monitor`` (losses fall, accuracies rise)."""
    if mode in ("min", "max"):
        return mode
    return "min" if monitor.removeprefix("val_") == "loss" else "max"


def replay(values: list, arguments: dict, kind: str = "EarlyStopping") -> Replayed:
    """Recompute a monitoring callback's state from the monitored values of finished epochs,
    with Keras's rule.

    Args:
        values: The monitored quantity per epoch (None where it was not logged).
        arguments: The callback's arguments (``monitor``, ``mode``, ``min_delta``, ``patience``,
            ``baseline``, ``start_from_epoch``, ``initial_value_threshold``); missing ones take
            Keras's defaults.
        kind: ``EarlyStopping`` (its ``best`` starts at None, ``baseline`` only decides whether
            ``wait`` restarts, training stops once ``wait >= patience``), ``ModelCheckpoint``
            (``best`` starts at ``initial_value_threshold``, never stops) or
            ``ReduceLROnPlateau`` (``best`` and ``wait``, which restarts after each reduction; its
            cooldown and ``min_lr`` are not replayed).

    Returns:
        A :class:`Replayed`, equal to the callback's ``best``, ``best_epoch``, ``wait`` and
        ``stopped_epoch`` after those epochs (a test checks against Keras's ``EarlyStopping``).
    """
    smaller = direction(arguments.get("monitor", "val_loss"), arguments.get("mode", "auto")) == "min"
    delta = abs(arguments.get("min_delta", 0) or 0) * (-1 if smaller else 1)
    baseline = arguments.get("baseline") if kind == "EarlyStopping" else None
    patience, start = arguments.get("patience", 0), arguments.get("start_from_epoch", 0)

    def improves(value, reference):  # in float32, as Keras's ops.less/ops.greater compare
        if reference is None:
            return True
        shifted, reference = np.float32(value - delta), np.float32(reference)
        return bool(shifted < reference if smaller else shifted > reference)

    state = Replayed(best=arguments.get("initial_value_threshold") if kind == "ModelCheckpoint" else None)
    for epoch, value in enumerate(values):
        if value is None or epoch < start:
            continue
        state.wait += 1
        if improves(value, state.best):
            state.best, state.best_epoch = value, epoch
            if baseline is None or improves(value, baseline):
                state.wait = 0
            continue
        if kind == "ReduceLROnPlateau" and state.wait >= patience:
            state.wait = 0  # the rate was lowered
        elif kind == "EarlyStopping" and state.wait >= patience and epoch > 0:
            state.stopped_epoch = epoch
            break
    return state


def figures(spec, history: dict, epochs_finished: int) -> dict:
    """``metrics.json``'s ``stopped_epoch``, ``best_epoch``, ``monitor`` and ``best``.

    The first ``EarlyStopping`` decides, else the first ``ModelCheckpoint``; all None
    without either. Epochs are 1-based (the textbook prints Keras's 0-based
    ``stopped_epoch``, one less): ``stopped_epoch`` is the last epoch trained when
    ``EarlyStopping`` ended training before ``fit.epochs``, else None.

    Args:
        spec: The run's checked spec (``spec.callbacks``, ``spec.epochs``).
        history: ``log.csv`` of the whole run (all sessions): metric -> one value per epoch.
        epochs_finished: Epochs trained.
    """
    chosen = _first(spec, "EarlyStopping") or _first(spec, "ModelCheckpoint")
    if chosen is None:
        return {"stopped_epoch": None, "best_epoch": None, "monitor": None, "best": None}
    arguments = dict(chosen.arguments)
    monitor = arguments.get("monitor", "val_loss")
    state = replay(list(history.get(monitor, ())), arguments, chosen.type)
    stopped = None
    if chosen.type == "EarlyStopping" and epochs_finished < spec.epochs:
        stopped = epochs_finished
    return {"stopped_epoch": stopped, "best_epoch": None if state.best_epoch is None else state.best_epoch + 1,
            "monitor": monitor, "best": state.best}


def _first(spec, kind: str):
    return next((c for c in getattr(spec, "callbacks", ()) if c.type == kind), None)


def restores_best_weights(spec) -> bool:
    """True when an ``EarlyStopping(restore_best_weights=True)`` sets the model's weights back at
    the end of ``fit`` (Keras 3.15 does so whether or not it stopped training)."""
    return any(c.type == "EarlyStopping" and c.arguments.get("restore_best_weights")
               for c in getattr(spec, "callbacks", ()))


def spec_callbacks(spec, run_dir: Path | None, history_of, backup_dir: Path | None) -> list:
    """The Keras objects of ``spec.callbacks`` and a :class:`ResumeMonitors` after them.

    Args:
        spec: The checked spec.
        run_dir: The folder a ``ModelCheckpoint``'s ``filepath`` is relative to (the staged
            run folder); None for a multi-worker run's other workers, which write no files:
            their ``ModelCheckpoint``\\ s are left out (``EarlyStopping`` and
            ``ReduceLROnPlateau`` stay, so every worker stops and slows down together).
        history_of: ``epochs -> dict``: the run's ``log.csv`` history of the first ``epochs`` epochs.
        backup_dir: ``backup/`` of a run that can be resumed, else None.
    """
    if not getattr(spec, "callbacks", ()):
        return []
    from ..to_keras.builder import make_callbacks

    if run_dir is None:
        spec = replace(spec, callbacks=tuple(c for c in spec.callbacks if c.type != "ModelCheckpoint"))
        run_dir = Path(".")
    made = make_callbacks(spec, run_dir)
    return made + [_resume_monitors(list(zip(spec.callbacks, made)), history_of, backup_dir)]


def _resume_monitors(pairs: list, history_of, backup_dir: Path | None):
    import keras

    class ResumeMonitors(keras.callbacks.Callback):
        """On a resumed run (``initial epoch`` > 0), set each callback's counters as they
        were after the epochs already done; keep an ``EarlyStopping``'s best weights in
        ``backup/`` so a resumed run can restore them."""

        def on_train_begin(self, logs=None):
            done = _initial_epoch(self.model)
            if done == 0:
                return
            history = history_of(done)
            for given, callback in pairs:
                if given.type not in MONITORING and given.type != "ReduceLROnPlateau":
                    continue
                arguments = dict(given.arguments)
                state = replay(list(history.get(arguments.get("monitor", "val_loss"), ())), arguments, given.type)
                callback.best = state.best
                if given.type == "ReduceLROnPlateau":
                    callback.wait = state.wait
                if given.type == "EarlyStopping":
                    callback.wait, callback.best_epoch = state.wait, state.best_epoch or 0
                    if given.arguments.get("restore_best_weights"):
                        callback.best_weights = self._best_weights(state.best_epoch)

        def _best_weights(self, epoch):
            if backup_dir is None or epoch is None:
                return None
            try:
                kept = json.loads((backup_dir / BEST_EPOCH).read_text("utf-8"))["epoch"]
            except (OSError, ValueError, KeyError):
                return None
            if kept != epoch:
                return None
            current = self.model.get_weights()
            self.model.load_weights(str(backup_dir / BEST_WEIGHTS))
            best = self.model.get_weights()
            self.model.set_weights(current)
            return best

        def on_epoch_end(self, epoch, logs=None):
            if backup_dir is None:
                return
            for given, callback in pairs:
                if (given.type == "EarlyStopping" and given.arguments.get("restore_best_weights")
                        and callback.best_epoch == epoch and callback.best_weights is not None):
                    from ..files import write_json

                    backup_dir.mkdir(parents=True, exist_ok=True)
                    self.model.save_weights(str(backup_dir / BEST_WEIGHTS))
                    write_json(backup_dir / BEST_EPOCH, {"epoch": epoch})
                    return

    return ResumeMonitors()


def _initial_epoch(model) -> int:
    """The epoch ``fit`` starts from: ``BackupAndRestore`` sets ``model._initial_epoch`` on resume."""
    return int(getattr(model, "_initial_epoch", 0) or 0)


def learning_rate_log():
    """A callback that adds ``learning_rate`` (the rate the optimizer used in the epoch, before a
    ``ReduceLROnPlateau`` lowers it) to each epoch's logs; placed before ``CSVLogger``."""
    import keras

    class LearningRateLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LearningRateLog()
