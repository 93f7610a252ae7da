"""Reproduce the textbook's published figures of lessons 7-3 and 8-2 and write docs/reproduction.md.

Run by hand (it trains on the full 48,000/12,000 split; about 20-40 minutes on two CPU
cores), never in CI::

    .venv/bin/python scripts/reproduce.py [--runs DIR] [--data-dir DIR] [--table-only]

Each spec is trained with ``fmnist-spec train SPEC --out DIR/<name>`` (a finished run
folder is reused, not trained again), the checkpoint row's ``best-model.keras`` is
evaluated with ``fmnist-spec evaluate ... --split validation``, and the table is written
from the run folders' ``metrics.json``. Published figures: the notebooks ed1-7-3,
ed2-07-3, ed1-8-2, ed2-08-2 (seed 42, Colab).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    {"lesson": "7-3", "spec": "dropout", "what": "Flatten, Dense(100, relu), Dropout(0.3), Dense(10, softmax); adam; "
     "10 epochs", "ed1": {"val": 0.8780}, "ed2": {"val": 0.8829}},
    {"lesson": "7-3", "spec": "checkpoint", "what": "same, 20 epochs, ModelCheckpoint(save_best_only=True); the best "
     "model evaluated", "ed1": {"val": 0.8871}, "ed2": {"val": 0.8848}, "checkpoint": "best-model.keras"},
    {"lesson": "7-3", "spec": "early_stopping", "what": "same + EarlyStopping(patience=2, restore_best_weights=True)",
     "ed1": {"val": 0.8859, "stopped_epoch": 16}, "ed2": {"val": 0.8853, "stopped_epoch": 12}},
    {"lesson": "8-2", "spec": "cnn", "what": "the CNN; adam; 20 epochs with both callbacks",
     "ed1": {"val": 0.9201, "test": 0.9125, "epochs": 8}, "ed2": {"val": 0.9191, "test": 0.9160}},
]
"""The published table; ``stopped_epoch`` as the notebooks print ``early_stopping_cb.stopped_epoch``
(Keras's 0-based epoch index), ``epochs`` the epochs trained."""


def fmnist_spec(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fmnist_spec", *args]
    print("$", " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT, text=True, capture_output=True)


def train(row: dict, runs: Path, data_dir: str | None) -> Path:
    out = runs / row["spec"]
    metrics = out / "metrics.json"
    if metrics.is_file() and json.loads(metrics.read_text())["status"] == "finished":
        print(f"{out}: finished run reused", flush=True)
        return out
    extra = ["--data-dir", data_dir] if data_dir else []
    done = fmnist_spec("train", f"specs/{row['spec']}.yaml", "--out", str(out), "--overwrite", *extra)
    sys.stdout.write(done.stdout[-2000:])
    if done.returncode != 0:
        raise SystemExit(f"training {row['spec']} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return out


def checkpoint_validation(out: Path, name: str, data_dir: str | None) -> dict:
    extra = ["--data-dir", data_dir] if data_dir else []
    done = fmnist_spec("evaluate", str(out / name), "--split", "validation", *extra)
    if done.returncode != 0:
        raise SystemExit(f"evaluating {out / name} failed:\n{done.stderr[-3000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("validation loss"):
            loss, accuracy = line.removeprefix("validation loss ").split(", accuracy ")
            return {"loss": float(loss), "accuracy": float(accuracy)}
    raise SystemExit(f"no validation figures in evaluate's output:\n{done.stdout}")


def measured(row: dict, out: Path, data_dir: str | None) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    figures = {"val": metrics["validation"]["accuracy"], "test": metrics["test"]["accuracy"],
               "epochs": metrics["epochs_finished"], "stopped_epoch": metrics["stopped_epoch"],
               "best_epoch": metrics["best_epoch"], "seconds": metrics["fit_seconds"],
               "samples": metrics["samples"]}
    if "checkpoint" in row:
        figures["checkpoint_val"] = checkpoint_validation(out, row["checkpoint"], data_dir)["accuracy"]
    return figures


def verdict(row: dict, got: dict) -> str:
    """The targets: validation accuracy within 0.01 of either edition's; the CNN's test accuracy
    >= 0.905; early stopping within 4 epochs of the published stopped_epoch."""
    val = got.get("checkpoint_val", got["val"])
    notes = []
    gap = min(abs(val - row[e]["val"]) for e in ("ed1", "ed2"))
    notes.append(f"val within 0.01: {'yes' if gap <= 0.01 else 'NO'} (nearest edition {gap:+.4f} away)")
    if row["spec"] == "cnn":
        notes.append(f"test >= 0.905: {'yes' if got['test'] >= 0.905 else 'NO'}")
    if "stopped_epoch" in row["ed1"]:
        # the notebooks print Keras's 0-based stopped_epoch; metrics.json's is 1-based
        ours = None if got["stopped_epoch"] is None else got["stopped_epoch"] - 1
        near = ours is not None and min(abs(ours - row[e]["stopped_epoch"]) for e in ("ed1", "ed2")) <= 4
        notes.append(f"stopped within 4 epochs: {'yes' if near else 'NO'}")
    return "; ".join(notes)


def table(results: list) -> str:
    lines = ["| lesson | spec | model and training | edition 1 | edition 2 | measured | fit s | targets |",
             "|---|---|---|---|---|---|---|---|"]

    def published(fig: dict) -> str:
        parts = []
        if "stopped_epoch" in fig:
            parts.append(f"stopped_epoch {fig['stopped_epoch']}")
        if "epochs" in fig:
            parts.append(f"stops after epoch {fig['epochs']}")
        parts.append(f"val {fig['val']:.4f}")
        if "test" in fig:
            parts.append(f"test {fig['test']:.4f}")
        return ", ".join(parts)

    for row, got in results:
        parts = [f"{got['epochs']} epochs"]
        if got["stopped_epoch"] is not None:
            parts.append(f"stopped_epoch {got['stopped_epoch'] - 1} (Keras, 0-based; metrics.json "
                         f"{got['stopped_epoch']})")
        if got["best_epoch"] is not None:
            parts.append(f"best epoch {got['best_epoch']}")
        if "checkpoint_val" in got:
            parts.append(f"best-model.keras val {got['checkpoint_val']:.4f} (last epoch's val {got['val']:.4f})")
        else:
            parts.append(f"val {got['val']:.4f}")
        parts.append(f"test {got['test']:.4f}")
        lines.append(f"| {row['lesson']} | `specs/{row['spec']}.yaml` | {row['what']} | {published(row['ed1'])} | "
                     f"{published(row['ed2'])} | {', '.join(parts)} | {got['seconds']:.0f} | {verdict(row, got)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(ROOT / "runs" / "reproduction"), help="where the run folders go")
    parser.add_argument("--data-dir", help="the Fashion-MNIST IDX files")
    parser.add_argument("--table-only", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args()
    runs = Path(args.runs)
    results = []
    for row in ROWS:
        out = runs / row["spec"] if args.table_only else train(row, runs, args.data_dir)
        results.append((row, measured(row, out, args.data_dir)))
    text = table(results)
    print(text)
    if not args.table_only:
        from fmnist_spec.files import write_text

        doc = ROOT / "docs" / "reproduction.md"
        head = doc.read_text("utf-8").split("<!-- table -->")[0] if doc.is_file() else "# Reproduction\n\n"
        write_text(doc, head + "<!-- table -->\n" + text)
        print(f"wrote {doc}")


if __name__ == "__main__":
    main()
