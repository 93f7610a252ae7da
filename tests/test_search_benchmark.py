"""benchmarks/search_vs_kerastuner.py, fmnist-spec search against KerasTuner and plain Optuna: its
table, ratios and trials-over-time on a slice (300 images, 2 trials, 1 epoch; the real measurement
is run by hand)."""

import importlib.util
import re
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_side_by_side_prints_each_side_medians_ratios_targets_and_trials_over_time(tmp_path):
    # an empty --keras-tuner-path: KerasTuner runs only where it is installed; else its error is shown
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "search_vs_kerastuner.py"), "--trials", "2", "--epochs", "1",
         "--train-samples", "300", "--sides", "kerastuner,workers2,optuna", "--keras-tuner-path", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=True, cwd=tmp_path)
    out = done.stdout
    has_kerastuner = importlib.util.find_spec("keras_tuner") is not None
    sides = ["workers2", "optuna"] + (["kerastuner"] if has_kerastuner else [])
    for side in sides:
        # wall s, complete, pruned, best val acc, best values, peak MB (largest), peak MB (all)
        row = re.search(rf"^median {side} +([\d.]+) +(\d+) +(\d+) +(0\.\d{{4}}) +(\w+ 0\.\d) +([\d,]+) +([\d,]+)$",
                        out, re.MULTILINE)
        assert row, out
        assert float(row[1]) > 0 and int(row[2]) + int(row[3]) == 2
        assert int(row[7].replace(",", "")) >= int(row[6].replace(",", "")) > 100  # MB; all >= largest
    if not has_kerastuner:
        assert re.search(r"^1 kerastuner: FAILED, left out: .*ModuleNotFoundError: No module named 'keras_tuner'",
                         out, re.MULTILINE), out
    baseline = "kerastuner" if has_kerastuner else "optuna"
    assert re.search(rf"^ratio to {baseline} ", out, re.MULTILINE), out
    assert re.search(r"^wall time +.*[\d.]+x +<= 0.5x +met: (yes|NO)", out, re.MULTILINE), out
    assert re.search(r"^peak memory \(all\) +[\d.]+x", out, re.MULTILINE), out
    assert re.search(r"^best val acc diff +[+-]\d\.\d{4}.* >= -0.005 +met: (yes|NO)", out, re.MULTILINE), out
    # the time at which the 1st and 2nd trial finished, per side, growing
    for n in (1, 2):
        assert re.search(rf"^{n} +[\d.]+ +[\d.]+", out, re.MULTILINE), out
    second = re.search(r"^2 +([\d.]+) +([\d.]+)", out, re.MULTILINE)
    first = re.search(r"^1 +([\d.]+) +([\d.]+)", out, re.MULTILINE)
    assert all(float(b) >= float(a) for a, b in zip(first.groups(), second.groups()))
