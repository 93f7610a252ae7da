"""``fmnist-spec search`` against KerasTuner (and plain Optuna) on lesson 7-3's search, side by side.

The same space and trial budget on lesson 7-3's model (Flatten, Dense(100, relu),
Dropout(rate), Dense(10, softmax); 10 epochs per trial; ``train_test_split(test_size=0.2,
random_state=42)``): the optimizer among sgd, adagrad, rmsprop and adam times the dropout rate
0.1 to 0.5 in steps of 0.1, a grid of 20 points (``specs/search_optimizer_dropout.yaml``).
Sides (``--sides``, each run in a fresh process; ``--rounds`` rounds, the order rotating every
round so that drifting machine load hits every side alike):

- ``kerastuner``: ``benchmarks/search_kerastuner.py``, ``keras_tuner.GridSearch`` as a Keras
  user writes it (no pruning; KerasTuner's defaults). KerasTuner is not a dependency of
  fmnist-spec: it is found on ``--keras-tuner-path`` (put first on ``PYTHONPATH``; made with
  ``pip install --no-deps --target /tmp/ktlib keras-tuner==1.4.8 kt-legacy``). When it cannot
  run, its error is printed and the side is left out of the ratios;
- ``optuna``: ``benchmarks/search_optuna.py``, plain Keras + Optuna in one process
  (``GridSampler``, ``MedianPruner``, ``KerasPruningCallback``), the script
  ``fmnist-spec codegen`` writes for the spec;
- ``workers1``, ``workers2``: ``fmnist-spec search specs/search_optimizer_dropout.yaml --out DIR
  --workers N`` (the spec's grid sampler and median pruner, seed 42).

For every run and as medians it prints the wall time (seconds, the whole process from start to
exit, measured here), the trials completed and pruned, the best validation accuracy (the
last epoch's, of the best complete trial; KerasTuner's own score is the best epoch's, shown in
its row's values), the best values, and the peak memory in MB: of the largest process
(``ru_maxrss`` from ``os.wait4``, which covers the child's own waited-for children) and of all
the processes of the side together (their resident sets summed, sampled every 0.2 s with
psutil; at least the largest process's peak). Then the ratios to the baseline (``--baseline``, default ``kerastuner``, else
``optuna``) against the targets (wall time <= 0.5x, best validation accuracy within 0.005),
the time at which the 4th, 8th, 16th, ... trial finished on each side (how the time grows with
trials), and with ``--scaling`` the wall time of ``fmnist-spec search`` for each number of
trials (``--scaling``, e.g. ``4,8,16``) at 1 and 2 workers. Run by hand, never by CI::

    PYTHONPATH= .venv/bin/python benchmarks/search_vs_kerastuner.py [--rounds 1] [--sides kerastuner,workers2,workers1,optuna]
        [--trials 20] [--epochs 10] [--scaling 4,8,16 --scaling-epochs 10] [--train-samples N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "search_optimizer_dropout.yaml"
TARGETS = {"wall": 0.5, "accuracy": 0.005}
SIDES = ("kerastuner", "workers2", "workers1", "optuna")


class SideFailed(Exception):
    """A side's process failed; the message holds its error output's end."""


def run_child(command: list[str], env_extra: dict | None = None) -> tuple[float, float, float, str, str, int]:
    """Run ``command`` from the repository root.

    Returns:
        (wall seconds, peak RSS MB of the largest process, peak MB of the whole process tree
        summed, stdout, stderr, exit status).
    """
    import psutil

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=env)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:  # the whole tree's resident memory, 5 times a second
            try:
                parent = psutil.Process(child.pid)
            except psutil.Error:
                return
            while not done.wait(0.2):
                total = 0
                try:
                    for process in [parent, *parent.children(recursive=True)]:
                        try:
                            total += process.memory_info().rss
                        except psutil.Error:
                            pass
                except psutil.Error:
                    return
                peak[0] = max(peak[0], total / 2**20)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        largest = usage.ru_maxrss / 1024
        # the samples can miss the moment of the peak: the tree held at least its largest process's peak
        return wall, largest, max(peak[0], largest), out.read(), err.read(), os.waitstatus_to_exitcode(status)


def run_script(script: str, args, env_extra: dict | None = None) -> dict:
    """One run of a baseline script (``search_kerastuner.py``, ``search_optuna.py``)."""
    command = [sys.executable, str(ROOT / "benchmarks" / script), "--trials", str(args.trials),
               "--epochs", str(args.epochs)]
    if args.train_samples:
        command += ["--train-samples", str(args.train_samples)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    wall, rss, tree, stdout, stderr, status = run_child(command, env_extra)
    if "BENCH " not in stdout:
        raise SideFailed(f"{script} failed ({status}):\n{stderr[-3000:]}")
    row = json.loads(stdout.rsplit("BENCH ", 1)[1])
    if "error" in row:
        raise SideFailed(f"{script}: {row['error']}\n{stderr[-3000:]}")
    return {"wall": wall, "rss": rss, "tree": tree, "complete": row["complete"], "pruned": row["pruned"],
            "best": row["best_val_accuracy"], "values": _shown(row["best_values"]),
            "finished": sorted(t["finished"] for t in row["trials"] if "finished" in t),
            "score": max((t.get("best_epoch_val_accuracy") or 0 for t in row["trials"]), default=None)}


def _shown(values: dict | None) -> str:
    if not values:
        return "-"
    return f"{values['optimizer']} {values['rate']:g}"


def run_search(args, workers: int, workdir: Path, trials: int | None = None, epochs: int | None = None) -> dict:
    """One ``fmnist-spec search`` run in a new search folder; figures from its JSON output and journal."""
    out = Path(tempfile.mkdtemp(dir=args.keep or workdir, prefix=f"workers{workers}-")) / "search"
    command = [sys.executable, "-m", "fmnist_spec", "search", str(SPEC), "--out", str(out),
               "--workers", str(workers), "--trials", str(trials or args.trials),
               "--epochs", str(epochs or args.epochs), "--seed", "42", "--format", "json"]
    if args.train_samples:
        command += ["--set", f"data.train_samples={args.train_samples}"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    wall, rss, tree, stdout, stderr, status = run_child(command)
    if args.keep:
        print(f"(search folder kept: {out})", flush=True)
    if status != 0:
        raise SideFailed(f"fmnist-spec search --workers {workers} failed ({status}):\n{stderr[-3000:]}")
    result = json.loads(stdout)["result"]
    best = result["best"]
    values = best and {"optimizer": best["values"]["compile.optimizer"],
                       "rate": float(best["values"]["layers[2].rate"])}
    return {"wall": wall, "rss": rss, "tree": tree, "complete": result["states"].get("complete", 0),
            "pruned": result["states"].get("pruned", 0), "best": best and best["value"], "values": _shown(values),
            "finished": _finished(out), "score": None}


def _finished(out: Path) -> list[float]:
    """Seconds from the first trial's start to each trial's end, from the study's journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    trials = [t for t in optuna.load_study(study_name=None, storage=storage).trials if t.datetime_complete]
    if not trials:
        return []
    began = min(t.datetime_start for t in trials)
    return sorted(round((t.datetime_complete - began).total_seconds(), 3) for t in trials)


HEADER = (f"{'run':<18} {'wall s':>8} {'complete':>8} {'pruned':>6} {'best val acc':>12} "
          f"{'best values':<14} {'peak MB (largest)':>17} {'peak MB (all)':>13}")


def _row(label: str, r: dict) -> str:
    best = f"{r['best']:.4f}" if r["best"] is not None else "-"
    return (f"{label:<18} {r['wall']:>8.2f} {r['complete']:>8.0f} {r['pruned']:>6.0f} {best:>12} "
            f"{r['values']:<14} {r['rss']:>17,.0f} {r['tree']:>13,.0f}")


def median_of(rows: list[dict]) -> dict:
    """Medians of the numeric figures; the best values of the median run by wall time."""
    middle = sorted(rows, key=lambda r: r["wall"])[(len(rows) - 1) // 2]
    m = {key: statistics.median(r[key] for r in rows) for key in ("wall", "rss", "tree", "complete", "pruned")}
    bests = [r["best"] for r in rows if r["best"] is not None]
    m["best"] = statistics.median(bests) if bests else None
    m["values"], m["finished"], m["score"] = middle["values"], middle["finished"], middle["score"]
    return m


def compare(args, workdir: Path) -> None:
    """The side-by-side table, medians, ratios to the baseline and the time to each number of trials."""
    kt_env = {"PYTHONPATH": os.pathsep.join(p for p in (args.keras_tuner_path, os.environ.get("PYTHONPATH")) if p)}
    runners = {"kerastuner": lambda: run_script("search_kerastuner.py", args, kt_env),
               "optuna": lambda: run_script("search_optuna.py", args),
               "workers1": lambda: run_search(args, 1, workdir),
               "workers2": lambda: run_search(args, 2, workdir)}
    sides = args.sides
    runs: dict[str, list] = {side: [] for side in sides}
    print(f"{args.trials} trials of {args.epochs} epochs each"
          + (f", the first {args.train_samples} training images" if args.train_samples else "") + "\n" + HEADER,
          flush=True)
    for i in range(args.rounds):
        shift = i % len(sides)
        for side in sides[shift:] + sides[:shift]:
            if runs[side] is None:
                continue
            load = os.getloadavg()[0]
            try:
                row = runners[side]()
            except SideFailed as exc:
                print(f"{i + 1} {side}: FAILED, left out: {exc}", flush=True)
                runs[side] = None
                continue
            runs[side].append(row)
            print(_row(f"{i + 1} {side}", row) + f"   (load {load:.1f} at start)", flush=True)
    medians = {side: median_of(rows) for side, rows in runs.items() if rows}
    for side, m in medians.items():
        print(_row(f"median {side}", m))
    if "kerastuner" in medians and medians["kerastuner"]["score"] is not None:
        print(f"(KerasTuner's own score, the best epoch's val_accuracy: {medians['kerastuner']['score']:.4f})")
    baseline = args.baseline if args.baseline in medians else next((s for s in ("kerastuner", "optuna")
                                                                     if s in medians), None)
    ours = [side for side in medians if side != baseline]
    if baseline and ours:
        print_ratios(baseline, medians, ours)
    print_trials_over_time(medians)


def print_ratios(baseline: str, medians: dict, sides: list[str]) -> None:
    """Each side / the baseline: wall time and peak memory; best validation accuracy's difference."""
    base, width = medians[baseline], 10
    print(f"\n{'ratio to ' + baseline:<22} " + " ".join(f"{side:>{width}}" for side in sides) + "  target")
    ratios = [medians[side]["wall"] / base["wall"] for side in sides]
    met = " ".join("yes" if r <= TARGETS["wall"] else "NO" for r in ratios)
    print(f"{'wall time':<22} " + " ".join(f"{r:>{width - 1}.2f}x" for r in ratios)
          + f"  <= {TARGETS['wall']}x  met: {met}")
    for name, key in (("peak memory (largest)", "rss"), ("peak memory (all)", "tree")):
        print(f"{name:<22} " + " ".join(f"{medians[side][key] / base[key]:>{width - 1}.2f}x" for side in sides))
    gaps = [None if medians[side]["best"] is None or base["best"] is None else medians[side]["best"] - base["best"]
            for side in sides]
    met = " ".join("yes" if g is not None and g >= -TARGETS["accuracy"] else "NO" for g in gaps)
    print(f"{'best val acc diff':<22} " + " ".join(f"{g:>+{width}.4f}" if g is not None else f"{'-':>{width}}"
                                                   for g in gaps)
          + f"  >= -{TARGETS['accuracy']}  met: {met}")


def print_trials_over_time(medians: dict) -> None:
    """Seconds from the first trial's start until the Nth trial finished (N = 1, 2, 4, 8, ...)."""
    longest = max((len(m["finished"]) for m in medians.values()), default=0)
    if not longest:
        return
    counts = sorted({n for n in (1, 2, 4, 8, 12, 16, 20, 32, 64) if n <= longest} | {longest})
    print(f"\n{'trials finished':<18} " + " ".join(f"{side:>10}" for side in medians)
          + "   (seconds since the first trial began, the median run)")
    for n in counts:
        cells = [f"{m['finished'][n - 1]:>10.1f}" if len(m["finished"]) >= n else f"{'-':>10}"
                 for m in medians.values()]
        print(f"{n:<18} " + " ".join(cells))


def scaling(args, workdir: Path) -> None:
    """Wall time of ``fmnist-spec search`` against the number of trials, at 1 and 2 workers."""
    counts = [int(n) for n in args.scaling.split(",")]
    epochs = args.scaling_epochs or args.epochs
    print(f"\nfmnist-spec search: wall time against trials and workers ({epochs} epochs per trial, one run each)")
    print(f"{'trials':>6} {'workers':>7} {'wall s':>8} {'s per trial':>11} {'complete':>8} {'pruned':>6} "
          f"{'best val acc':>12}")
    for n in counts:
        for workers in (1, 2):
            r = run_search(args, workers, workdir, trials=n, epochs=epochs)
            best = f"{r['best']:.4f}" if r["best"] is not None else "-"
            print(f"{n:>6} {workers:>7} {r['wall']:>8.2f} {r['wall'] / n:>11.2f} {r['complete']:>8} "
                  f"{r['pruned']:>6} {best:>12}   (load {os.getloadavg()[0]:.1f} at end)", flush=True)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sides", default="kerastuner,workers2,workers1,optuna",
                         help=f"comma-separated, of {', '.join(SIDES)}")
    options.add_argument("--baseline", default="kerastuner", choices=("kerastuner", "optuna"))
    options.add_argument("--rounds", type=int, default=1, help="rounds of all sides (medians over them)")
    options.add_argument("--trials", type=int, default=20, help="trials per search (the grid has 20 points)")
    options.add_argument("--epochs", type=int, default=10, help="epochs per trial (the lesson's 10)")
    options.add_argument("--train-samples", type=int, default=None,
                         help="only the first N training images, before the split (a quick check)")
    options.add_argument("--data-dir", default=None, help="the four Fashion-MNIST IDX files")
    options.add_argument("--keras-tuner-path", default="/tmp/ktlib",
                         help="a folder holding keras_tuner, put first on PYTHONPATH for the kerastuner side")
    options.add_argument("--keep", default=None,
                         help="keep each fmnist-spec search folder in a new folder under this one (printed)")
    options.add_argument("--scaling", default="", help="numbers of trials for the scaling table, e.g. 4,8,16")
    options.add_argument("--scaling-epochs", type=int, default=None, help="epochs per trial there (default --epochs)")
    args = options.parse_args()
    args.sides = [s for s in args.sides.split(",") if s]
    unknown = [s for s in args.sides if s not in SIDES]
    if unknown:
        options.error(f"unknown side(s) {', '.join(unknown)}; choose among {', '.join(SIDES)}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at start, {time.strftime('%H:%M UTC', time.gmtime())}")
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fmnist-search-bench-") as tmp:
        compare(args, Path(tmp))
        if args.scaling:
            scaling(args, Path(tmp))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end, "
          f"{time.strftime('%H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
