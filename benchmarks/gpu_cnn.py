"""The textbook's CNN on one NVIDIA GPU: its plain Keras script against ``fmnist-spec train``.

For a person with an NVIDIA GPU, after ``bash scripts/setup.sh --gpu``; run with no edits::

    .venv/bin/python benchmarks/gpu_cnn.py [--pairs 3] [--epochs 3] [--train-samples N] [--allow-cpu]

It runs, alternately and each in a fresh process, ``--pairs`` pairs (the order flips
every pair so drifting load hits both sides alike) of

- ``benchmarks/textbook_cnn.py --epochs N``: lesson 8-2's convolutional network in
  plain Keras (its final ``BENCH {json}`` line gives ``fit_seconds``,
  ``epoch_seconds``, ``train_accuracy``, ``val_accuracy``, ``peak_rss_mb``), and
- ``fmnist-spec train specs/cnn.yaml --epochs N`` with the spec's ``EarlyStopping``
  removed (a temporary copy; the ``ModelCheckpoint`` stays, as in the textbook
  script), its figures read from the run's ``metrics.json``,

then prints one row per run and the medians: whole-process wall time (s, measured
here), time in ``fit`` (s), seconds per epoch (the textbook's median epoch; fmnist-spec's
fit time / epochs), peak resident memory (MB), final training and validation accuracy,
and the device each used (``metrics.json``'s ``device``; for the textbook script, the
GPUs ``tf.config.list_physical_devices("GPU")`` shows in its own process); and the
ratios fmnist-spec / textbook of the medians. ``--train-samples N`` uses the first N of
the 60,000 training images on both sides (80 % of them train), ``--allow-cpu`` runs
without a GPU (to check the script itself, e.g. ``--pairs 1 --epochs 1 --train-samples 600``).

Where no GPU can be used it stops at once with exit status 2 and says what it found
(no NVIDIA driver, TensorFlow's CPU build, no GPU visible to TensorFlow) and how to fix
it (``bash scripts/setup.sh --gpu``). Exit status 1: a run failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "cnn.yaml"
TEXTBOOK = ROOT / "benchmarks" / "textbook_cnn.py"
sys.path.insert(0, str(ROOT))  # run from a clone without installing
sys.path.insert(0, str(ROOT / "benchmarks"))

from cnn_vs_keras import spec_variant  # noqa: E402
from train_vs_keras import run_child  # noqa: E402

TEXTBOOK_WITH_DEVICES = """\
import json, runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print("DEVICES " + json.dumps([tf.config.experimental.get_device_details(g).get("device_name", g.name)
                               for g in gpus]))
"""
"""Runs ``textbook_cnn.py`` unchanged, then prints the GPUs TensorFlow showed in that process."""


def gpu_problem(probe) -> tuple[list[str], str] | None:
    """Why no GPU can be benchmarked here, as (what was found, one line each; how to fix it), or None.

    Args:
        probe: A :class:`fmnist_spec.running.device.SystemProbe` (or an object with its methods).
    """
    shown = probe.nvidia_gpus()
    if probe.tensorflow_gpus():
        return None
    cuda = probe.built_with_cuda()
    found = [f"NVIDIA GPUs the operating system shows: {', '.join(shown)}" if shown else
             "no NVIDIA driver (no /proc/driver/nvidia/gpus/, no nvidia-smi on PATH)",
             "TensorFlow is its CUDA build" if cuda else
             "TensorFlow is its CPU build (tf.test.is_built_with_cuda() is False)",
             "no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is [])"]
    if not shown:
        fix = ("this benchmark needs an NVIDIA GPU with its driver (nvidia-smi -L lists it); there, run "
               "bash scripts/setup.sh --gpu, then this script again")
    elif not cuda:
        fix = "bash scripts/setup.sh --gpu (TensorFlow's CUDA build), then this script again"
    else:
        fix = ("check CUDA_VISIBLE_DEVICES, and that NVIDIA's CUDA libraries match the driver: "
               "bash scripts/setup.sh --gpu reinstalls them")
    return found, fix


def run_textbook(epochs: int, train_samples: int | None) -> dict:
    """One run of the textbook's script; its BENCH line and the GPUs its TensorFlow showed."""
    subset = ["--train-samples", str(train_samples)] if train_samples else []
    wall, rss, stdout = run_child([sys.executable, "-c", TEXTBOOK_WITH_DEVICES, str(TEXTBOOK),
                                   "--epochs", str(epochs), *subset])
    row = json.loads(stdout.rsplit("BENCH ", 1)[1].splitlines()[0])
    gpus = json.loads(stdout.rsplit("DEVICES ", 1)[1].splitlines()[0])
    device = "CPU (no GPU visible)"
    if gpus:
        device = f"GPU: {gpus[0]}" + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
    return {"wall": wall, "fit": row["fit_seconds"], "epoch": statistics.median(row["epoch_seconds"]),
            "rss": rss, "train_acc": row["train_accuracy"],
            "val_acc": row["val_accuracy"], "device": device}


def run_fmnist_spec(spec: Path, epochs: int, workdir: Path) -> dict:
    """One ``python -m fmnist_spec train`` run; its figures from ``metrics.json``."""
    from fmnist_spec.running.device import device_text

    out = Path(tempfile.mkdtemp(dir=workdir)) / "run"
    wall, rss, _ = run_child([sys.executable, "-m", "fmnist_spec", "train", str(spec),
                              "--epochs", str(epochs), "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    fit = metrics["fit_seconds"]
    return {"wall": wall, "fit": fit, "epoch": fit / metrics["epochs_finished"], "rss": rss,
            "train_acc": metrics["train"]["accuracy"], "val_acc": metrics["validation"]["accuracy"],
            "device": device_text(metrics.get("device") or {}) or "?"}


def spec_without_early_stopping(workdir: Path, train_samples: int | None = None) -> Path:
    """A copy of ``specs/cnn.yaml`` without its ``EarlyStopping`` callback (fixed epochs), on the
    first ``train_samples`` training images when given."""
    return spec_variant(workdir, "cnn_fixed_epochs", None, {}, train_samples)


HEADER = (f"{'run':<18} {'wall s':>8} {'fit s':>8} {'s/epoch':>8} {'peak MB':>8} {'train acc':>9} "
          f"{'val acc':>8}  device")


def _row(label: str, r: dict) -> str:
    return (f"{label:<18} {r['wall']:>8.2f} {r['fit']:>8.2f} {r['epoch']:>8.2f} {r['rss']:>8,.0f} "
            f"{r['train_acc']:>9.4f} {r['val_acc']:>8.4f}  {r['device']}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("s" if n != 1 else "")


def median_of(rows: list[dict]) -> dict:
    medians = {key: statistics.median(r[key] for r in rows) for key in rows[0] if key != "device"}
    return {**medians, "device": " / ".join(sorted({r["device"] for r in rows}))}


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--pairs", type=int, default=3, help="textbook/fmnist-spec pairs (default 3)")
    options.add_argument("--epochs", type=int, default=3, help="epochs of each run (default 3)")
    options.add_argument("--train-samples", type=int, default=None,
                         help="use only the first N of the 60,000 training images (both sides)")
    options.add_argument("--allow-cpu", action="store_true",
                         help="run even without a GPU (checks the script)")
    args = options.parse_args(argv)
    from fmnist_spec.running.device import SystemProbe
    from fmnist_spec.to_keras.compat import import_tensorflow_quietly

    import_tensorflow_quietly()
    problem = gpu_problem(SystemProbe())
    if problem is not None and not args.allow_cpu:
        found, fix = problem
        print("gpu_cnn.py: no GPU to benchmark on here:\n" + "".join(f"  {line}\n" for line in found)
              + f"  hint: {fix}", file=sys.stderr)
        return 2
    runners = {"textbook": lambda: run_textbook(args.epochs, args.train_samples),
               "fmnist-spec": lambda: run_fmnist_spec(spec, args.epochs, workdir)}
    runs = {side: [] for side in runners}
    with tempfile.TemporaryDirectory(prefix="gpu-cnn-") as tmp:
        workdir = Path(tmp)
        spec = spec_without_early_stopping(workdir, args.train_samples)
        images = f"the first {args.train_samples:,}" if args.train_samples else "all 60,000"
        print(f"lesson 8-2's CNN: {_count(args.epochs, 'epoch')}, {_count(args.pairs, 'pair')}, "
              f"{images} training images (80 % train)\n{HEADER}", flush=True)
        for i in range(args.pairs):
            order = list(runners) if i % 2 == 0 else list(runners)[::-1]
            for side in order:
                runs[side].append(runners[side]())
                print(_row(f"{i + 1} {side}", runs[side][-1]), flush=True)
    medians = {side: median_of(rows) for side, rows in runs.items()}
    for side, median in medians.items():
        print(_row(f"median {side}", median))
    base, ours = medians["textbook"], medians["fmnist-spec"]
    print("\nfmnist-spec / textbook (medians): " + ", ".join(
        f"{name} {ours[key] / base[key]:.2f}x" for name, key in
        (("time in fit", "fit"), ("s/epoch", "epoch"), ("whole process", "wall"), ("peak memory", "rss"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
