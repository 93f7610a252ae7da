"""Whole-process latency of ``fmnist-spec validate`` against ``fmnist-spec build``,
and validate time against spec size.

``validate`` never imports TensorFlow (only ``builder.py`` onwards does), so
it should answer in a fraction of a second; ``build`` pays TensorFlow's
import. Both run on the same spec in fresh processes, alternately,
``--repeats`` times; the table shows the medians and the ratio. Then specs
of 10, 100 and 1,000 layers (Flatten, Dense(10, relu) x (n - 2), Dense(10,
softmax); generated in a temporary directory) are validated, whole-process
and in-process (``fmnist_spec.validate`` timed here, without interpreter
start-up). Run by hand, not by CI::

    python benchmarks/validate_latency.py [--repeats 5] [--spec specs/relu_adam.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_SECONDS, TARGET_RATIO = 0.3, 10.0


def wall(*arguments: str) -> float:
    """Seconds from start to exit of ``python -m fmnist_spec ARGUMENTS``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fmnist_spec", *arguments], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def generated_spec(directory: Path, layers: int) -> Path:
    """A valid spec of ``layers`` layers: Flatten, Dense(10, relu) x (layers - 2), Dense(10, softmax)."""
    lines = ["spec_version: 1", f"name: deep_{layers}", "layers:",
             "  - {type: Flatten, input_shape: [28, 28]}"]
    lines += [f"  - {{name: hidden_{i}, units: 10, activation: relu}}" for i in range(layers - 2)]
    lines += ["  - {name: output, units: 10, activation: softmax}",
              "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}",
              "fit: {epochs: 5, batch_size: 32}", ""]
    path = directory / f"deep_{layers}.yaml"
    path.write_text("\n".join(lines), "utf-8")
    return path


def latency(spec: str, repeats: int) -> None:
    """validate vs build on one spec, alternating, medians."""
    times = {"validate": [], "build": []}
    for _ in range(repeats):
        for command, values in times.items():
            values.append(wall(command, spec))
    v, b = statistics.median(times["validate"]), statistics.median(times["build"])
    print(f"{'command':<36} {'median s':>9} {'min s':>7} {'max s':>7}")
    for command, values in times.items():
        print(f"{'fmnist-spec ' + command + ' ' + Path(spec).name:<36} {statistics.median(values):>9.3f} "
              f"{min(values):>7.3f} {max(values):>7.3f}")
    print(f"validate median {v:.3f} s (target <= {TARGET_SECONDS} s: {'yes' if v <= TARGET_SECONDS else 'NO'}); "
          f"build / validate {b / v:.1f}x (target >= {TARGET_RATIO:.0f}x: "
          f"{'yes' if b / v >= TARGET_RATIO else 'NO'})")


def size(repeats: int) -> None:
    """validate time against the number of layers."""
    from fmnist_spec import validate

    print(f"\nvalidate against spec size (median of {repeats})")
    print(f"{'layers':>7} {'whole process s':>16} {'in-process ms':>14} {'ms per layer':>13}")
    with tempfile.TemporaryDirectory(prefix="fmnist-validate-") as tmp:
        for layers in (10, 100, 1000):
            path = generated_spec(Path(tmp), layers)
            assert validate(path) == [], f"generated spec of {layers} layers is invalid"
            whole = statistics.median(wall("validate", str(path)) for _ in range(repeats))
            inner = []
            for _ in range(repeats):
                start = time.perf_counter()
                validate(path)
                inner.append(time.perf_counter() - start)
            ms = 1000 * statistics.median(inner)
            print(f"{layers:>7,} {whole:>16.3f} {ms:>14.1f} {ms / layers:>13.3f}", flush=True)
    print("(flat or falling ms per layer means validate grows no faster than linearly)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeats", type=int, default=5)
    options.add_argument("--spec", default="specs/relu_adam.yaml")
    args = options.parse_args()
    latency(args.spec, args.repeats)
    size(args.repeats)


if __name__ == "__main__":
    main()
