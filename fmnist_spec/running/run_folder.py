"""The run folder: one type that owns its file names and reads and writes them.

A published run folder (``runs/relu_adam/``) holds::

    spec.yaml            the resolved spec (every default filled in)
    log.csv              one row per finished epoch (keras.callbacks.CSVLogger)
    history.json         the same figures as lists, one value per epoch (null for NaN)
    learning_curves.png  loss and accuracy per epoch
    metrics.json         final figures and status (:class:`fmnist_spec.running.metrics.Metrics`)
    model.keras          the trained model (status finished only)
    model.weights.h5     the same weights in Keras's save_weights format (status finished only)
    worker-<i>.log       multi-worker runs: one log per worker

While a run trains it lives in ``.<name>.partial/`` beside the target, with
``backup/`` (``keras.callbacks.BackupAndRestore``'s state after the last
finished epoch); an interrupted run stays there for ``train --resume``.
``.<name>.lock`` beside the target is the lock a training process holds.
See ``docs/run-folder.md``. Imports no TensorFlow.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import yaml

from ..files import atomic_write, remove_stale_temporaries, save_model, write_json, write_yaml
from .metrics import Metrics


class RunFolderError(Exception):
    """The run folder does not fit what was asked (nothing to resume, a changed
    spec, a finished run without ``--overwrite``, an output path that would
    overwrite something else). The message says what to do; the CLI exits 2."""


class RunFolderBusy(RunFolderError):
    """Another process holds the run folder's lock; raised before any work."""


class RunWriteError(Exception):
    """The run folder could not be written (disk full, read-only, I/O error).
    The message names the path and what is left usable; the CLI exits 1."""


class RunFolder:
    """A run folder's files (see the module doc). ``RunFolder("runs/x")`` touches nothing."""

    SPEC, MODEL, METRICS, HISTORY = "spec.yaml", "model.keras", "metrics.json", "history.json"
    LOG, CURVES, BACKUP, WEIGHTS = "log.csv", "learning_curves.png", "backup", "model.weights.h5"
    FILES = (SPEC, LOG, HISTORY, CURVES, METRICS, MODEL, WEIGHTS)
    """Every file a finished single-process run has."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- names ------------------------------------------------------------------------------
    spec_path = property(lambda self: self.path / self.SPEC)
    model_path = property(lambda self: self.path / self.MODEL)
    weights_path = property(lambda self: self.path / self.WEIGHTS)
    metrics_path = property(lambda self: self.path / self.METRICS)
    history_path = property(lambda self: self.path / self.HISTORY)
    log_path = property(lambda self: self.path / self.LOG)
    curves_path = property(lambda self: self.path / self.CURVES)
    backup_path = property(lambda self: self.path / self.BACKUP)

    def worker_log(self, name: str) -> Path:
        """``<folder>/<name>.log``, e.g. ``worker-1.log``."""
        return self.path / f"{name}.log"

    @property
    def partial(self) -> RunFolder:
        """``<parent>/.<name>.partial``: where this run trains and where an interrupted run waits."""
        return RunFolder(self.path.parent / f".{self.path.name}.partial")

    @property
    def lock_path(self) -> Path:
        """``<parent>/.<name>.lock``: the lock file (outside the folder, which is renamed)."""
        return self.path.parent / f".{self.path.name}.lock"

    # -- reading ----------------------------------------------------------------------------
    def holds_run(self) -> bool:
        """True when ``metrics.json`` exists (written first, with status running)."""
        return self.metrics_path.is_file()

    def read_metrics(self) -> Metrics | None:
        """The run's :class:`Metrics`, or None without a readable ``metrics.json``."""
        try:
            return Metrics.from_dict(json.loads(self.metrics_path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def read_spec(self) -> dict | None:
        """The resolved spec in ``spec.yaml``, or None."""
        try:
            data = yaml.safe_load(self.spec_path.read_text("utf-8"))
        except (OSError, yaml.YAMLError):
            return None
        return data if isinstance(data, dict) else None

    def read_history(self) -> dict:
        """``history.json``: metric -> one value per epoch; ``{}`` when missing."""
        try:
            return json.loads(self.history_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def read_log(self, epochs: int | None = None) -> dict:
        """The history in ``log.csv`` (see :func:`read_log`)."""
        return read_log(self.path, epochs)

    # -- writing (each file atomically) -----------------------------------------------------
    def write_spec(self, resolved: dict) -> None:
        write_yaml(self.spec_path, resolved)

    def write_metrics(self, metrics: Metrics) -> None:
        write_json(self.metrics_path, metrics.as_dict())

    def write_history(self, history: dict) -> None:
        write_json(self.history_path, history)

    def save_model(self, model) -> None:
        save_model(model, self.model_path)

    def save_weights(self, model) -> None:
        """``model.save_weights`` into ``model.weights.h5`` (atomically), for ``model.load_weights``."""
        atomic_write(self.weights_path, lambda tmp: model.save_weights(str(tmp)), suffix=".weights.h5")

    def write_curves(self, title: str, history: dict, best_epoch: int | None = None) -> dict:
        """Draw ``learning_curves.png``; with ``best_epoch`` (1-based) that epoch is marked.
        Returns what :func:`fmnist_spec.running.plots.learning_curves` marked."""
        from .plots import learning_curves

        return learning_curves({title: history}, self.curves_path, title=f"{title}: learning curves",
                               best_epochs={title: best_epoch} if best_epoch else None)

    def remove_temporaries(self) -> None:
        """Delete temporary files of writers that were killed (their pid is gone), in the folder
        and its subfolders (a checkpoint's ``filepath`` may name one); links are not followed."""
        if self.path.is_dir() and not self.path.is_symlink():
            for directory, _, _ in os.walk(self.path):
                remove_stale_temporaries(directory)

    # -- the backup of an interrupted run ---------------------------------------------------
    def has_backup(self) -> bool:
        return self.backup_path.is_dir() and any(self.backup_path.iterdir())

    def backed_up_epochs(self) -> int:
        """Epochs finished according to Keras's ``training_metadata.json``; 0 if none."""
        for name in ("training_metadata.json", "training_metadata.json.bkp"):
            epoch = _metadata_epoch(self.backup_path / name)
            if epoch is not None:
                return epoch
        return 0

    def check_backup(self) -> int:
        """Make sure the backup can be restored; return its epochs.

        Keras writes ``latest.weights.h5`` and ``training_metadata.json`` after each
        epoch and keeps the previous pair as ``*.bkp`` (``double_checkpoint``). A pair
        whose HDF5 file does not open or whose metadata does not parse (a write cut
        short by a full disk or a kill) is replaced by the previous pair.

        Raises:
            RunFolderError: neither pair is usable; the message says how to discard it.
        """
        latest = (self.backup_path / "latest.weights.h5", self.backup_path / "training_metadata.json")
        previous = tuple(p.with_name(p.name + ".bkp") for p in latest)
        problem = _pair_problem(*latest)
        if problem is None:
            return _metadata_epoch(latest[1])
        if _pair_problem(*previous) is None:
            for source, target in zip(previous, latest):
                shutil.copyfile(source, target)
            return _metadata_epoch(latest[1])
        raise RunFolderError(
            f"{self.backup_path}: the backup of the interrupted run is damaged ({problem}) and has no usable "
            f"previous copy\n  hint: run again with --overwrite instead of --resume to discard it and start again")

    def remove_backup(self) -> None:
        shutil.rmtree(self.backup_path, ignore_errors=True)


def _metadata_epoch(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text("utf-8"))["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pair_problem(weights: Path, metadata: Path) -> str | None:
    """Why a backup's weights and metadata cannot be restored, or None."""
    if _metadata_epoch(metadata) is None:
        return f"{metadata.name} is missing or unreadable"
    try:
        import h5py

        with h5py.File(weights, "r") as fh:
            fh.visit(lambda name: None)  # reads every group header
    except Exception as exc:  # h5py raises OSError, KeyError or RuntimeError for damaged files
        return f"{weights.name} does not open: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}"
    return None


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_log(out_dir: str | Path, epochs: int | None = None) -> dict:
    """The history in ``log.csv``: metric -> one value per epoch, epochs in order.

    An epoch logged twice (its row was written, then the process died before
    the backup of that epoch, so the resumed run did it again) keeps its last
    row. Rows cut short by a kill are skipped. NaN and infinite values become
    None (JSON has no NaN).

    Args:
        out_dir: The run folder.
        epochs: Keep only epochs ``0 .. epochs - 1`` (None: all).
    """
    path = Path(out_dir) / RunFolder.LOG
    if not path.is_file():
        return {}
    rows: dict = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                epoch = int(row.pop("epoch"))
            except (TypeError, ValueError):
                continue
            if None in row.values() or None in row:
                continue  # a row cut short
            if epochs is None or epoch < epochs:
                rows[epoch] = {key: _number(value) for key, value in row.items()}
    history: dict = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            history.setdefault(key, []).append(value)
    return history
