"""Cross-field checks of ``fit.callbacks`` and learning-rate schedules, one small function each.

Like :mod:`fmnist_spec.language.checks`, each check takes the schema-valid
spec as plain data with every default filled in
(:func:`fmnist_spec.language.schema.with_defaults`) and yields ``(path, message, hint)``; it does not know
about files or positions.

Keras's behaviour they guard against (Keras 3):

- a callback whose ``monitor`` is not in the epoch's logs only warns ("Early
  stopping conditioned on metric `val_loss` which is not available") and then
  does nothing, so a typo or a sparse ``validation_freq`` silently disables it;
- ``mode: max`` on a loss makes ``EarlyStopping`` stop on the first epoch that
  improves and ``ModelCheckpoint`` keep the worst model;
- ``ModelCheckpoint`` raises at ``fit`` unless ``filepath`` ends in ``.keras``
  (whole model) or ``.weights.h5`` (``save_weights_only: true``);
- ``ReduceLROnPlateau`` cannot set the rate of an optimizer whose
  ``learning_rate`` is a schedule (Keras raises when it first reduces).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import PurePosixPath, PureWindowsPath

from .schema import default

Finding = tuple

RUN_FOLDER_FILES = ("model.keras", "spec.yaml", "log.csv", "history.json", "metrics.json", "backup")
"""Names a run folder already uses (``fmnist_spec.running.run_folder``); a checkpoint may not take them."""

_MAXIMISED = ("accuracy",)
"""Keras's ``mode: auto`` maximises a monitored quantity whose name ends in one of these."""


def _callbacks(spec: dict):
    return list(enumerate(spec.get("fit", {}).get("callbacks", [])))


def _validates_every_epoch(spec: dict) -> bool:
    freq = spec.get("fit", {}).get("validation_freq", 1)
    return freq == 1 and not isinstance(freq, bool)


def recorded_quantities(spec: dict) -> list[str]:
    """History keys every epoch of the run has: ``loss``, each metric, and their ``val_``
    forms when validation runs after every epoch (``fit.validation_freq: 1``)."""
    names = ["loss"] + list(spec["compile"].get("metrics", []))
    return names + (["val_" + n for n in names] if _validates_every_epoch(spec) else [])


def maximised(monitor: str) -> bool:
    """True for quantities that should go up (accuracies), as Keras's ``mode: auto`` decides."""
    return monitor.endswith(_MAXIMISED)


def check_monitor_is_recorded(spec: dict) -> Iterator[Finding]:
    """A callback's ``monitor`` names a quantity every epoch records."""
    recorded = recorded_quantities(spec)
    for i, callback in _callbacks(spec):
        monitor = callback["monitor"]
        if monitor in recorded:
            continue
        path = ("fit", "callbacks", i, "monitor")  # located at the callback when monitor is left out
        where = " (Keras's default monitor)" if monitor == default("$defs", callback["type"], "monitor") else ""
        if monitor.startswith("val_") and not _validates_every_epoch(spec):
            freq = spec["fit"]["validation_freq"]
            extra = (" and restore_best_weights would have no best epoch to restore"
                     if callback.get("restore_best_weights") else "")
            yield (path, f"{callback['type']} watches {monitor}{where}, but fit.validation_freq is {freq!r}, "
                         f"so {monitor} is missing from most epochs: Keras would skip the callback there with "
                         f"only a warning{extra}",
                   "set fit.validation_freq: 1 (validate after every epoch), or monitor: "
                   + monitor[len("val_"):])
        else:
            metric = monitor.removeprefix("val_")
            yield (path, f"{callback['type']} watches {monitor}{where}, which the run does not record; it "
                         f"records {', '.join(recorded)}",
                   f"add {metric} to compile.metrics, or monitor one of: {', '.join(recorded)}")


def check_mode_fits_monitor(spec: dict) -> Iterator[Finding]:
    """``mode: max`` for a loss, or ``mode: min`` for an accuracy, would keep the worst epoch."""
    for i, callback in _callbacks(spec):
        mode = callback.get("mode", "auto")
        monitor = callback.get("monitor", "val_loss")
        if mode == "auto" or (mode == "max") == maximised(monitor):
            continue
        right = "max" if maximised(monitor) else "min"
        yield (("fit", "callbacks", i, "mode"),
               f"mode {mode} treats a {'larger' if mode == 'max' else 'smaller'} {monitor} as better, but "
               f"{monitor} improves as it {'rises' if right == 'max' else 'falls'}: {callback['type']} would "
               f"keep the worst epoch", f"write mode: {right}, or leave mode out (auto picks {right})")


def _leaves_folder(filepath: str) -> bool:
    posix, windows = PurePosixPath(filepath), PureWindowsPath(filepath)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or filepath.startswith(("~", "\\")):
        return True
    depth = 0
    for part in filepath.replace("\\", "/").split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            return True
    return False


def check_checkpoint_file(spec: dict) -> Iterator[Finding]:
    """A checkpoint file stays inside the run folder, has the suffix Keras requires, and
    overwrites neither the run's own files nor another checkpoint."""
    seen: dict = {}
    for i, callback in _callbacks(spec):
        if callback["type"] != "ModelCheckpoint":
            continue
        path = ("fit", "callbacks", i, "filepath")
        filepath = callback["filepath"]
        weights_only = callback.get("save_weights_only", False)
        normal = "/".join(p for p in filepath.replace("\\", "/").split("/") if p not in ("", "."))
        if _leaves_folder(filepath):
            yield (path, f"filepath {filepath!r} leaves the run folder; checkpoints are written inside it, "
                         "so that a run never overwrites files outside its folder",
                   "give a name relative to the run folder, e.g. filepath: best-model.keras")
        elif normal.split("/")[0] in RUN_FOLDER_FILES:
            yield (path, f"filepath {filepath!r} is a file the run folder already uses "
                         f"({', '.join(RUN_FOLDER_FILES)}); the checkpoint would overwrite it",
                   "choose another name, e.g. filepath: best-model.keras")
        elif normal in seen:
            yield (path, f"filepath {filepath!r} is also written by fit.callbacks[{seen[normal]}]; the two "
                         "checkpoints would overwrite each other", "give each checkpoint its own filepath")
        elif weights_only and not filepath.endswith(".weights.h5"):
            yield (path, f"filepath {filepath!r} does not end in .weights.h5, which Keras requires when "
                         "save_weights_only is true", "write e.g. filepath: best.weights.h5")
        elif not weights_only and not filepath.endswith(".keras"):
            hint = ("add save_weights_only: true to save weights only" if filepath.endswith(".weights.h5")
                    else "write e.g. filepath: best-model.keras (Keras 3 no longer writes .h5 or SavedModel "
                         "folders from ModelCheckpoint)")
            yield (path, f"filepath {filepath!r} does not end in .keras, which Keras requires for saving the "
                         "whole model (save_weights_only: false)", hint)
        seen.setdefault(normal, i)


def _schedule(spec: dict) -> dict | None:
    optimizer = spec["compile"].get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("learning_rate"), dict):
        return optimizer["learning_rate"]
    return None


def check_reduce_lr_has_a_fixed_rate(spec: dict) -> Iterator[Finding]:
    """ReduceLROnPlateau sets the optimizer's rate, which a schedule owns."""
    schedule = _schedule(spec)
    if schedule is None:
        return
    for i, callback in _callbacks(spec):
        if callback["type"] == "ReduceLROnPlateau":
            yield (("fit", "callbacks", i, "type"),
                   f"ReduceLROnPlateau changes the optimizer's learning rate, but the rate here is a schedule "
                   f"({schedule['type']}); Keras raises when the callback first reduces it",
                   "use one of the two: a fixed learning_rate with ReduceLROnPlateau, or the schedule alone")


def check_piecewise_schedule(spec: dict) -> Iterator[Finding]:
    """PiecewiseConstantDecay has one more value than boundaries, and increasing boundaries."""
    schedule = _schedule(spec)
    if schedule is None or schedule["type"] != "PiecewiseConstantDecay":
        return
    base = ("compile", "optimizer", "learning_rate")
    boundaries, values = schedule["boundaries"], schedule["values"]
    if any(later <= earlier for earlier, later in pairwise(boundaries)):
        yield (base + ("boundaries",), f"boundaries {boundaries} are not increasing",
               "list the steps where the rate changes in increasing order")
    if len(values) != len(boundaries) + 1:
        yield (base + ("values",),
               f"{len(values)} values for {len(boundaries)} boundaries; PiecewiseConstantDecay needs one more "
               f"value than boundaries ({len(boundaries) + 1}): one before the first boundary and one after each",
               f"give {len(boundaries) + 1} values")


CHECKS = [
    check_monitor_is_recorded,
    check_mode_fits_monitor,
    check_checkpoint_file,
    check_reduce_lr_has_a_fixed_rate,
    check_piecewise_schedule,
]
"""The callback and schedule checks, in the order they run."""
