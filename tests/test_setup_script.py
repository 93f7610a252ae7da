"""scripts/setup.sh's arguments: --help prints its usage, an unknown argument exits 2 before installing."""

import subprocess

from conftest import ROOT

SETUP = ROOT / "scripts" / "setup.sh"


def test_help_prints_both_ways_to_install_and_exits_0():
    done = subprocess.run(["bash", str(SETUP), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "bash scripts/setup.sh --gpu" in done.stdout and "tensorflow-cpu" in done.stdout


def test_an_unknown_argument_exits_2_with_a_hint_and_installs_nothing():
    done = subprocess.run(["bash", str(SETUP), "--bogus"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["setup.sh: unknown argument '--bogus'",
                                        "  hint: bash scripts/setup.sh [--gpu]"]
    assert done.stdout == ""
