"""The run folder of ``train``: its files, its status, and resuming an interrupted run.

A run folder holds, when a run has finished::

    spec.yaml      the resolved spec (written first)
    log.csv        one row per finished epoch (keras.callbacks.CSVLogger, append mode)
    history.json   the same figures as lists, one value per epoch
    metrics.json   final figures and "status": "finished", "nan_loss" or "interrupted"
    model.keras    the trained model (finished runs only)

While a run is going, and after it was interrupted, ``backup/`` holds
``keras.callbacks.BackupAndRestore``'s state as of the last finished epoch;
it is deleted once the results are written. ``train --resume`` continues from
it. Imports no TensorFlow.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import yaml

LOG = "log.csv"
BACKUP = "backup"
FINISHED, NAN_LOSS, INTERRUPTED, RUNNING = "finished", "nan_loss", "interrupted", "running"
"""Values of ``status`` in metrics.json."""


class RunFolderError(Exception):
    """The run folder does not fit what was asked (``--resume`` with nothing to
    resume, an interrupted run without ``--resume``, or a changed spec). The
    message says what to do; the CLI exits with status 2."""


def backup_dir(out_dir: str | Path) -> Path:
    """``<out_dir>/backup``, the ``backup_dir`` of ``keras.callbacks.BackupAndRestore``."""
    return Path(out_dir) / BACKUP


def has_backup(out_dir: str | Path) -> bool:
    """True when an interrupted run left a backup in ``out_dir``."""
    directory = backup_dir(out_dir)
    return directory.is_dir() and any(directory.iterdir())


def remove_backup(out_dir: str | Path) -> None:
    """Delete ``backup/`` once the run's results are written."""
    shutil.rmtree(backup_dir(out_dir), ignore_errors=True)


def backed_up_epochs(out_dir: str | Path) -> int:
    """Epochs finished according to the backup (Keras's ``training_metadata.json``); 0 if none."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = backup_dir(out_dir) / name
        try:
            return int(json.loads(path.read_text("utf-8"))["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0


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
    path = Path(out_dir) / LOG
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


def logged_epochs(out_dir: str | Path) -> list[int]:
    """Epoch numbers (0-based) present in ``log.csv``, each once, in order."""
    path = Path(out_dir) / LOG
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        found = {int(row["epoch"]) for row in csv.DictReader(fh) if (row.get("epoch") or "").isdigit()}
    return sorted(found)


def _comparable(resolved: dict) -> dict:
    """The resolved spec without what may change on resume (epochs, warning settings)."""
    data = json.loads(json.dumps(resolved))
    data.get("fit", {}).pop("epochs", None)
    data.pop("warnings", None)
    return data


def prepare(out_dir: Path, resolved: dict, resume: bool) -> int:
    """Get ``out_dir`` ready for a fresh or a resumed run; return the epochs already done.

    Raises:
        RunFolderError: ``resume`` without a backup; a backup without
            ``resume``; or a resumed spec that differs from the one the run
            started with (other than ``fit.epochs``).
    """
    interrupted = has_backup(out_dir)
    if resume and not interrupted:
        raise RunFolderError(
            f"{out_dir}: nothing to resume (no {BACKUP}/ folder: the run finished, or "
            "never finished an epoch); run without --resume to start again"
        )
    if interrupted and not resume:
        done = backed_up_epochs(out_dir)
        raise RunFolderError(
            f"{out_dir} holds an interrupted run ({done} epoch(s) finished); continue it "
            f"with --resume, or remove {backup_dir(out_dir)} to start again"
        )
    if resume:
        if not (out_dir / "spec.yaml").is_file():
            raise RunFolderError(
                f"{out_dir}: spec.yaml is missing, so the backup cannot be matched to a "
                f"spec; remove {backup_dir(out_dir)} to start again"
            )
        previous = yaml.safe_load((out_dir / "spec.yaml").read_text("utf-8"))
        if _comparable(previous) != _comparable(resolved):
            raise RunFolderError(
                f"{out_dir}: the spec differs from the one the interrupted run started "
                f"with ({out_dir / 'spec.yaml'}); resume with that spec, or start a new "
                "run in another --out"
            )
        return backed_up_epochs(out_dir)
    for name in (LOG, "history.json", "metrics.json", "model.keras"):
        (out_dir / name).unlink(missing_ok=True)
    remove_backup(out_dir)
    return 0
