"""benchmarks/gpu_cnn.py: where no GPU can be used it stops at once (exit 2) saying what it found
and how to fix it; its side-by-side table works (checked on the CPU with a few images)."""

import importlib.util
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT
from test_device import RTX, FakeProbe

SCRIPT = ROOT / "benchmarks" / "gpu_cnn.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_cnn", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tensorflow_sees_a_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def test_without_a_gpu_it_exits_2_at_once_saying_what_it_found_and_the_fix(tmp_path):
    if _tensorflow_sees_a_gpu():
        pytest.skip("TensorFlow sees a GPU here: the script would benchmark")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert time.perf_counter() - start < 60 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line[:5] not in ("I0000", "E0000", "W0000")]
    assert lines[0] == "gpu_cnn.py: no GPU to benchmark on here:"
    assert "  no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is [])" in lines
    assert lines[-1].startswith("  hint: ") and "bash scripts/setup.sh --gpu" in lines[-1]


def test_what_it_found_names_the_missing_piece():
    problem = _module().gpu_problem
    found, fix = problem(FakeProbe())
    assert found[:2] == ["no NVIDIA driver (no /proc/driver/nvidia/gpus/, no nvidia-smi on PATH)",
                         "TensorFlow is its CPU build (tf.test.is_built_with_cuda() is False)"]
    assert "needs an NVIDIA GPU with its driver" in fix
    found, fix = problem(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"]))
    assert found[0] == "NVIDIA GPUs the operating system shows: NVIDIA GeForce RTX 3090"
    assert fix.startswith("bash scripts/setup.sh --gpu (TensorFlow's CUDA build)")
    found, fix = problem(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], cuda=True))
    assert found[1] == "TensorFlow is its CUDA build" and "CUDA_VISIBLE_DEVICES" in fix
    assert problem(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], gpus=[RTX], cuda=True)) is None


def test_the_spec_it_trains_is_cnn_yaml_without_early_stopping(tmp_path):
    from fmnist_spec import load_spec

    path = _module().spec_without_early_stopping(tmp_path, train_samples=600)
    resolved = yaml.safe_load(path.read_text("utf-8"))
    assert [c["type"] for c in resolved["fit"]["callbacks"]] == ["ModelCheckpoint"]
    assert resolved["data"]["train_samples"] == 600
    assert load_spec(path).resolved()["layers"] == load_spec(ROOT / "specs" / "cnn.yaml").resolved()["layers"]


def test_its_table_compares_both_sides_with_their_devices(tmp_path):
    command = [sys.executable, str(SCRIPT), "--allow-cpu", "--pairs", "1", "--epochs", "1",
               "--train-samples", "300"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line[:18].strip(): line for line in done.stdout.splitlines() if line.startswith("median ")}
    assert set(rows) == {"median textbook", "median fmnist-spec"}
    assert rows["median fmnist-spec"].split("  ")[-1].strip().startswith(("CPU: ", "GPU: "))
    assert "fmnist-spec / textbook (medians): time in fit " in done.stdout
