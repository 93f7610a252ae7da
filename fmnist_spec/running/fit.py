"""One fitter per strategy; each returns a :class:`Fitted` to the one finishing step
(:func:`fmnist_spec.running.train.train`).

* ``default``: ``model.fit`` on NumPy arrays with the BatchesPerCall plan
  (:mod:`fmnist_spec.to_keras.steps`);
* ``mirrored``: ``model.fit`` on ``tf.data`` inside ``MirroredStrategy.scope()``;
* ``multi_worker_mirrored``: the strategy's own step
  (:mod:`fmnist_spec.running.distributed.strategy_loop`), because ``model.fit`` fails there;
  registered by :mod:`fmnist_spec.running.distributed.fit_workers`.

Each fitter registers itself in :mod:`fmnist_spec.running.fitters`.

Every fitter uses the same callbacks: a free-space check, ``CSVLogger``
(``log.csv``), ``BackupAndRestore`` (``backup/``; not in the multi-worker loop,
which cannot resume), a ``TerminateOnNaN`` that remembers where it stopped,
optionally ``TensorBoard``, and then the spec's own ``fit.callbacks``
(:mod:`fmnist_spec.running.monitored`; a ``ModelCheckpoint`` writes into the staged
run folder). After an ``EarlyStopping(restore_best_weights=True)`` the final
validation figures are evaluated on the restored weights.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..language.spec import Spec
from ..to_keras.steps import BatchesPerCall
from .fitters import FITTERS, register_fitter
from .monitored import restores_best_weights
from .run_folder import RunFolder, RunWriteError
from .splits import Splits


@dataclass
class Job:
    """What a fitter needs. ``work`` is the folder this process writes (the ``.partial``
    folder; None for a multi-worker run's other workers), ``logs`` the target folder
    where each worker's log goes, ``done_before`` the epochs a resumed run has done,
    ``extra_callbacks`` Keras callbacks the caller adds after the spec's own (a search's pruning
    callback)."""

    spec: Spec
    splits: Splits
    work: RunFolder | None
    logs: RunFolder
    done_before: int = 0
    verbose: int | str = "auto"
    tensorboard: str | Path | None = None
    cluster: object = None
    extra_callbacks: tuple = ()
    progress: object = None
    """A Keras callback that shows progress instead of Keras's bar (the notebook's), or None."""


@dataclass
class Fitted:
    """What every fitter gives back: the trained model, ``History.history``, the final
    ``validation`` and ``test`` figures (``{}`` after a NaN stop), seconds in training,
    the ``distribute`` facts of ``metrics.json`` and where a NaN stopped it."""

    model: object
    history: dict
    validation: dict
    test: dict
    fit_seconds: float
    distribute: dict
    is_chief: bool = True
    stopped_at: tuple | None = None
    extra: dict = field(default_factory=dict)


def seed_everything(seed: int | None) -> None:
    """``keras.utils.set_random_seed(seed)`` and TensorFlow op determinism; nothing for None."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _evaluate(model, x, y, batch_size: int) -> dict:
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def _history(history) -> dict:
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def last_validation(history: dict, epochs: int) -> dict | None:
    """The figures of the validation pass after the last of ``epochs`` epochs in
    ``history`` (metric -> one value per epoch, None where an epoch was not
    validated), or None when that epoch was not validated or not reached.

    The weights have not changed since that pass (unless an ``EarlyStopping`` restored
    the best epoch's: then the fitters evaluate instead), and it used the same data and
    batch size as ``model.evaluate`` would, so its figures are the same (a test
    checks) and the validation images need not be evaluated twice.
    """
    if len(history.get("loss", ())) != epochs:
        return None
    last = {key[len("val_"):]: values[-1] for key, values in history.items() if key.startswith("val_")}
    return last if last and None not in last.values() else None


def _stop_on_nan():
    """``keras.callbacks.TerminateOnNaN`` that also remembers the epoch and batch where it stopped.

    Its ``batch_of`` maps the index Keras passes (a call of ``fit``'s train
    function) to the last batch that call ran (:meth:`BatchesPerCall.last_batch`),
    for Keras's message and for ``where``.
    """
    import keras

    class StopOnNaN(keras.callbacks.TerminateOnNaN):
        def __init__(self):
            super().__init__()
            self.current_epoch, self.where = 0, None
            self.batch_of = lambda call: call

        def on_epoch_begin(self, epoch, logs=None):
            self.current_epoch = epoch

        def on_batch_end(self, batch, logs=None):
            batch = self.batch_of(batch)
            super().on_batch_end(batch, logs)
            if self.model.stop_training and self.where is None:
                self.where = (self.current_epoch, batch)

    return StopOnNaN()


def backup_bytes(model) -> int:
    """Bytes one backup of ``model`` takes at most: its weights and optimizer variables, plus 64 KiB
    of HDF5 and JSON overhead."""
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables) + 65536


def _space_check(work: RunFolder):
    """A callback that stops with :class:`RunWriteError` before an epoch's log row and backup
    are written when the disk cannot hold them: HDF5 cut short by a full disk can crash the process
    (h5py), and the previous backup must stay usable."""
    import keras

    class SpaceCheck(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            need, free = backup_bytes(self.model), shutil.disk_usage(work.path).free
            if free < need:
                raise RunWriteError(no_space_message(work, need, free, f"the backup of epoch {epoch + 1}"))

    return SpaceCheck()


def no_space_message(work: RunFolder, need: int, free: int, what: str) -> str:
    usable = work.backed_up_epochs()
    kept = (f"the backup of epoch {usable} in {work.backup_path} is intact: free some space and run the same "
            "command with --resume" if usable else "no epoch was backed up yet: free some space and start again")
    return (f"{work.path}: not enough disk space for {what} ({free:,} bytes free, about {need:,} needed)\n"
            f"  hint: {kept}")


def callbacks(job: Job, nan_watch, backup: bool = True) -> list:
    """The callbacks of every fitter. CSVLogger comes before the backup, so an epoch's row is on
    disk before its backup: a kill between the two makes the resumed run redo the epoch, and
    :func:`read_log` keeps its last row. The backup is kept when ``fit`` ends and removed only
    once the run is published, so Ctrl-C while evaluating or saving can still be resumed."""
    import keras

    from .monitored import learning_rate_log, spec_callbacks

    listed = [_space_check(job.work)]
    if any(c.type == "ReduceLROnPlateau" for c in getattr(job.spec, "callbacks", ())):
        listed.append(learning_rate_log())  # into the logs before CSVLogger writes them
    listed.append(keras.callbacks.CSVLogger(str(job.work.log_path), append=True))
    if backup:
        listed.append(keras.callbacks.BackupAndRestore(str(job.work.backup_path), double_checkpoint=True,
                                                       delete_checkpoint=False))
    listed.append(nan_watch)
    if job.tensorboard:
        listed.append(keras.callbacks.TensorBoard(log_dir=str(job.tensorboard)))
    if job.progress is not None:
        listed.append(job.progress)
    return listed + spec_callbacks(job.spec, job.work.path, job.work.read_log,
                                   job.work.backup_path if backup else None) + list(job.extra_callbacks)


def _plan(model, spec: Spec, splits: Splits) -> BatchesPerCall:
    """``steps_per_execution`` batches of ``batch_size`` per ``train_step`` call (:mod:`fmnist_spec.to_keras.steps`).

    With XLA (``compile.jit_compile`` true) Keras's own loop is kept: XLA compiles the
    batch loop of :mod:`fmnist_spec.to_keras.steps` into code about 30 times slower on the CPU
    (22 s instead of 0.6 s per epoch of the notes' model, measured).
    """
    steps = 1 if model.jit_compile else spec.steps_per_execution
    return BatchesPerCall(spec.batch_size, steps, len(splits.y_train))


def _build(spec: Spec, strategy=None):
    from ..to_keras.builder import build_model, compile_model
    from ..to_keras.compat import steps_per_execution_under_strategy

    spec = replace(spec, steps_per_execution=steps_per_execution_under_strategy(spec.steps_per_execution,
                                                                                  strategy))
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(spec)
        compile_model(model, spec)
    return model


@register_fitter("default")
def fit_default(job: Job) -> Fitted:
    """``model.fit`` on the NumPy arrays in this process."""
    spec, splits = job.spec, job.splits
    seed_everything(spec.seed)
    model = _build(spec)
    eval_batch = spec.validation_batch_size or spec.batch_size
    freq = spec.validation_freq if isinstance(spec.validation_freq, int) else list(spec.validation_freq)
    plan = _plan(model, spec, splits)
    nan_watch = _stop_on_nan()
    nan_watch.batch_of = plan.last_batch
    listed = callbacks(job, nan_watch)
    if plan.steps > 1:
        listed.append(plan.progress_bar())  # counts batches, not calls
    start = time.perf_counter()
    with plan.installed(model):
        history = model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                            epochs=spec.epochs, batch_size=plan.call_batch_size, validation_freq=freq,
                            validation_batch_size=eval_batch, callbacks=listed, verbose=job.verbose)
    seconds = time.perf_counter() - start
    setup = {"strategy": "default", "replicas": 1, "workers": 1, "global_batch_size": spec.batch_size}
    if nan_watch.where is not None:
        return Fitted(model, _history(history), {}, {}, seconds, setup, stopped_at=nan_watch.where)
    logged = None if restores_best_weights(spec) else job.work.read_log(spec.epochs)
    validation = ((logged and last_validation(logged, spec.epochs))
                  or _evaluate(model, splits.x_val, splits.y_val, eval_batch))
    test = _evaluate(model, splits.x_test, splits.y_test, eval_batch)
    return Fitted(model, _history(history), validation, test, seconds, setup)


@register_fitter("mirrored")
def fit_mirrored(job: Job) -> Fitted:
    """``MirroredStrategy``: build and compile in its scope, ``model.fit`` on ``tf.data``."""
    from .distributed.strategy import global_batch_size, make_dataset, make_strategy

    spec, splits = job.spec, job.splits
    strategy = make_strategy(spec.distribute)
    seed_everything(spec.seed)
    model = _build(spec, strategy)
    replicas = strategy.num_replicas_in_sync
    batch = global_batch_size(spec.distribute, spec.batch_size, replicas)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=spec.seed)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch)
    nan_watch = _stop_on_nan()
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=spec.epochs, verbose=job.verbose, shuffle=False,
                        callbacks=callbacks(job, nan_watch))
    seconds = time.perf_counter() - start
    setup = {"strategy": "mirrored", "replicas": replicas, "workers": 1,
             "devices": list(strategy.extended.worker_devices), "global_batch_size": batch}
    if nan_watch.where is not None:
        return Fitted(model, _history(history), {}, {}, seconds, setup, stopped_at=nan_watch.where)

    def evaluate(ds):
        return {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}

    test = evaluate(make_dataset(splits.x_test, splits.y_test, batch))
    return Fitted(model, _history(history), evaluate(val_ds), test, seconds, setup)


__all__ = ["FITTERS", "Fitted", "Job", "callbacks", "fit_default", "fit_mirrored", "last_validation",
           "seed_everything"]
