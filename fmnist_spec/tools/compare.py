"""Train several specs and put their figures side by side.

Each run is an ordinary run folder (:class:`fmnist_spec.running.run_folder.RunFolder`)
named by :func:`run_key`, a hash of the resolved spec. A folder holding an ended run
(``finished`` or ``nan_loss``) whose ``spec.yaml`` equals the resolved spec is read
back, not trained again; an interrupted one is resumed; anything else is trained
(replacing what was there only once the new run has ended). Every spec gets a row,
whatever happened to it (its ``status``), and the tables are written even when a
run fails or Ctrl-C stops the comparison.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..files import write_text
from ..language.spec import Spec, run_spec
from ..running.metrics import FAILED, INTERRUPTED, Metrics
from ..running.run_folder import RunFolder, RunFolderError

COLUMNS = ("spec", "parameters", "epochs", "train_accuracy", "train_loss", "val_accuracy", "val_loss",
           "test_accuracy", "test_loss", "fit_seconds", "status", "cached", "run")
"""The table's columns, in order. Accuracies are fractions 0..1, losses the
compiled loss (sparse categorical cross-entropy), ``fit_seconds`` the wall time
of ``model.fit`` in seconds when the run was trained, ``status`` the run's
(``finished``, ``nan_loss``, ``failed``, ``interrupted``); figures a run did not
reach are empty."""

DEFAULT_OUT = Path("runs") / "compare"


@dataclass
class CompareResult:
    """What :func:`compare` did.

    Attributes:
        rows: One dict per spec, keys :data:`COLUMNS`, in the order given.
        histories: Run label -> Keras ``History.history`` (metric -> one float per epoch).
        out_dir: Where ``comparison.csv``, ``comparison.md`` and the run folders are.
    """

    rows: list
    histories: dict
    out_dir: Path

    @property
    def ok(self) -> bool:
        """True when every run finished (no NaN loss, no failure)."""
        return all(r["status"] == "finished" for r in self.rows)

    def _repr_pretty_(self, printer, cycle) -> None:
        """IPython's plain text: :func:`to_text`'s table, as ``fmnist-spec compare`` prints it."""
        from ..notebook.displays import compare_text

        printer.text(compare_text(self, to_text))

    def _repr_html_(self) -> str:
        """A notebook's display: the table and every run's learning curves (inline PNG)."""
        from ..notebook.displays import compare_html

        return compare_html(self, COLUMNS, _cell)


class CompareInterrupted(Exception):
    """Ctrl-C stopped :func:`compare`; the tables of the rows so far are written.

    Attributes:
        result: The :class:`CompareResult` written (the interrupted spec's row has status ``interrupted``).
    """

    def __init__(self, result: CompareResult):
        self.result = result
        super().__init__(f"interrupted; {len(result.rows)} row(s) written to {result.out_dir}")


def run_key(spec: Spec, epochs: int | None = None) -> str:
    """12 hex digits of the SHA-256 of the resolved spec (epochs override
    applied, ``fit.verbose`` left out since it does not change the result),
    serialised as canonical JSON."""
    resolved = _comparable(run_spec(spec, epochs))
    text = json.dumps(resolved, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _comparable(resolved: dict) -> dict:
    resolved = json.loads(json.dumps(resolved))
    resolved.get("fit", {}).pop("verbose", None)
    return resolved


def _same_spec(folder: RunFolder, spec: Spec) -> bool:
    stored = folder.read_spec()
    return stored is not None and _comparable(stored) == _comparable(run_spec(spec))


def finished_run(run_dir: Path, spec: Spec) -> dict | None:
    """``{"metrics": Metrics, "history": dict}`` of an ended run of this resolved spec in ``run_dir``, else None."""
    folder = RunFolder(run_dir)
    metrics = folder.read_metrics()
    if metrics is None or not metrics.is_final or not _same_spec(folder, spec):
        return None
    if metrics.status == "finished" and not folder.model_path.is_file():
        return None
    return {"metrics": metrics, "history": folder.read_history()}


def label(spec: Spec) -> str:
    """How a run is named in tables and legends: the spec's file name (a run folder's name for its
    ``spec.yaml``), else its name."""
    if spec.file.startswith("<"):
        return spec.name
    path = Path(spec.file)
    return path.parent.name if path.name == "spec.yaml" else path.stem


def own_run(spec: Spec) -> Path | None:
    """The run folder a spec was read from (``RUN/spec.yaml``, e.g. a search's ``DIR/trials/3``) when it
    holds an ended run of that spec: compare reads it back there instead of training it again."""
    path = Path(spec.file)
    if spec.file.startswith("<") or path.name != "spec.yaml":
        return None
    return path.parent if finished_run(path.parent, spec) is not None else None


def row(spec: Spec, metrics: Metrics, run_dir: Path, cached: bool) -> dict:
    """One table row (keys :data:`COLUMNS`) from a run's :class:`Metrics`; None where not reached."""
    return {
        "spec": label(spec),
        "parameters": metrics.parameters or None,
        "epochs": metrics.epochs,
        "train_accuracy": metrics.train.get("accuracy"),
        "train_loss": metrics.train.get("loss"),
        "val_accuracy": metrics.validation.get("accuracy"),
        "val_loss": metrics.validation.get("loss"),
        "test_accuracy": metrics.test.get("accuracy"),
        "test_loss": metrics.test.get("loss"),
        "fit_seconds": metrics.fit_seconds if metrics.fit_seconds else None,
        "status": metrics.status,
        "cached": cached,
        "run": str(run_dir),
    }


def _guard_out(out_dir: Path) -> None:
    if RunFolder(out_dir).holds_run():
        raise RunFolderError(f"--out {out_dir}: is the run folder of one training run; compare would write its "
                             "tables and runs inside it\n  hint: pass another folder, e.g. --out runs/compare")
    if out_dir.is_dir() and any(out_dir.glob("*.y*ml")):
        raise RunFolderError(f"--out {out_dir}: is a folder of specs; compare would write its tables and runs there\n"
                             "  hint: pass another folder, e.g. --out runs/compare")


def compare(specs: list, *, out: str | Path | None = None, overwrite: bool = False,
            data_dir: str | Path | None = None, data=None, overrides=(), verbose=None, log=None) -> CompareResult:
    """Train each spec (or reuse its ended run, or resume its interrupted one), then write the tables and curves.

    Args:
        specs: Checked specs (:func:`fmnist_spec.load_spec`) or paths of spec files; a run folder's
            ``spec.yaml`` (a search's ``DIR/trials/<n>/spec.yaml``) is read back from its folder.
        out: Output directory (default ``runs/compare``): run folders
            ``<run_key>/``, ``comparison.csv``, ``comparison.md`` and
            ``learning_curves.png`` (every run overlaid).
        overwrite: Train every spec again, replacing ended runs (once each new run has ended).
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.running.data`).
        data: Already loaded data (tests); default: loaded once, only if some run must train.
        overrides: ``--set`` overrides for specs given as paths.
        verbose: Overrides ``fit.verbose`` of every run.
        log: Called with one progress line per run (default: print to stdout).

    Returns:
        A :class:`CompareResult` with one row per spec; a run that failed has status
        ``failed`` and its message went to ``log``.

    Raises:
        RunFolderError: ``out`` is a folder of specs.
        CompareInterrupted: Ctrl-C; the rows so far (the current one ``interrupted``) are written.
    """
    from ..language.validation import load_spec, require_compile

    log = log or (lambda line: print(line, flush=True))
    out_dir = Path(out) if out is not None else DEFAULT_OUT
    _guard_out(out_dir)
    specs = [require_compile(s if isinstance(s, Spec) else load_spec(s, list(overrides)), "compare")
             for s in specs]
    out_dir.mkdir(parents=True, exist_ok=True)
    result = CompareResult([], {}, out_dir)
    loaded = {"data": data}
    try:
        for i, spec in enumerate(specs, 1):
            run_dir = own_run(spec) or out_dir / run_key(spec)
            metrics, history, cached = _one(spec, run_dir, f"[{i}/{len(specs)}] {spec.file}",
                                            loaded, overwrite and run_dir != own_run(spec), data_dir, verbose, log)
            result.rows.append(row(spec, metrics, run_dir, cached))
            result.histories[_unique(label(spec), result.histories)] = history
    except KeyboardInterrupt:
        spec = specs[len(result.rows)]
        result.rows.append(row(spec, Metrics(status=INTERRUPTED, epochs=spec.epochs), out_dir / run_key(spec), False))
        _write_tables(result)
        raise CompareInterrupted(result) from None
    _write_tables(result)
    return result


def _one(spec: Spec, run_dir: Path, prefix: str, loaded: dict, overwrite: bool, data_dir, verbose, log):
    """``(metrics, history, cached)`` of one spec: read back, resumed, or trained."""
    from ..running.data import DataError, load_fashion_mnist
    from ..running.train import DistributeError, RunWriteError, TrainingInterrupted, train

    done = None if overwrite else finished_run(run_dir, spec)
    if done is not None:
        log(f"{prefix}: cached, not retrained ({run_dir})")
        return done["metrics"], done["history"], True
    partial = RunFolder(run_dir).partial
    resume = not overwrite and partial.has_backup() and _same_spec(partial, spec)
    epochs = f"{spec.epochs} epoch{'' if spec.epochs == 1 else 's'}"
    log(f"{prefix}: {'resuming a run of' if resume else 'training'} {epochs} -> {run_dir}")
    try:
        if loaded["data"] is None:
            loaded["data"] = load_fashion_mnist(data_dir)
        try:
            trained = train(spec, out=run_dir, data=loaded["data"], verbose=verbose, resume=resume, overwrite=True)
        except RunFolderError as exc:
            if not resume or "damaged" not in str(exc):
                raise
            log(f"{prefix}: {exc}; training again")
            trained = train(spec, out=run_dir, data=loaded["data"], verbose=verbose, overwrite=True)
    except TrainingInterrupted:
        raise KeyboardInterrupt from None
    except (DataError, DistributeError, RunWriteError, RunFolderError) as exc:
        log(f"{prefix}: failed: {exc}")
        return Metrics(status=FAILED, epochs=spec.epochs, message=str(exc)), {}, False
    if trained.metrics.status != "finished":
        log(f"{prefix}: {trained.metrics.message}")
    return trained.metrics, trained.history, False


def _write_tables(result: CompareResult) -> None:
    from ..running.plots import learning_curves

    write_text(result.out_dir / "comparison.csv", to_csv(result.rows))
    write_text(result.out_dir / "comparison.md", to_markdown(result.rows))
    learning_curves(result.histories, result.out_dir / "learning_curves.png", title="Comparison")


def _unique(name: str, taken: dict) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if key == "parameters":
        return f"{value:,}"
    if key == "fit_seconds":
        return f"{value:.1f}"
    if key == "cached":
        return "yes" if value else "no"
    if key == "status":
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def to_csv(rows: list) -> str:
    """The rows as CSV with a header line (numbers unformatted, full precision)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
    return buffer.getvalue()


def to_markdown(rows: list, columns=COLUMNS[:-2]) -> str:
    """The rows as a GitHub Markdown table (4 decimals, seconds to 0.1)."""
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---:" if c != "spec" else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(_cell(c, r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_text(rows: list, columns=COLUMNS[:-1]) -> str:
    """The rows as an aligned plain-text table for the terminal."""
    cells = [list(columns)] + [[_cell(c, r[c]) for c in columns] for r in rows]
    widths = [max(len(line[j]) for line in cells) for j in range(len(columns))]
    out = []
    for n, line in enumerate(cells):
        padded = (v.ljust(w) if j == 0 else v.rjust(w) for j, (v, w) in enumerate(zip(line, widths)))
        out.append("  ".join(padded))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


def to_json(rows: list) -> str:
    """The rows as a JSON array (for ``--format json``)."""
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
