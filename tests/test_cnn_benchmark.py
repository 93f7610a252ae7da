"""benchmarks/cnn_vs_keras.py, the textbook's CNN script against ``fmnist-spec train``: its table,
ratios and the seeded-history check, on a slice (the real measurement is run by hand)."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_side_by_side_prints_medians_ratios_targets_and_the_seeded_history_check():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cnn_vs_keras.py"), "--pairs", "2", "--epochs", "1",
         "--sides", "textbook,shipped", "--train-samples", "600", "--no-scaling"],
        capture_output=True, text=True, timeout=600, check=True)
    out = done.stdout
    for side in ("textbook", "shipped"):
        assert re.search(rf"^median {side} +[\d.]+ +[\d.]+ ", out, re.MULTILINE), out
    policies = dict(re.findall(r"^median (\w+) .* (\w+)$", out, re.MULTILINE))
    assert policies["textbook"] == "float32"
    assert policies["shipped"] in ("mixed_bfloat16", "float32")  # auto: by this machine's CPU
    assert re.search(r"^time in fit +[\d.]+x +<= 0.5x +met: (yes|NO)$", out, re.MULTILINE), out
    assert re.search(r"^whole process .*<= 0.6x", out, re.MULTILINE)
    assert re.search(r"^peak memory .*<= 1.0x", out, re.MULTILINE)
    assert re.search(r"^val acc difference .*within 0.01", out, re.MULTILINE)
    # seed 42: both runs of each fmnist-spec side gave the same history
    assert re.search(r"^same history, seed 42 +yes +\(2 runs each; device CPU\)$", out, re.MULTILINE), out
