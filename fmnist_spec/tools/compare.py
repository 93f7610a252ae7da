"""Train several specs and put their figures side by side.

Each run is an ordinary run folder (see :func:`fmnist_spec.running.train.train`) named
by :func:`run_key`, a hash of the resolved spec with the epochs override
applied. A folder whose ``metrics.json`` exists (written last by ``train``)
and whose ``spec.yaml`` equals the resolved spec is a finished run: it is
read back, not trained again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..files import write_text
from ..language.spec import Spec, run_spec

COLUMNS = ("spec", "parameters", "epochs", "train_accuracy", "train_loss", "val_accuracy", "val_loss",
           "test_accuracy", "test_loss", "fit_seconds", "cached", "run")
"""The table's columns, in order. Accuracies are fractions 0..1, losses the
compiled loss (sparse categorical cross-entropy), ``fit_seconds`` the wall time
of ``model.fit`` in seconds when the run was trained."""

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


def run_key(spec: Spec, epochs: int | None = None) -> str:
    """12 hex digits of the SHA-256 of the resolved spec (epochs override
    applied, ``fit.verbose`` left out since it does not change the result),
    serialised as canonical JSON."""
    resolved = run_spec(spec, epochs)
    resolved["fit"].pop("verbose", None)
    text = json.dumps(resolved, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def finished_run(run_dir: Path, spec: Spec, epochs: int | None = None) -> dict | None:
    """``(metrics, history)`` of a finished run of this resolved spec in ``run_dir``, else None."""
    needed = [run_dir / name for name in ("metrics.json", "history.json", "spec.yaml", "model.keras")]
    if not all(p.is_file() for p in needed):
        return None
    stored = yaml.safe_load((run_dir / "spec.yaml").read_text("utf-8"))
    expected = run_spec(spec, epochs)
    for resolved in (stored, expected):
        resolved.get("fit", {}).pop("verbose", None)
    if stored != expected:
        return None
    metrics = json.loads((run_dir / "metrics.json").read_text("utf-8"))
    history = json.loads((run_dir / "history.json").read_text("utf-8"))
    return {"metrics": metrics, "history": history}


def label(spec: Spec) -> str:
    """How a run is named in tables and legends: the spec's file name, else its name."""
    return Path(spec.file).stem if not spec.file.startswith("<") else spec.name


def row(spec: Spec, metrics: dict, run_dir: Path, cached: bool) -> dict:
    """One table row (keys :data:`COLUMNS`) from a run's ``metrics.json``."""
    return {
        "spec": label(spec),
        "parameters": metrics["parameters"],
        "epochs": metrics["epochs"],
        "train_accuracy": metrics["train"].get("accuracy"),
        "train_loss": metrics["train"].get("loss"),
        "val_accuracy": metrics["validation"].get("accuracy"),
        "val_loss": metrics["validation"].get("loss"),
        "test_accuracy": metrics["test"].get("accuracy"),
        "test_loss": metrics["test"].get("loss"),
        "fit_seconds": metrics["fit_seconds"],
        "cached": cached,
        "run": str(run_dir),
    }


def compare(specs: list, *, epochs: int | None = None, out: str | Path | None = None,
            data_dir: str | Path | None = None, data=None, verbose=None, log=None) -> CompareResult:
    """Train each spec (or reuse its finished run), then write the tables and curves.

    Args:
        specs: Checked specs (:func:`fmnist_spec.load_spec`).
        epochs: Overrides every spec's ``fit.epochs`` when given.
        out: Output directory (default ``runs/compare``): run folders
            ``<run_key>/``, ``comparison.csv``, ``comparison.md`` and
            ``learning_curves.png`` (every run overlaid).
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.running.data`).
        data: Already loaded data (tests); default: loaded once, only if some run must train.
        verbose: Overrides ``fit.verbose`` of every run.
        log: Called with one progress line per run (default: print to stdout).

    Returns:
        A :class:`CompareResult`.

    Raises:
        fmnist_spec.running.data.DataError: Fashion-MNIST could not be loaded.
    """
    from ..running.data import load_fashion_mnist
    from ..running.plots import learning_curves
    from ..running.train import train

    log = log or (lambda line: print(line, flush=True))
    out_dir = Path(out) if out is not None else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, histories = [], {}
    for i, spec in enumerate(specs, 1):
        run_dir = out_dir / run_key(spec, epochs)
        prefix = f"[{i}/{len(specs)}] {spec.file}"
        done = finished_run(run_dir, spec, epochs)
        if done is not None:
            log(f"{prefix}: cached, not retrained ({run_dir})")
            metrics, history = done["metrics"], done["history"]
        else:
            log(f"{prefix}: training {epochs or spec.epochs} epochs -> {run_dir}")
            data = data if data is not None else load_fashion_mnist(data_dir)
            result = train(spec, epochs=epochs, out=run_dir, data=data, verbose=verbose)
            metrics, history = result.metrics, result.history
        rows.append(row(spec, metrics, run_dir, done is not None))
        histories[_unique(label(spec), histories)] = history
    write_text(out_dir / "comparison.csv", to_csv(rows))
    write_text(out_dir / "comparison.md", to_markdown(rows))
    learning_curves(histories, out_dir / "learning_curves.png", title="Comparison")
    return CompareResult(rows, histories, out_dir)


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
