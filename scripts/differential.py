"""Run the differential test by hand: thousands of random layer stacks, the static checks against plain Keras.

Usage, from the repository root::

    .venv/bin/python scripts/differential.py --count 5000 [--start 0]

Compares each seed's spec as ``tests/test_differential.py`` does (``tests/differential.py``),
prints every disagreement with its seed and spec, then one line of figures: specs compared,
how many Keras built, how many the tool found valid, how many were refused by each policy,
agreements and disagreements. Exit status 1 when any spec disagrees.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="specs to compare (default 1000)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    args = parser.parse_args(argv)
    from differential import compare

    started = time.monotonic()
    disagreeing, built, valid, reasons = [], 0, 0, Counter()
    for seed in range(args.start, args.start + args.count):
        outcome = compare(seed)
        built += bool(outcome.facts.rows)
        valid += not outcome.tool_errors
        reasons.update(set().union(*outcome.expected.values()))
        if (seed - args.start + 1) % 250 == 0:
            print(f"... {seed - args.start + 1} specs, {len(disagreeing)} disagree", file=sys.stderr, flush=True)
        if outcome.disagreements:
            disagreeing.append(seed)
            print(f"seed {seed}:\n{outcome.text}" + "\n".join(outcome.disagreements) + "\n", flush=True)
    print(f"{args.count} specs (seeds {args.start}..{args.start + args.count - 1}) in "
          f"{time.monotonic() - started:.0f} s: Keras built {built}, the tool found {valid} valid; "
          f"refusals by reason (specs): {dict(sorted(reasons.items()))}; "
          f"{args.count - len(disagreeing)} agree, {len(disagreeing)} disagree"
          + (f" (seeds {disagreeing[:20]})" if disagreeing else ""))
    return 1 if disagreeing else 0


if __name__ == "__main__":
    sys.exit(main())
