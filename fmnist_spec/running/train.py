"""``train``: prepare the data once, run the fitter of the spec's strategy, finish one way.

The path of a call (every strategy alike)::

    train -> guard_output -> Placement (lock, .partial folder, resume checks)
          -> load_fashion_mnist, prepare (Splits) -> set_threads -> device (warn: a GPU TensorFlow cannot use)
          -> fitter(strategy)(Job) -> Fitted        (fmnist_spec.running.fit)
          -> _finish: log.csv -> history.json, learning_curves.png (best epoch marked),
             model.keras, model.weights.h5, metrics.json -> Placement.publish (backup/ out, rename into place)

Where the spec trains follows its ``distribute`` section (see
:mod:`fmnist_spec.running.distributed.strategy`). In a multi-worker run only the
chief writes the run folder; every worker writes its own log.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..language.spec import Spec, run_spec
from . import device, monitored
from ..language.validation import require_compile
from .data import DataError, FashionMNIST, load_fashion_mnist
from .distributed.cluster import DistributeError
from .distributed.fit_workers import job_cluster  # registers the multi_worker_mirrored fitter
from .fit import Fitted, Job, backup_bytes, no_space_message  # registers default and mirrored
from .fitters import fitter
from .metrics import FAILED, FINISHED, INTERRUPTED, NAN_LOSS, RUNNING, Metrics
from .output import guarded_stdout
from .placement import (Placement, check_worker_target, default_out_dir, guard_output, guard_tensorboard,
                        run_title)
from .run_folder import RunFolder, RunFolderBusy, RunFolderError, RunWriteError
from .splits import Splits, prepare

__all__ = ["DataError", "DistributeError", "RunFolderBusy", "RunFolderError", "RunWriteError", "Splits",
           "TrainResult", "TrainingInterrupted", "default_out_dir", "prepare", "set_threads", "train",
           "with_dtype_policy"]


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        out_dir: The run folder (published; for another worker of a multi-worker
            run, the folder its ``worker-<i>.log`` is in).
        metrics: The run's :class:`Metrics` (``status`` finished or nan_loss).
        history: Keras's ``History.history``: metric -> one float (or None) per epoch.
        model: The trained ``keras.Sequential``.
        is_chief: False for the other workers of a multi-worker run, which write only their log.
        output_lost: True when writing progress to stdout failed (closed pipe, full
            device); training went on and the run folder is complete.
    """

    out_dir: Path
    metrics: Metrics
    history: dict
    model: object = field(repr=False, default=None)
    is_chief: bool = True
    output_lost: bool = False

    def _repr_pretty_(self, printer, cycle) -> None:
        """IPython's plain text: the figures of each split, as ``fmnist-spec train`` ends."""
        from ..notebook.displays import run_text

        printer.text(run_text(self))

    def _repr_html_(self) -> str:
        """A notebook's display: the figures table and the learning curves (inline PNG)."""
        from ..notebook.displays import run_html

        return run_html(self)


class TrainingInterrupted(Exception):
    """Ctrl-C stopped :func:`train`. Finished epochs are kept for ``--resume``.

    Attributes:
        out_dir: The run folder asked for (what ``--out`` ``--resume`` needs).
        epochs_finished: Epochs finished and backed up.
        epochs: Epochs the run was asked for.
        resumable: True when the backup records at least one finished epoch.
        partial_dir: Where the interrupted run waits (``.<name>.partial``).
    """

    def __init__(self, out_dir: Path, epochs_finished: int, epochs: int, resumable: bool,
                 partial_dir: Path | None = None):
        self.out_dir, self.epochs_finished, self.epochs = out_dir, epochs_finished, epochs
        self.resumable, self.partial_dir = resumable, partial_dir
        super().__init__(f"interrupted after {epochs_finished} of {epochs} epochs")


_THREAD_WARNINGS: set = set()
THREAD_KEYS = ("intra_op_parallelism_threads", "inter_op_parallelism_threads")
"""The ``threading`` keys of a spec, in :meth:`Spec.thread_counts`'s order."""


def set_threads(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (``tf.config.threading``; 0: TensorFlow chooses).

    TensorFlow fixes them when it first runs an op; a later, different request
    (``train`` in a process that already used TensorFlow) cannot take effect
    and warns, once per process and setting.
    """
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


def _where_batch(spec: Spec, batch: int) -> str:
    """Keras checks the loss once per call of ``steps_per_execution`` batches."""
    if spec.steps_per_execution == 1:
        return f"batch {batch + 1}"
    return (f"by batch {batch + 1} (Keras looks at the loss once every "
            f"steps_per_execution={spec.steps_per_execution} batches)")


def train(spec: Spec, *, out: str | Path | None = None, overwrite: bool = False, resume: bool = False,
          data_dir: str | Path | None = None, data: FashionMNIST | None = None,
          tensorboard: str | Path | None = None, verbose: int | str | None = None,
          probe: object = None, callbacks: tuple = (), progress: object = None) -> TrainResult:
    """Build, compile and fit ``spec`` on Fashion-MNIST and write its run folder.

    Epochs, seed, style and the cluster are spec values (``fit.epochs``, ``seed``,
    ``style``, ``distribute.workers``/``worker_index``, else ``TF_CONFIG``).

    Args:
        spec: A checked spec; ``spec.distribute`` says where it trains.
        out: The run folder; default :func:`default_out_dir`. See ``docs/run-folder.md``.
        overwrite: Replace a finished run in ``out`` (once the new run has ended), or discard
            an interrupted one.
        resume: Continue the interrupted run of ``out`` from its last finished epoch
            (``keras.callbacks.BackupAndRestore``; default and mirrored strategies).
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.running.data`).
        data: Already loaded data (tests); default :func:`load_fashion_mnist`.
        tensorboard: A directory for TensorBoard logs (``keras.callbacks.TensorBoard``).
        verbose: Overrides ``fit.verbose`` (0, 1, 2 or ``"auto"``): how much progress to print.
        probe: What tells where the run trains (tests); default
            :class:`fmnist_spec.running.device.SystemProbe`. When the machine has an NVIDIA GPU
            TensorFlow does not see, a warning with the fix goes to stderr and into ``metrics.json``.
        callbacks: More Keras callbacks, after the spec's own ``fit.callbacks`` (a search trial's
            pruning callback, :mod:`fmnist_spec.search.trial`); one that sets ``model.stop_training``
            ends the run early as ``EarlyStopping`` would, and the run folder is published as usual.
        progress: A Keras callback that shows the fit's progress instead of Keras's progress bar
            (``fit`` then runs with ``verbose=0``), e.g. the notebook's
            :func:`fmnist_spec.notebook.progress.live_progress`; None keeps ``verbose``.

    Returns:
        A :class:`TrainResult`; ``metrics.status`` is ``finished`` or ``nan_loss``
        (the loss became NaN: training stopped, no ``model.keras``).

    Raises:
        RunFolderError: bad output path, a ``tensorboard`` folder inside ``out`` or another run, a
            finished run without ``overwrite`` (also for another worker of a multi-worker run), nothing to
            resume, a changed spec, fewer epochs than already done (exit 2).
        RunFolderBusy: another process trains into ``out`` (exit 2, before any work).
        SpecError: the spec is build-only (no ``compile`` section; exit 2, before any work).
        DataError: Fashion-MNIST could not be loaded (exit 1).
        DistributeError: a device is missing, or a worker or collective step failed (exit 1).
        RunWriteError: the run folder could not be written (disk full); the last backup is kept (exit 1).
        TrainingInterrupted: Ctrl-C; the finished epochs are kept for ``resume`` (exit 130).
    """
    require_compile(spec, "train")
    target = guard_output(out if out is not None else default_out_dir(spec), spec.file)
    guard_tensorboard(tensorboard, target)
    probe = probe if probe is not None else device.SystemProbe()
    strategy = spec.distribute.strategy
    if resume and strategy == "multi_worker_mirrored":
        raise RunFolderError("--resume is not possible with distribute.strategy multi_worker_mirrored: its training "
                             "loop is fmnist-spec's own strategy step, not model.fit, so Keras's BackupAndRestore "
                             "cannot restore it\n  hint: start the run again without --resume")
    cluster = None
    if strategy == "multi_worker_mirrored":
        cluster = job_cluster(spec)
        if not cluster.is_chief:
            check_worker_target(target, overwrite)
            return _run_worker(with_dtype_policy(spec), target, cluster, data_dir, data, verbose, probe)
    if progress is not None:
        verbose = 0
    with Placement(target, run_spec(spec), resume=resume, overwrite=overwrite) as place:
        before = place.work.read_metrics() if place.done_before else None
        job = Job(with_dtype_policy(spec, before.dtype_policy if before else None), None, place.work, target,
                  place.done_before, spec.verbose if verbose is None else verbose, tensorboard, cluster,
                  tuple(callbacks), progress)
        return _train_placed(job, place, data_dir, data, probe)


def with_dtype_policy(spec: Spec, recorded: str | None = None) -> Spec:
    """``spec`` with the dtype policy this run trains under: ``recorded`` (what the interrupted run
    it resumes used), else the spec's ``auto`` resolved on this machine
    (:func:`fmnist_spec.to_keras.precision.resolve_dtype_policy`). A mixed policy the spec writes
    that the hardware lacks (``mixed_float16`` without a GPU) warns; Keras runs it all the same."""
    from ..to_keras.precision import PrecisionWarning, hardware_warning, resolve_dtype_policy

    policy = recorded or resolve_dtype_policy(spec).policy
    warning = hardware_warning(policy) if spec.dtype_policy != "auto" else None
    if warning:
        warnings.warn(warning, PrecisionWarning, stacklevel=3)
    return replace(spec, dtype_policy=policy)


def _warn_unused_gpu(probe) -> str | None:
    """Print and return :func:`fmnist_spec.running.device.gpu_warning`'s sentence, if any."""
    warning = device.gpu_warning(probe)
    if warning:
        print(f"warning: {warning}\n  hint: {device.GPU_FIX}", file=sys.stderr, flush=True)
    return warning


def _train_placed(job: Job, place: Placement, data_dir, data, probe) -> TrainResult:
    """Train into ``place.work`` and publish it; every way out leaves ``metrics.json`` saying what happened."""
    spec, work = job.spec, job.work
    metrics = Metrics(status=RUNNING, epochs=spec.epochs, resumed_from_epoch=job.done_before,
                      epochs_finished=job.done_before, dtype_policy=spec.dtype_policy)
    try:
        with guarded_stdout() as stdout:
            data = data if data is not None else load_fashion_mnist(data_dir)
            job.splits = prepare(spec, data)
            metrics.samples, metrics.data_source = job.splits.samples(), data.source
            work.write_spec(place.resolved)  # as written: dtype_policy auto stays auto
            work.write_metrics(metrics)
            set_threads(*spec.thread_counts())
            metrics.threading = dict(zip(THREAD_KEYS, spec.thread_counts()))
            warning = _warn_unused_gpu(probe)
            metrics.device = device.describe(probe, warning=warning)
            fitted = fitter(spec.distribute.strategy)(job)
            metrics.device = device.describe(probe, fitted.distribute, warning)
            _finish(job, fitted, metrics)
        place.publish()
    except KeyboardInterrupt:
        place.recover_backup()  # Ctrl-C while publishing: the backup goes back into .partial
        _record(work, metrics, INTERRUPTED, "interrupted by Ctrl-C")
        # Resumable once Keras's metadata records a finished epoch: Ctrl-C between an epoch's
        # weights and its training_metadata.json leaves a backup no resume can use.
        resumable = work.backed_up_epochs() > 0
        if not resumable:
            shutil.rmtree(work.path, ignore_errors=True)  # nothing a resume could use
        raise TrainingInterrupted(place.target.path, metrics.epochs_finished, spec.epochs, resumable,
                                  work.path if resumable else None) from None
    except (DataError, RunFolderError):
        if not work.has_backup():
            shutil.rmtree(work.path, ignore_errors=True)  # nothing was trained
        raise
    except RunWriteError as exc:
        _record(work, metrics, FAILED, str(exc).splitlines()[0])
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO):
            reason = os.strerror(exc.errno)  # h5py's strerror is HDF5's own text: "Unable to synchronously ..."
            need = backup_bytes(fitted.model) if "fitted" in locals() else 0
            message = no_space_message(work, need, shutil.disk_usage(work.path).free, f"the run's files ({reason})")
            _record(work, metrics, FAILED, message.splitlines()[0])
            raise RunWriteError(message) from None
        _record(work, metrics, FAILED, f"{type(exc).__name__}: {exc}")
        raise
    except BaseException as exc:
        _record(work, metrics, FAILED, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise
    return TrainResult(place.target.path, metrics, _read_history(place.target, fitted), fitted.model,
                       output_lost=stdout.lost)


def _read_history(folder: RunFolder, fitted: Fitted) -> dict:
    return folder.read_history() or fitted.history


def _record(work: RunFolder, metrics: Metrics, status: str, message: str) -> None:
    """Best effort: say in ``metrics.json`` and ``history.json`` how the run ended (the disk may be full)."""
    metrics.status, metrics.message = status, message
    metrics.epochs_finished = work.backed_up_epochs() if work.has_backup() else metrics.epochs_finished
    try:
        if work.path.is_dir():
            work.write_history(work.read_log(metrics.epochs_finished))
            work.write_metrics(metrics)
    except OSError:
        pass


LEARNING_RATE = "learning_rate"
"""The history column Keras adds for a ``ReduceLROnPlateau`` (the rate used during each epoch):
a setting, not a figure of the training data, so ``metrics.json`` keeps it apart from ``train``."""


def _finish(job: Job, fitted: Fitted, metrics: Metrics) -> None:
    """The one finishing step: history, learning curves, model and metrics into ``job.work``."""
    spec, work = job.spec, job.work
    history = work.read_log(spec.epochs)
    work.write_history(history)
    metrics.epochs_finished = len(history.get("loss", ()))
    for key, value in monitored.figures(spec, history, metrics.epochs_finished).items():
        setattr(metrics, key, value)
    work.write_curves(run_title(spec), history, metrics.best_epoch)
    metrics.train = {k: values[-1] for k, values in history.items()
                     if not k.startswith("val_") and k != LEARNING_RATE and values}
    metrics.learning_rate = (history.get(LEARNING_RATE) or [None])[-1]
    metrics.fit_seconds, metrics.parameters = fitted.fit_seconds, int(fitted.model.count_params())
    metrics.distribute = fitted.distribute
    if fitted.stopped_at is not None:
        epoch, batch = fitted.stopped_at
        metrics.status, metrics.stopped_at = NAN_LOSS, {"epoch": epoch + 1, "batch": batch + 1}
        metrics.stopped_epoch = None  # TerminateOnNaN stopped it, not EarlyStopping
        metrics.message = (f"the loss became NaN or infinite in epoch {epoch + 1}, {_where_batch(spec, batch)}; "
                           "training was stopped (keras.callbacks.TerminateOnNaN) and no model was saved")
    else:
        metrics.status, metrics.validation, metrics.test = FINISHED, fitted.validation, fitted.test
        need = backup_bytes(fitted.model)
        if shutil.disk_usage(work.path).free < need:
            raise RunWriteError(no_space_message(work, need, shutil.disk_usage(work.path).free, "model.keras"))
        work.save_model(fitted.model)
        work.save_weights(fitted.model)
    work.write_metrics(metrics)


def _run_worker(spec: Spec, target: RunFolder, cluster, data_dir, data, verbose, probe) -> TrainResult:
    """Another worker of a multi-worker run: train in step with the chief, write only its log."""
    target.path.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else load_fashion_mnist(data_dir)
    job = Job(spec, prepare(spec, data), None, target, 0, spec.verbose if verbose is None else verbose, None, cluster)
    set_threads(*spec.thread_counts())
    warning = _warn_unused_gpu(probe)
    with guarded_stdout() as stdout:
        fitted = fitter(spec.distribute.strategy)(job)
    history = fitted.history
    metrics = Metrics(status=NAN_LOSS if fitted.stopped_at else FINISHED, epochs=spec.epochs,
                      epochs_finished=len(history.get("loss", ())), validation=fitted.validation, test=fitted.test,
                      fit_seconds=fitted.fit_seconds, samples=job.splits.samples(),
                      parameters=int(fitted.model.count_params()), data_source=data.source,
                      distribute=fitted.distribute, dtype_policy=spec.dtype_policy,
                      threading=dict(zip(THREAD_KEYS, spec.thread_counts())),
                      device=device.describe(probe, fitted.distribute, warning))
    for key, value in monitored.figures(spec, history, metrics.epochs_finished).items():
        setattr(metrics, key, value)
    return TrainResult(target.path, metrics, history, fitted.model, is_chief=False, output_lost=stdout.lost)
