"""fmnist-spec ``train specs/cnn.yaml`` against the textbook's plain Keras CNN script, side by side.

Runs ``benchmarks/textbook_cnn.py`` (lesson 8-2's notebook as written) and
``python -m fmnist_spec train`` on a copy of ``specs/cnn.yaml`` alternately,
each in a fresh process, ``--pairs`` rounds (the order rotates every round so
drifting machine load hits every side alike). Both sides train the same
model (333,526 parameters) on the same 48,000 / 12,000 split with batch 32
and Adam for a fixed number of epochs (``--epochs``, default 3): the copy of
the spec has ``EarlyStopping`` removed and ``fit.epochs`` set, and the script
drops the notebook's ``EarlyStopping``; both keep ``ModelCheckpoint``. For
every run and as medians it prints:

- whole-process wall time (seconds, from start to exit, measured here),
- time in ``fit`` (seconds, measured by each side around ``model.fit``),
- images per second in ``fit`` (training images x epochs / fit time),
- peak resident memory (MB, ``ru_maxrss`` of that child, from ``os.wait4``),
- final training accuracy (last epoch) and validation accuracy (the
  12,000 validation images after ``fit``, 0..1),

then the ratios fmnist-spec / textbook against the targets (fit <= 0.5x,
whole <= 0.6x, memory <= 1x, validation accuracy within 0.01), whether the
seeded fmnist-spec runs (seed 42) gave identical histories, and time per
epoch against the number of training images (6,000 to 48,000) and the
width of the network (both Conv2D's filters x1, x2).

Sides (``--sides``; default ``textbook,shipped,float32``):

- ``textbook``: ``benchmarks/textbook_cnn.py``;
- ``shipped``: the spec as shipped (``dtype_policy: auto``, threads ``auto``);
- ``float32``: the same with ``dtype_policy: float32``;
- lever sides, each the shipped spec with one setting changed:
  ``spe1`` (``compile.steps_per_execution: 1``: Keras's own loop, one batch
  per call), ``threads11`` / ``threads00`` (``threading`` 1/1, 0/0),
  ``jit`` (``compile.jit_compile: true``, XLA), ``valbatch32``
  (``fit.validation_batch_size: 32``, Keras's default).

Run by hand (never by CI), from the repository root::

    .venv/bin/python benchmarks/cnn_vs_keras.py [--pairs 3] [--epochs 3] [--sides ...] [--no-scaling]

``--train-samples N`` runs the side by side on the first N training images
(a quick check that everything works; the targets are for the full data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_vs_keras import ROOT, median_of, print_ratios, run_child  # noqa: E402

SPEC = ROOT / "specs" / "cnn.yaml"
TARGETS = {"fit": 0.5, "wall": 0.6, "accuracy": 0.01, "memory": 1.0}
LEVERS = {
    "shipped": {},
    "float32": {"dtype_policy": "float32"},
    "spe1": {"compile": {"steps_per_execution": 1}},
    "threads11": {"threading": {"intra_op_parallelism_threads": 1, "inter_op_parallelism_threads": 1}},
    "threads00": {"threading": {"intra_op_parallelism_threads": 0, "inter_op_parallelism_threads": 0}},
    "jit": {"compile": {"jit_compile": True}},
    "valbatch32": {"fit": {"validation_batch_size": 32}},
}
"""Spec changes of each fmnist-spec side, merged into the shipped spec's sections."""


def run_textbook(epochs: int, train_samples: int | None = None, filters_scale: int = 1) -> dict:
    """One run of the textbook's script."""
    command = [sys.executable, str(ROOT / "benchmarks" / "textbook_cnn.py"), "--epochs", str(epochs),
               "--filters-scale", str(filters_scale)]
    if train_samples:
        command += ["--train-samples", str(train_samples)]
    wall, rss, stdout = run_child(command)
    row = json.loads(stdout.rsplit("BENCH ", 1)[1])
    return {"wall": wall, "fit": row["fit_seconds"], "rss": rss, "train_acc": row["train_accuracy"],
            "val_acc": row["val_accuracy"], "images": row["train_samples"] * epochs,
            "epochs": epochs, "history": None, "policy": "float32", "device": "textbook"}


def run_spec(spec: Path, workdir: Path) -> dict:
    """One ``python -m fmnist_spec train`` run; figures from its ``metrics.json`` and ``history.json``."""
    out = Path(tempfile.mkdtemp(dir=workdir))
    wall, rss, _ = run_child([sys.executable, "-m", "fmnist_spec", "train", str(spec), "--out", str(out / "run")])
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    history = json.loads((out / "run" / "history.json").read_text())
    device = metrics.get("device") or {}
    return {"wall": wall, "fit": metrics["fit_seconds"], "rss": rss,
            "train_acc": metrics["train"]["accuracy"], "val_acc": metrics["validation"]["accuracy"],
            "images": metrics["samples"]["train"] * metrics["epochs_finished"],
            "epochs": metrics["epochs_finished"], "history": history,
            "policy": metrics.get("dtype_policy", "float32"), "device": device.get("type", "?")}


def spec_variant(workdir: Path, name: str, epochs: int | None, changes: dict, train_samples: int | None = None,
                 filters_scale: int = 1) -> Path:
    """A copy of ``specs/cnn.yaml`` without EarlyStopping, with ``epochs`` (None: the spec's),
    ``changes`` (top-level keys; a mapping updates that section), the first ``train_samples``
    training images and both Conv2D's filters times ``filters_scale`` applied."""
    sys.path.insert(0, str(ROOT))  # run from a clone without installing
    from fmnist_spec import load_spec

    spec = load_spec(SPEC).resolved()
    if epochs:
        spec["fit"]["epochs"] = epochs
    spec["fit"]["callbacks"] = [c for c in spec["fit"]["callbacks"] if c["type"] != "EarlyStopping"]
    for key, value in changes.items():
        if isinstance(value, dict):
            spec[key].update(value)
        else:
            spec[key] = value
    if train_samples:
        spec["data"]["train_samples"] = train_samples
    for layer in spec["layers"]:
        if layer["type"] == "Conv2D":
            layer["filters"] *= filters_scale
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _row(label: str, r: dict) -> str:
    return (f"{label:<20} {r['wall']:>8.2f} {r['fit']:>8.2f} {r['images'] / r['fit']:>9,.0f} "
            f"{r['rss']:>8,.0f} {r['train_acc']:>9.4f} {r['val_acc']:>8.4f}  {r['policy']}")


HEADER = (f"{'run':<20} {'wall s':>8} {'fit s':>8} {'images/s':>9} {'peak MB':>8} "
          f"{'train acc':>9} {'val acc':>8}  dtype policy")


def _medians(rows: list[dict]) -> dict:
    numbers = [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in rows]
    return {**median_of(numbers), "policy": rows[0]["policy"], "device": rows[0]["device"]}


def compare(pairs: int, epochs: int, sides: list[str], workdir: Path, train_samples: int | None = None) -> None:
    """The side-by-side table, medians, ratios, targets and the seeded histories."""
    runners = {}
    for side in sides:
        if side == "textbook":
            runners[side] = lambda: run_textbook(epochs, train_samples)
        else:
            path = spec_variant(workdir, side, epochs, LEVERS[side], train_samples)
            runners[side] = lambda path=path: run_spec(path, workdir)
    runs = {side: [] for side in sides}
    print(HEADER, flush=True)
    for i in range(pairs):
        shift = i % len(sides)
        for side in sides[shift:] + sides[:shift]:
            row = runners[side]()
            runs[side].append(row)
            print(_row(f"{i + 1} {side}", row), flush=True)
    medians = {side: _medians(rows) for side, rows in runs.items()}
    for side in sides:
        print(_row(f"median {side}", medians[side]))
    if "textbook" not in sides:
        return
    base, ours = medians["textbook"], [s for s in sides if s != "textbook"]
    print_ratios("fmnist-spec / textbook", base, medians, ours, ours, "images", 10, TARGETS)
    same = ["yes" if all(r["history"] == runs[s][0]["history"] for r in runs[s]) else "NO" for s in ours]
    print(f"{'same history, seed 42':<22} " + " ".join(f"{v:>10}" for v in same)
          + f"  ({pairs} runs each; device {medians[ours[0]]['device']})")


def scaling(epochs: int, workdir: Path) -> None:
    """Time per epoch against training images and network width, both sides, one run each."""
    print(f"\ntime per epoch (fit time / {epochs} epochs, seconds) against training images and width")
    print(f"{'train images':>12} {'filters':>8} {'textbook':>9} {'fmnist-spec':>12} {'ratio':>6} "
          f"{'textbook ms/1k':>15} {'fmnist-spec ms/1k':>18}")
    for scale in (1, 2):
        for n in (6_000, 12_000, 24_000, 48_000):
            samples = n * 5 // 4  # 80 % train
            spec = spec_variant(workdir, f"cnn_{n}_{scale}", epochs, {}, samples, scale)
            book, ours = run_textbook(epochs, samples, scale), run_spec(spec, workdir)
            b, o = book["fit"] / epochs, ours["fit"] / epochs
            print(f"{n:>12,} {'x' + str(scale):>8} {b:>9.2f} {o:>12.2f} {o / b:>5.2f}x "
                  f"{1000 * b / (n / 1000):>15.1f} {1000 * o / (n / 1000):>18.1f}", flush=True)
    print("(ms/1k: milliseconds per 1,000 training images per epoch; flat or falling means time grows "
          "no faster than linearly)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--pairs", type=int, default=3, help="rounds of all sides (3 or more for the results; fewer only to check it runs)")
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--sides", default="textbook,shipped,float32",
                         help=f"comma-separated: textbook, {', '.join(LEVERS)}")
    options.add_argument("--no-scaling", action="store_true")
    options.add_argument("--scaling-epochs", type=int, default=2)
    options.add_argument("--train-samples", type=int, default=None,
                         help="side by side on the first N of the 60,000 training images (a quick check)")
    args = options.parse_args()
    sides = args.sides.split(",")
    unknown = [s for s in sides if s != "textbook" and s not in LEVERS]
    if unknown:
        options.error(f"unknown side {unknown[0]!r}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="fmnist-cnn-bench-") as tmp:
        compare(args.pairs, args.epochs, sides, Path(tmp), args.train_samples)
        if not args.no_scaling:
            scaling(args.scaling_epochs, Path(tmp))
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
