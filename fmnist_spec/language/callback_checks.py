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

import difflib
import re
import string
import unicodedata
from collections.abc import Iterator
from itertools import pairwise
from pathlib import PurePosixPath, PureWindowsPath

from .schema import default

Finding = tuple

RUN_FOLDER_FILES = ("spec.yaml", "log.csv", "history.json", "learning_curves.png", "metrics.json", "model.keras",
                    "model.weights.h5", "backup")
"""Names a run folder already uses (``RunFolder.FILES`` and ``RunFolder.BACKUP`` of
``fmnist_spec.running.run_folder``, ``docs/run-folder.md``; a test checks they agree); a checkpoint
may be none of them nor inside one. ``worker-<i>.log`` cannot clash: a checkpoint ends in
``.keras`` or ``.weights.h5``."""

_RESERVED = {(name.casefold(),) for name in RUN_FOLDER_FILES}

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
    for part in _parts(filepath):
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _parts(filepath: str) -> list[str]:
    """The path's components, ``.`` and empty ones dropped, either slash a separator."""
    return [p for p in filepath.replace("\\", "/").split("/") if p not in ("", ".")]


def _normal(filepath: str) -> tuple:
    """What two names that name one file share on any file system: NFC, case folded."""
    return tuple(unicodedata.normalize("NFC", p).casefold() for p in _parts(filepath))


MAX_FORMAT_DIGITS = 32
"""The largest width and precision of a ``{field:spec}`` in a checkpoint's ``filepath``: Keras
formats the path with ``str.format`` after each epoch, and ``{epoch:>1500000000}`` asks for a
1.5-GB string."""

_FORMAT_SPEC = re.compile(r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?0?(?P<width>\d+)?[,_]?"
                          r"(?:\.(?P<precision>\d+))?(?P<type>[a-zA-Z%])?", re.DOTALL)
"""Python's format-spec mini-language (``[[fill]align][sign][z][#][0][width][grouping][.precision][type]``)."""

_TYPES = {"epoch": "dboxXeEfFgG%", "metric": "eEfFgG%"}
"""Presentation types a field may take: ``epoch`` is an int, the logs' values are floats. ``c``
(a character: epoch 47 is ``/``), ``n`` (the locale's) and ``s`` are not among them."""


def filepath_fields(spec: dict) -> list[str]:
    """The names a ``ModelCheckpoint``'s ``filepath`` may format: ``epoch`` (1-based, an int) and
    the keys of each epoch's logs (floats): :func:`recorded_quantities`, plus ``learning_rate``
    with a ``ReduceLROnPlateau``. Keras fills them with ``filepath.format(epoch=epoch + 1, **logs)``."""
    names = ["epoch"] + recorded_quantities(spec)
    if any(c["type"] == "ReduceLROnPlateau" for _, c in _callbacks(spec)):
        names.append("learning_rate")
    return names


def _example(name: str) -> str:
    return "{epoch:03d}" if name == "epoch" else f"{{{name}:.4f}}"


def _field_problem(name: str, conversion, format_spec: str, fields: list[str]):
    """Why one ``{name!conversion:format_spec}`` of a filepath cannot be formatted safely, as
    ``(message, hint)``, or None."""
    if name == "" or name.isdigit():
        return (f"{{{name}}} is a positional field; Keras fills the path by name only",
                f"name a field: {{epoch}} or one of {', '.join(fields[1:])}, or write {{{{ and }}}} for braces")
    if name not in fields:
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if base in fields:
            return (f"{{{name}}} reads an attribute or item of {base}; only plain fields are formatted",
                    f"write {{{base}}} with a format spec, e.g. {_example(base)}")
        close = difflib.get_close_matches(name, fields, n=1, cutoff=0.5)
        if not close and name.removeprefix("val_") in ("acc", "ce"):
            close = [name.replace("acc", "accuracy")] if name.replace("acc", "accuracy") in fields else []
        hint = f"did you mean {close[0]}?" if close else "use one of them, or write {{ and }} for a literal brace"
        return ((f"{{{name}}} is not a key of the run's epoch logs, so Keras would fail after the first epoch "
                f"(KeyError); the path may format: {', '.join(fields)}"), hint)
    if conversion is not None:
        return ((f"{{{name}!{conversion}...}} converts the value to a string first, whose format spec can cut or "
                "pad it into any text (even '..')"), f"leave out !{conversion}, e.g. {_example(name)}")
    if "{" in format_spec:
        return (f"{{{name}:{format_spec}}} nests a field in the format spec", f"write a fixed spec, e.g. {_example(name)}")
    match = _FORMAT_SPEC.fullmatch(format_spec)
    if match is None:
        return (f"{{{name}:{format_spec}}}: {format_spec!r} is not a format spec", "e.g. {epoch:03d} or {val_loss:.4f}")
    if match["fill"] is not None and (match["fill"] in "/\\." or not match["fill"].isprintable()):
        return (f"{{{name}:{format_spec}}} pads with {match['fill']!r}, which would put it into the path",
                f"pad with 0 or leave the fill out, e.g. {{{name}:0>3}}")
    for part in ("width", "precision"):
        if match[part] is not None and int(match[part]) > MAX_FORMAT_DIGITS:
            return ((f"{{{name}:{format_spec}}} asks for a {part} of {int(match[part]):,} characters (at most "
                    f"{MAX_FORMAT_DIGITS}); Keras would build that string after every epoch"),
                    f"use a small {part}, e.g. {_example(name)}")
    kind = "epoch" if name == "epoch" else "metric"
    if match["type"] is not None and match["type"] not in _TYPES[kind]:
        what = "an int" if kind == "epoch" else "a float"
        return ((f"{{{name}:{format_spec}}}: presentation type {match['type']!r} does not format {name}, "
                f"{what}, as a file name part"), f"use one of {', '.join(_TYPES[kind])}")
    try:
        format(1 if kind == "epoch" else 0.5, format_spec)
    except ValueError as exc:
        return f"{{{name}:{format_spec}}}: {exc}", "e.g. {epoch:03d} or {val_loss:.4f}"
    return None


def _format_problem(filepath: str, fields: list[str]):
    """Why Keras could not format ``filepath`` safely after an epoch, as ``(message, hint)``, or None."""
    try:
        parsed = list(string.Formatter().parse(filepath))
    except ValueError as exc:
        return ((f"filepath {filepath!r} is not a valid format string ({exc}); Keras formats it with str.format "
                "after every epoch"), "write {{ and }} for literal braces")
    for _, name, format_spec, conversion in parsed:
        if name is not None:
            problem = _field_problem(name, conversion, format_spec, fields)
            if problem:
                return f"filepath {filepath!r}: {problem[0]}", problem[1]
    return None


def rendered_filepaths(filepath: str, fields: list[str]) -> list[str]:
    """``filepath`` as Keras formats it after epochs 1, 10 and 1000 with sample values of the logs
    (0.5, 12.25, NaN); call only after :func:`_format_problem` found nothing."""
    samples = ((1, 0.5), (10, 12.25), (1000, float("nan")))
    return [filepath.format(**{n: epoch if n == "epoch" else value for n in fields}) for epoch, value in samples]


def check_checkpoint_file(spec: dict) -> Iterator[Finding]:
    """A checkpoint file's ``filepath`` formats (Keras's ``str.format`` with ``epoch`` and the logs'
    keys) into a path inside the run folder, has the suffix Keras requires, and overwrites neither
    the run's own files nor another checkpoint (a name that normalises to another's, or a folder
    of one)."""
    fields = filepath_fields(spec)
    seen: dict = {}
    for i, callback in _callbacks(spec):
        if callback["type"] != "ModelCheckpoint":
            continue
        path = ("fit", "callbacks", i, "filepath")
        filepath = callback["filepath"]
        weights_only = callback.get("save_weights_only", False)
        problem = _format_problem(filepath, fields)
        if problem:
            yield (path, *problem)
            continue
        rendered = rendered_filepaths(filepath, fields)
        shown = filepath if rendered[0] == filepath else f"{filepath} (formatted: {rendered[0]})"
        normal = _normal(rendered[0])
        clash = next((j for j, other in seen.items() if other[:len(normal)] == normal or normal[:len(other)] == other),
                     None)
        if any(_leaves_folder(r) for r in rendered):
            yield (path, (f"filepath {shown!r} leaves the run folder; checkpoints are written inside it, so that a "
                         "run never overwrites files outside its folder"),
                   "give a name relative to the run folder, e.g. filepath: best-model.keras")
        elif any(".." in _parts(r) for r in rendered):
            yield (path, (f"filepath {shown!r} goes up a folder with '..'; a checkpoint's path only goes down from "
                         "the run folder, so that it lands neither outside it nor on the run's own files"),
                   "write the path without '..', e.g. filepath: checkpoints/best-model.keras")
        elif any(_normal(r)[:1] in _RESERVED for r in rendered):
            yield (path, (f"filepath {shown!r} is or is inside a file the run folder already uses "
                         f"({', '.join(RUN_FOLDER_FILES)}); the checkpoint would overwrite it"),
                   "choose another name, e.g. filepath: best-model.keras")
        elif clash is not None:
            yield (path, (f"filepath {shown!r} and fit.callbacks[{clash}]'s name one file, or one is a folder of "
                         "the other; the checkpoints would overwrite each other"), "give each checkpoint its own filepath")
        elif weights_only and not filepath.endswith(".weights.h5"):
            yield (path, (f"filepath {filepath!r} does not end in .weights.h5, which Keras requires when "
                         "save_weights_only is true"), "write e.g. filepath: best.weights.h5")
        elif not weights_only and not filepath.endswith(".keras"):
            hint = ("add save_weights_only: true to save weights only" if filepath.endswith(".weights.h5")
                    else "write e.g. filepath: best-model.keras (Keras 3 no longer writes .h5 or SavedModel "
                         "folders from ModelCheckpoint)")
            yield (path, (f"filepath {filepath!r} does not end in .keras, which Keras requires for saving the "
                         "whole model (save_weights_only: false)"), hint)
        seen.setdefault(i, normal)


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
