"""fmnist-spec ``train`` against the notes' plain Keras script, side by side.

Runs ``benchmarks/baseline_keras.py`` and ``python -m fmnist_spec train
specs/relu_adam.yaml`` (as shipped, and with ``fit.validation_freq: []`` so
that its fit does the notes' work: no validation during fit) alternately
(``--pairs`` rounds; the order rotates every round so drifting machine load
hits every side alike), each in a fresh process, and prints for every run and
as medians:

- whole-process wall time (seconds, from start to exit, measured here),
- time in ``fit`` (seconds, measured by each side around ``model.fit``),
- samples per second in ``fit`` (training samples x epochs / fit time),
- peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``),
- final training accuracy (last epoch) and validation accuracy
  (``model.evaluate`` on the 12,000 validation images after ``fit``),

then the ratios fmnist-spec / baseline against the speed targets (fit ≤ 0.5x, whole ≤ 0.6x), and fit
time against the number of training samples (6,000 to 48,000). What each side
does beyond ``fit`` is listed in ``benchmarks/RESULTS.md``. Run by hand, not
by CI::

    python benchmarks/train_vs_keras.py [--pairs 3] [--scaling-repeats 1] [--no-scaling] [--usual-exit]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "relu_adam.yaml"
TARGETS = {"fit": 0.5, "wall": 0.6, "accuracy": 0.01, "memory": 1.0}


def run_child(command: list[str]) -> tuple[float, float, str]:
    """Run ``command`` from the repository root; return (wall seconds, peak RSS MB, stdout)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{err.read()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def run_baseline(train_samples: int | None = None) -> dict:
    """One run of the notes' script."""
    command = [sys.executable, str(ROOT / "benchmarks" / "baseline_keras.py")]
    if train_samples:
        command += ["--train-samples", str(train_samples)]
    wall, rss, stdout = run_child(command)
    row = json.loads(stdout.rsplit("BENCH ", 1)[1])
    return {"wall": wall, "fit": row["fit_seconds"], "rss": rss, "train_acc": row["train_accuracy"],
            "val_acc": row["val_accuracy"], "samples": row["train_samples"] * 5}


USUAL_EXIT = "import sys; from fmnist_spec.cli import main; sys.exit(main())"
"""``fmnist-spec`` without :func:`fmnist_spec.cli.run`'s ``os._exit``: Python tears the interpreter down."""


def run_fmnist_spec(spec: Path, workdir: Path, usual_exit: bool = False) -> dict:
    """One ``python -m fmnist_spec train`` run; figures from its ``metrics.json``."""
    out = Path(tempfile.mkdtemp(dir=workdir))
    start = ["-c", USUAL_EXIT] if usual_exit else ["-m", "fmnist_spec"]
    wall, rss, _ = run_child([sys.executable, *start, "train", str(spec), "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "fit": metrics["fit_seconds"], "rss": rss,
            "train_acc": metrics["train"]["accuracy"], "val_acc": metrics["validation"]["accuracy"],
            "samples": metrics["samples"]["train"] * metrics["epochs"]}


def spec_with(workdir: Path, name: str, data: dict | None = None, fit: dict | None = None) -> Path:
    """A copy of ``specs/relu_adam.yaml`` with some ``data`` and ``fit`` keys changed."""
    sys.path.insert(0, str(ROOT))  # run from a clone without installing
    from fmnist_spec import load_spec

    spec = load_spec(SPEC).resolved()  # relu_adam.yaml extends relu_flatten.yaml
    spec["data"].update(data or {})
    spec["fit"].update(fit or {})
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    return path


def _row(label: str, r: dict) -> str:
    return (f"{label:<22} {r['wall']:>8.2f} {r['fit']:>8.2f} {r['samples'] / r['fit']:>10,.0f} "
            f"{r['rss']:>9,.0f} {r['train_acc']:>9.4f} {r['val_acc']:>8.4f}")


HEADER = (f"{'run':<22} {'wall s':>8} {'fit s':>8} {'samples/s':>10} {'peak MB':>9} "
          f"{'train acc':>9} {'val acc':>8}")


def median_of(rows: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def compare(pairs: int, workdir: Path, usual_exit: bool = False) -> None:
    """The side-by-side table, medians, ratios and targets.

    Three sides: the notes' script; ``fmnist-spec train specs/relu_adam.yaml``
    as shipped (it also validates after every epoch, which the notes' ``fit``
    does not); and the same spec with ``fit.validation_freq: []`` (no
    validation during fit: the same work as the notes' ``fit``). With
    ``usual_exit`` a fourth: as shipped, but leaving Python the usual way
    (``sys.exit``, not :func:`fmnist_spec.cli.run`'s ``os._exit``). Each round
    runs all sides in a rotated order.
    """
    no_val = spec_with(workdir, "relu_adam_no_val", fit={"validation_freq": []})
    runners = {"baseline": run_baseline, "fmnist-spec": lambda: run_fmnist_spec(SPEC, workdir),
               "fmnist-spec no val": lambda: run_fmnist_spec(no_val, workdir)}
    if usual_exit:
        runners["fmnist-spec usual exit"] = lambda: run_fmnist_spec(SPEC, workdir, usual_exit=True)
    sides = list(runners)
    runs = {side: [] for side in sides}
    print(HEADER, flush=True)
    for i in range(pairs):
        shift = i % len(sides)
        for side in sides[shift:] + sides[:shift]:
            row = runners[side]()
            runs[side].append(row)
            print(_row(f"{i + 1} {side}", row), flush=True)
    medians = {side: median_of(rows) for side, rows in runs.items()}
    for side in sides:
        print(_row(f"median {side}", medians[side]))
    base, ours = medians["baseline"], sides[1:]
    labels = {"fmnist-spec": "fmnist-spec", "fmnist-spec no val": "no val",
              "fmnist-spec usual exit": "usual exit"}
    print_ratios("ratio to baseline", base, medians, ours, [labels[side] for side in ours], "samples", 11)


def print_ratios(title: str, base: dict, medians: dict, sides: list[str], labels: list[str], count: str,
                 width: int, targets: dict = TARGETS) -> None:
    """The ratio table of ``sides`` to ``base``: time in fit, whole process and peak memory against
    ``targets``, ``count`` per second in fit (``"samples"``, ``"images"``), validation accuracy
    difference; one column ``width`` characters wide per side."""
    print(f"\n{title:<22} " + " ".join(f"{label:>{width}}" for label in labels) + "  target")
    for name, key, target in (("time in fit", "fit", targets["fit"]),
                              ("whole process", "wall", targets["wall"]),
                              ("peak memory", "rss", targets["memory"])):
        ratios = [medians[side][key] / base[key] for side in sides]
        met = " ".join("yes" if r <= target else "NO" for r in ratios)
        print(f"{name:<22} " + " ".join(f"{r:>{width - 1}.2f}x" for r in ratios) + f"  <= {target}x  met: {met}")
    speed = [(medians[side][count] / medians[side]["fit"]) / (base[count] / base["fit"]) for side in sides]
    print(f"{count + '/s in fit':<22} " + " ".join(f"{r:>{width - 1}.2f}x" for r in speed))
    gaps = [medians[side]["val_acc"] - base["val_acc"] for side in sides]
    met = " ".join("yes" if abs(g) <= targets["accuracy"] else "NO" for g in gaps)
    print(f"{'val acc difference':<22} " + " ".join(f"{g:>+{width}.4f}" for g in gaps)
          + f"  within {targets['accuracy']}  met: {met}")


def scaling(repeats: int, workdir: Path) -> None:
    """Fit time of fmnist-spec train against the number of training samples."""
    print(f"\nfit time against training samples (fmnist-spec train, 5 epochs, median of {repeats})")
    print(f"{'train samples':>13} {'fit s':>8} {'ms per 1,000 samples':>21} {'wall s':>8}")
    for n in (6_000, 12_000, 24_000, 48_000):
        spec = spec_with(workdir, f"relu_adam_{n}", data={"train_samples": n * 5 // 4})  # 80 % train
        rows = [run_fmnist_spec(spec, workdir) for _ in range(repeats)]
        m = median_of(rows)
        print(f"{n:>13,} {m['fit']:>8.2f} {1000 * m['fit'] / (n / 1000) / 5:>21.1f} {m['wall']:>8.2f}",
              flush=True)
    print("(ms per 1,000 samples is per epoch; flat or falling means fit grows no faster than linearly)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--pairs", type=int, default=3, help="rounds of the three sides (>= 3)")
    options.add_argument("--scaling-repeats", type=int, default=1)
    options.add_argument("--no-scaling", action="store_true")
    options.add_argument("--usual-exit", action="store_true",
                         help="add a side that leaves Python with sys.exit instead of os._exit")
    args = options.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="fmnist-bench-") as tmp:
        compare(args.pairs, Path(tmp), args.usual_exit)
        if not args.no_scaling:
            scaling(args.scaling_repeats, Path(tmp))
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
