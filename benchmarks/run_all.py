"""Run every benchmark by hand, one after another, printing their tables::

    .venv/bin/python benchmarks/run_all.py            # side by side + scaling, validate latency (~5 min)
    .venv/bin/python benchmarks/run_all.py --levers   # also each speed lever alone (~25 min more on 2 cores)

Nothing here runs in CI, and nothing asserts a time: the scripts print
tables, the targets and whether this run met them. Timings on a shared
machine are noisy; each script alternates its sides and reports medians.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--levers", action="store_true", help="also run benchmarks/levers.py")
    args = options.parse_args()
    scripts = ["train_vs_keras.py", "validate_latency.py"] + (["levers.py"] if args.levers else [])
    for script in scripts:
        print(f"\n=== benchmarks/{script} ===", flush=True)
        status = subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parent, check=False).returncode
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
