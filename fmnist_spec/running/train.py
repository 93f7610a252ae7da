"""Compile, fit, evaluate and write the run folder: the only stateful step.

Where the spec trains follows its ``distribute`` section (see
:mod:`fmnist_spec.running.distributed.strategy`): ``default`` fits on NumPy arrays in this
process; ``mirrored`` builds and compiles inside ``MirroredStrategy.scope()``
and fits on ``tf.data`` pipelines; ``multi_worker_mirrored`` builds inside
``MultiWorkerMirroredStrategy.scope()`` and trains with the strategy's own
step (:mod:`fmnist_spec.running.distributed.strategy_loop`), because ``model.fit`` fails there.
All three give the same history, metrics and run folder; in a multi-worker
run only the chief writes them, and every worker writes its own log.

The data are prepared as in the notes (``../shared/seeds``): pixels divided by
``scale``, optionally reshaped to 784, the 60,000 training images split with
scikit-learn's ``train_test_split(test_size=0.2, random_state=42)`` into
48,000 for training and 12,000 for validation; the 10,000 test images are
only evaluated.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from . import run_folder as runs
from .data import FashionMNIST, load_fashion_mnist
from ..files import save_model, write_json, write_yaml
from ..language.names import graph_name
from ..language.spec import Spec, run_spec
from ..to_keras.steps import BatchesPerCall


@dataclass
class Splits:
    """Prepared arrays: images ``(n, 28, 28)`` or ``(n, 784)`` float32 in
    0..255/scale, labels ``(n,)`` uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        out_dir: The run folder.
        history: Keras's ``History.history``: metric name -> one float per epoch.
        metrics: Final figures: ``train`` (last epoch), ``validation`` and
            ``test`` (``model.evaluate``) dicts of loss and metrics, plus
            ``fit_seconds`` (wall time in ``fit``, seconds) and sample counts.
        model: The trained ``keras.Sequential``.
        is_chief: False for the other workers of a multi-worker run, which
            write only their log (``<out_dir>/worker-<i>.log``).
    """

    out_dir: Path
    history: dict
    metrics: dict
    model: object = field(repr=False, default=None)
    is_chief: bool = True


@dataclass
class _Fitted:
    """What one way of training gives back to :func:`train`."""

    model: object
    history: dict
    validation: dict
    test: dict
    fit_seconds: float
    setup: dict
    is_chief: bool = True


def prepare(spec: Spec, data: FashionMNIST) -> Splits:
    """Scale, reshape and split the data as ``spec.data`` says.

    The uint8 images are split first and each part is then scaled once into a
    new float32 array (``np.divide(..., dtype=float32)``, no float64 and no
    intermediate copy), so the peak is about one float32 copy of the data:
    188 MB for the 60,000 training images instead of the notes' 2 x 376 MB
    of float64. The values are the same as scaling before the split.
    """
    def scaled(images: np.ndarray) -> np.ndarray:
        out = np.divide(images, np.float32(spec.scale), dtype=np.float32)
        return out.reshape((len(out),) + spec.input_shape)

    images, labels = data.train_images, data.train_labels
    if spec.train_samples is not None:
        images, labels = images[: spec.train_samples], labels[: spec.train_samples]
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=spec.test_size, random_state=spec.random_state)
    return Splits(scaled(x_train), y_train, scaled(x_val), y_val, scaled(data.test_images), data.test_labels)


def default_out_dir(spec: Spec) -> Path:
    """``runs/<spec file name without .yaml>``, or ``runs/<graph name>`` for specs from text."""
    stem = Path(spec.file).stem if not spec.file.startswith("<") else graph_name(spec.name)
    return Path("runs") / stem


def seed_everything(seed: int | None) -> None:
    """``keras.utils.set_random_seed(seed)`` and TensorFlow op determinism; nothing for None."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


_THREAD_WARNINGS: set = set()


def set_threads(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (``tf.config.threading``; 0: TensorFlow chooses).

    TensorFlow fixes them when it first runs an op; a later, different request
    (``train`` in a process that already used TensorFlow) cannot take effect
    and warns, once per process and setting.
    """
    import warnings

    import tensorflow as tf

    threading = tf.config.threading
    wanted = (intra_op, inter_op)
    current = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    if wanted == current:
        return
    try:
        threading.set_intra_op_parallelism_threads(intra_op)
        threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        if (current, wanted) not in _THREAD_WARNINGS:
            _THREAD_WARNINGS.add((current, wanted))
            warnings.warn(f"TensorFlow's thread pools are already running with intra/inter op threads "
                          f"{current}; the spec's threading {wanted} applies from the next process",
                          stacklevel=3)


def _evaluate(model, x, y, batch_size: int) -> dict:
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


class TrainingInterrupted(Exception):
    """Ctrl-C stopped :func:`train`. What was finished is kept in the run folder.

    Attributes:
        out_dir: The run folder (its ``backup/`` holds the last finished epoch).
        epochs_finished: Epochs finished and backed up.
        epochs: Epochs the run was asked for.
    """

    def __init__(self, out_dir: Path, epochs_finished: int, epochs: int):
        self.out_dir, self.epochs_finished, self.epochs = out_dir, epochs_finished, epochs
        super().__init__(f"interrupted after {epochs_finished} of {epochs} epochs")


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


def _facts(model, splits: Splits, source: str, epochs: int, fit_seconds: float, history: dict) -> dict:
    """The part of ``metrics.json`` every finished run has, whatever the strategy."""
    return {"train": {k: values[-1] for k, values in history.items() if not k.startswith("val_")},
            "epochs": epochs, "fit_seconds": fit_seconds,
            "samples": {"train": len(splits.y_train), "validation": len(splits.y_val),
                        "test": len(splits.y_test)},
            "parameters": int(model.count_params()), "data_source": source}


def _where_batch(spec: Spec, batch: int) -> str:
    """Keras checks the loss once per call of ``steps_per_execution`` batches."""
    if spec.steps_per_execution == 1:
        return f"batch {batch + 1}"
    return (f"by batch {batch + 1} (Keras looks at the loss once every "
            f"steps_per_execution={spec.steps_per_execution} batches)")


def _plan(model, spec: Spec, splits: Splits) -> BatchesPerCall:
    """``steps_per_execution`` batches of ``batch_size`` per ``train_step`` call (:mod:`fmnist_spec.to_keras.steps`).

    With XLA (``compile.jit_compile`` true) Keras's own loop is kept: XLA compiles the
    batch loop of :mod:`fmnist_spec.to_keras.steps` into code about 30 times slower on the CPU
    (22 s instead of 0.6 s per epoch of the notes' model, measured).
    """
    steps = 1 if model.jit_compile else spec.steps_per_execution
    return BatchesPerCall(spec.batch_size, steps, len(splits.y_train))


def write_curves(spec: Spec, history: dict, path: Path) -> None:
    """The run's learning curves (:func:`fmnist_spec.running.plots.learning_curves`),
    titled by the spec's file name (its display name may need fonts matplotlib lacks)."""
    from .plots import learning_curves

    title = Path(spec.file).stem if not spec.file.startswith("<") else graph_name(spec.name)
    learning_curves({title: history}, path, title=f"{title}: learning curves")


def _callbacks(out_dir: Path, nan_watch, tensorboard: str | Path | None = None) -> list:
    """CSVLogger first, so an epoch's row is on disk before its backup: a kill between
    the two makes the resumed run redo the epoch, and :func:`runs.read_log` keeps its last row.
    The backup is kept when ``fit`` ends (``delete_checkpoint=False``) and removed only once
    ``model.keras`` and ``metrics.json`` are written, so Ctrl-C while evaluating or saving
    can still be resumed (``fit`` then has no epoch left to run)."""
    import keras

    return [keras.callbacks.CSVLogger(str(out_dir / runs.LOG), append=True),
            keras.callbacks.BackupAndRestore(str(runs.backup_dir(out_dir)), double_checkpoint=True,
                                             delete_checkpoint=False),
            nan_watch] + ([keras.callbacks.TensorBoard(log_dir=str(tensorboard))] if tensorboard else [])


def _last_validation(history: dict, epochs: int) -> dict | None:
    """The figures of the validation pass after the last of ``epochs`` epochs in
    ``history`` (metric -> one value per epoch, None where an epoch was not
    validated), or None when that epoch was not validated or not reached.

    The weights have not changed since that pass, and it used the same data and
    batch size as ``model.evaluate`` would, so its figures are the same (a test
    checks) and the validation images need not be evaluated twice.
    """
    if len(history.get("loss", ())) != epochs:
        return None
    last = {key[len("val_"):]: values[-1] for key, values in history.items() if key.startswith("val_")}
    return last if last and None not in last.values() else None


def _history(history) -> dict:
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _build(spec: Spec, style: str | None, strategy=None):
    from ..to_keras.builder import build_model, compile_model

    if strategy is not None and spec.steps_per_execution != 1:
        # Keras 3.15's multi-step loop fails on a distributed dataset ("You must feed a value for
        # placeholder tensor ... while/cond/Placeholder_1"): one step per call under a strategy.
        spec = replace(spec, steps_per_execution=1)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(spec, style)
        compile_model(model, spec)
    return model


def _fit_mirrored(spec: Spec, splits: Splits, epochs: int, style, verbose) -> _Fitted:
    """``MirroredStrategy``: build and compile in its scope, ``model.fit`` on ``tf.data``."""
    from .distributed.strategy import global_batch_size, make_dataset, make_strategy

    strategy = make_strategy(spec.distribute)
    seed_everything(spec.seed)
    model = _build(spec, style, strategy)
    replicas = strategy.num_replicas_in_sync
    batch = global_batch_size(spec.distribute, spec.batch_size, replicas)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=spec.seed)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch)
    test_ds = make_dataset(splits.x_test, splits.y_test, batch)
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose, shuffle=False)
    fit_seconds = time.perf_counter() - start

    def evaluate(ds):
        return {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}

    devices = list(strategy.extended.worker_devices)
    return _Fitted(model, _history(history), evaluate(val_ds), evaluate(test_ds), fit_seconds,
                   {"strategy": "mirrored", "replicas": replicas, "workers": 1, "devices": devices,
                    "global_batch_size": batch})


def _cause(message: str) -> str:
    """The informative line of a TensorFlow runtime error (not "Graph execution error:")."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in ("aborted", "unhealthy", "Connection", "Deadline", "crashed")):
            return line[:300]
    useful = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node", "File "))]
    return (useful or lines or ["(no message)"])[0][:300]


def _fit_multi_worker(spec: Spec, splits: Splits, epochs: int, style, verbose, out_dir: Path,
                      cluster) -> _Fitted:
    """``MultiWorkerMirroredStrategy``: build in its scope, train with ``strategy.run`` steps,
    guarded by a watchdog; this process is one worker of ``cluster``."""
    from .distributed.cluster import Cluster, DistributeError, cluster_from_env, rendezvous, timeout_message
    from .distributed.strategy import Watchdog, WorkerLog, global_batch_size, guarded, make_dataset, make_strategy

    given = cluster
    cluster = cluster or cluster_from_env() or Cluster(("localhost:0",), 0)
    log = WorkerLog(out_dir / f"{cluster.name}.log", cluster.name)
    timeout = spec.distribute.timeout_seconds

    def expire(phase, waited):
        message = timeout_message(cluster, phase, timeout)
        log(message)
        print(message, file=sys.stderr, flush=True)

    log(f"starting: {cluster.name} of {len(cluster.workers)} worker(s) {', '.join(cluster.workers)}"
        f"{' (chief)' if cluster.is_chief else ''}, timeout {timeout:g} s")
    import tensorflow as tf

    from .distributed.strategy_loop import StrategyLoop

    try:
        waited = rendezvous(cluster, timeout, log)
    except DistributeError as exc:
        log(str(exc))
        log.close()
        raise
    log(f"every worker answered after {waited:.1f} s; forming the TensorFlow cluster "
        f"(a worker still stuck after {timeout:g} s exits with status 1)")
    watchdog = Watchdog(timeout, expire, "building the model")
    try:
        try:
            with guarded(timeout, log.file):
                strategy = make_strategy(spec.distribute, given)
            watchdog.start()
            replicas = strategy.num_replicas_in_sync
            log(f"cluster formed: {replicas} replica(s) in sync")
            seed_everything(spec.seed)
            model = _build(spec, style, strategy)
            loop = StrategyLoop(model, strategy, spec, watchdog.beat)
            batch = global_batch_size(spec.distribute, spec.batch_size, replicas)
            seed = spec.seed if spec.seed is not None else (spec.random_state or 0)
            train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=seed)
            val_ds = make_dataset(splits.x_val, splits.y_val, batch)
            test_ds = make_dataset(splits.x_test, splits.y_test, batch)
            echo = (lambda line: (log(line), print(line, flush=True))) if verbose != 0 else log
            start = time.perf_counter()
            history = loop.fit(train_ds, val_ds, epochs, log=echo)
            fit_seconds = time.perf_counter() - start
            validation = _last_validation(history, epochs)  # StrategyLoop validates every epoch
            test = loop.evaluate(test_ds, "evaluating the test set")
        except tf.errors.OpError as exc:
            first = _cause(exc.message or str(exc))
            log(f"failed while {watchdog.phase}: {type(exc).__name__}: {first}")
            raise DistributeError(f"{cluster.name} failed while {watchdog.phase}: {type(exc).__name__}: {first}\n"
                                  "  hint: another worker probably stopped; see its log") from None
        log(f"trained: validation {validation}, test {test}")
        return _Fitted(model, history, validation, test, fit_seconds,
                       {"strategy": "multi_worker_mirrored", "replicas": replicas,
                        "workers": len(cluster.workers) + (1 if cluster.chief else 0),
                        "global_batch_size": batch}, cluster.is_chief)
    finally:
        watchdog.stop()
        log.close()


def train(spec: Spec, *, epochs: int | None = None, out: str | Path | None = None,
          data_dir: str | Path | None = None, style: str | None = None,
          verbose=None, seed: int | None = None, data: FashionMNIST | None = None,
          resume: bool = False, tensorboard: str | Path | None = None, cluster=None) -> TrainResult:
    """Build, compile and fit ``spec`` on Fashion-MNIST and write the run folder.

    Args:
        spec: A checked spec; ``spec.distribute`` says where it trains.
        epochs: Overrides ``fit.epochs`` when given.
        out: The run folder (created); default :func:`default_out_dir`.
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.running.data`).
        style: Overrides ``spec.style`` (``"list"`` or ``"add"``).
        verbose: Overrides ``fit.verbose`` (0, 1, 2 or ``"auto"``).
        seed: Overrides ``seed`` (recorded in the run's ``spec.yaml``).
        data: Already loaded data (tests); default :func:`load_fashion_mnist`.
        resume: Continue the interrupted run in ``out`` from its last finished
            epoch (Keras's ``BackupAndRestore``).
        tensorboard: A directory for TensorBoard logs (``keras.callbacks.TensorBoard``).
        cluster: For ``multi_worker_mirrored``: this worker's
            :class:`fmnist_spec.running.distributed.strategy.Cluster`; None reads ``TF_CONFIG``.

    Returns:
        A :class:`TrainResult`. The run folder holds ``spec.yaml``,
        ``log.csv`` (Keras's ``CSVLogger``, one row per epoch), ``history.json``,
        ``learning_curves.png``, ``metrics.json`` (with ``status``) and,
        when the run finished, ``model.keras``; each JSON/YAML/Keras file is
        written atomically (see :mod:`fmnist_spec.running.run_folder`). A run whose loss
        became NaN stops (``TerminateOnNaN``), has ``status: nan_loss`` and no
        ``model.keras``. With a ``distribute`` strategy other than
        ``default`` (see :func:`_train_distributed`), a multi-worker run adds
        one ``<worker>.log`` per worker, and only the chief writes the files.

    Raises:
        fmnist_spec.running.data.DataError: Fashion-MNIST could not be loaded.
        fmnist_spec.running.run_folder.RunFolderError: ``resume`` with nothing to resume, an
            interrupted run in ``out`` without ``resume``, or a changed spec.
        TrainingInterrupted: Ctrl-C; the finished epochs are kept.
        fmnist_spec.running.distributed.strategy.DistributeError: a device is missing, or a
            collective step failed (a worker that waits longer than
            ``distribute.timeout_seconds`` exits with status 1 instead).
    """
    from ..to_keras.builder import build_model, compile_model

    spec = replace(spec, seed=seed) if seed is not None else spec
    epochs = epochs or spec.epochs
    out_dir = Path(out) if out is not None else default_out_dir(spec)
    if spec.distribute.strategy != "default":
        if resume:
            raise runs.RunFolderError("--resume works with the default strategy only; "
                                      f"this spec uses distribute.strategy {spec.distribute.strategy}")
        return _train_distributed(spec, epochs=epochs, out_dir=out_dir, data_dir=data_dir, style=style,
                                  verbose=verbose, data=data, cluster=cluster)
    resolved = run_spec(spec, epochs, style)
    out_dir.mkdir(parents=True, exist_ok=True)
    done_before = runs.prepare(out_dir, resolved, resume)
    data = data if data is not None else load_fashion_mnist(data_dir)
    splits = prepare(spec, data)
    set_threads(spec.intra_op_parallelism_threads, spec.inter_op_parallelism_threads)
    seed_everything(spec.seed)
    model = build_model(spec, style)
    compile_model(model, spec)
    write_yaml(out_dir / "spec.yaml", resolved)
    write_json(out_dir / "metrics.json", {"status": runs.RUNNING, "epochs": epochs,
                                          "resumed_from_epoch": done_before})
    nan_watch = _stop_on_nan()
    try:
        result = _fit_and_finish(model, spec, splits, data.source, out_dir, epochs, done_before,
                                 nan_watch, spec.verbose if verbose is None else verbose, tensorboard)
    except KeyboardInterrupt:
        finished = runs.backed_up_epochs(out_dir)
        write_json(out_dir / "history.json", runs.read_log(out_dir, finished))
        write_json(out_dir / "metrics.json", {"status": runs.INTERRUPTED, "epochs": epochs,
                                              "epochs_finished": finished, "resumed_from_epoch": done_before})
        raise TrainingInterrupted(out_dir, finished, epochs) from None
    runs.remove_backup(out_dir)
    return result


def _fit_and_finish(model, spec: Spec, splits: Splits, source: str, out_dir: Path, epochs: int,
                    done_before: int, nan_watch, verbose, tensorboard=None) -> TrainResult:
    """fit, then write history, metrics and (unless the loss became NaN) the model."""
    eval_batch = spec.validation_batch_size or spec.batch_size
    freq = spec.validation_freq if isinstance(spec.validation_freq, int) else list(spec.validation_freq)
    plan = _plan(model, spec, splits)
    nan_watch.batch_of = plan.last_batch
    callbacks = _callbacks(out_dir, nan_watch, tensorboard)
    if plan.steps > 1:
        callbacks.append(plan.progress_bar())  # counts batches, not calls
    start = time.perf_counter()
    with plan.installed(model):
        model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                  epochs=epochs, batch_size=plan.call_batch_size, validation_freq=freq,
                  validation_batch_size=eval_batch, callbacks=callbacks, verbose=verbose)
    fit_seconds = time.perf_counter() - start
    hist = runs.read_log(out_dir, epochs)
    write_json(out_dir / "history.json", hist)
    write_curves(spec, hist, out_dir / "learning_curves.png")
    common = {**_facts(model, splits, source, epochs, fit_seconds, hist), "resumed_from_epoch": done_before,
              "distribute": {"strategy": "default", "replicas": 1, "workers": 1,
                             "global_batch_size": spec.batch_size}}
    if nan_watch.where is not None:
        epoch, batch = nan_watch.where
        metrics = {"status": runs.NAN_LOSS, "stopped_at": {"epoch": epoch + 1, "batch": batch + 1}, **common,
                   "message": f"the loss became NaN or infinite in epoch {epoch + 1}, {_where_batch(spec, batch)}; "
                              "training was stopped (keras.callbacks.TerminateOnNaN) and no model was saved"}
        write_json(out_dir / "metrics.json", metrics)
        return TrainResult(out_dir, hist, metrics, model)
    metrics = {
        "status": runs.FINISHED,
        "validation": (_last_validation(hist, epochs)
                       or _evaluate(model, splits.x_val, splits.y_val, eval_batch)),
        "test": _evaluate(model, splits.x_test, splits.y_test, eval_batch),
        **common,
    }
    save_model(model, out_dir / "model.keras")
    write_json(out_dir / "metrics.json", metrics)
    return TrainResult(out_dir, hist, metrics, model)


def _train_distributed(spec: Spec, *, epochs: int, out_dir: Path, data_dir, style, verbose, data,
                       cluster) -> TrainResult:
    """:func:`train` under a ``mirrored`` or ``multi_worker_mirrored`` strategy.

    No backup, resume, NaN watch or learning-curve picture here: those belong
    to the default strategy's ``fit``. The chief writes ``spec.yaml``,
    ``history.json``, ``model.keras`` and ``metrics.json``.
    """
    data = data if data is not None else load_fashion_mnist(data_dir)
    splits = prepare(spec, data)
    verbose = spec.verbose if verbose is None else verbose
    out_dir.mkdir(parents=True, exist_ok=True)
    strategy = spec.distribute.strategy
    if strategy == "multi_worker_mirrored":
        fitted = _fit_multi_worker(spec, splits, epochs, style, verbose, out_dir, cluster)
    elif strategy == "mirrored":
        fitted = _fit_mirrored(spec, splits, epochs, style, verbose)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    hist = fitted.history
    metrics = {
        "status": runs.FINISHED,
        "validation": fitted.validation,
        "test": fitted.test,
        **_facts(fitted.model, splits, data.source, epochs, fitted.fit_seconds, hist),
        "distribute": fitted.setup,
    }
    if fitted.is_chief:
        write_yaml(out_dir / "spec.yaml", run_spec(spec, epochs, style))
        write_json(out_dir / "history.json", hist)
        save_model(fitted.model, out_dir / "model.keras")
        write_json(out_dir / "metrics.json", metrics)
    return TrainResult(out_dir, hist, metrics, fitted.model, fitted.is_chief)
