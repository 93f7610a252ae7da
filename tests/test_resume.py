"""Runs that survive interruption: NaN loss, SIGKILL and --resume, Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from fmnist_spec import load_model, parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.running.run_folder import RunFolderError, read_log

NAN_SPEC = """spec_version: 1
seed: 1
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 64, activation: exponential, kernel_initializer: ones}
  - {units: 10, activation: softmax}
compile: {optimizer: sgd, loss: sparse_categorical_crossentropy, steps_per_execution: 1}
fit: {epochs: 3, batch_size: 8, verbose: 0}
"""
# exp(sum of 784 pixels x weight 1) overflows to inf in the first batch: the loss is NaN.

SLOW_SPEC = """spec_version: 1
seed: 3
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 256, activation: relu}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: EPOCHS, batch_size: 32, verbose: 2}
data: {train_samples: 4000}
"""
# 3,200 real training images per epoch, 100 steps: under a second an epoch on one core.


def test_nan_loss_stops_training_and_the_run_folder_says_so(tiny_data_dir, tmp_path):
    result = train(parse_spec(NAN_SPEC), out=tmp_path / "run", data_dir=tiny_data_dir)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "nan_loss" and metrics["stopped_at"] == {"epoch": 1, "batch": 1}
    assert "NaN" in metrics["message"] and result.metrics == metrics
    assert not (tmp_path / "run" / "model.keras").exists()
    assert not (tmp_path / "run" / "backup").exists()
    assert json.loads((tmp_path / "run" / "history.json").read_text())["loss"] == [None]  # 1 epoch, not 3


def test_nan_with_several_steps_per_call_names_the_last_batch_checked(tiny_data_dir, tmp_path, capsys):
    spec = parse_spec(NAN_SPEC.replace("steps_per_execution: 1", "steps_per_execution: 4"))
    metrics = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir).metrics
    assert metrics["status"] == "nan_loss" and metrics["stopped_at"] == {"epoch": 1, "batch": 4}
    assert "by batch 4" in metrics["message"] and "steps_per_execution" in metrics["message"]
    # Keras's own TerminateOnNaN line counts batches too (0-based), not calls of the train function
    assert "Batch 3: Invalid loss" in capsys.readouterr().out


def test_nan_loss_exits_1_with_a_clear_message(tiny_data_dir, tmp_path, capsys):
    spec = tmp_path / "nan.yaml"
    spec.write_text(NAN_SPEC)
    status = main(["train", str(spec), "--out", str(tmp_path / "run"), "--data-dir", str(tiny_data_dir)])
    assert status == 1
    err = capsys.readouterr().err
    assert "error: the loss became NaN or infinite in epoch 1, batch 1" in err and "status nan_loss" in err


def test_resume_without_a_backup_and_a_backup_without_resume_are_refused(tiny_data_dir, tmp_path):
    spec = parse_spec(SLOW_SPEC.replace("EPOCHS", "1").replace("data: {train_samples: 4000}", ""))
    with pytest.raises(RunFolderError, match="nothing to resume"):
        train(spec, out=tmp_path / "run", data_dir=tiny_data_dir, resume=True)
    (tmp_path / "run" / "backup").mkdir(parents=True)
    (tmp_path / "run" / "backup" / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    with pytest.raises(
        RunFolderError, match=r"interrupted run \(2 epoch\(s\) finished\); continue it with --resume"
    ):
        train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)


def test_read_log_keeps_each_epoch_once_and_skips_cut_rows(tmp_path):
    (tmp_path / "log.csv").write_text(
        "epoch,loss,val_loss\n0,1.5,1.6\n1,1.2,1.3\n1,1.1,1.2\n2,0.9,nan\n3,0.8\n"
    )
    assert read_log(tmp_path) == {"loss": [1.5, 1.1, 0.9], "val_loss": [1.6, 1.2, None]}
    assert read_log(tmp_path, epochs=2) == {"loss": [1.5, 1.1], "val_loss": [1.6, 1.2]}


def _start(spec, out, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, "-m", "fmnist_spec", "train", str(spec), "--out", str(out), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_first_epoch(process, out, timeout=120):
    """Until log.csv has a row and the backup records the finished epoch; the process must still run."""
    deadline = time.monotonic() + timeout
    log, metadata = out / "log.csv", out / "backup" / "training_metadata.json"
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if log.is_file() and len(log.read_text().splitlines()) >= 2 and metadata.is_file():
            return
        time.sleep(0.05)
    pytest.fail("the first epoch did not finish in time")


def _epochs_in_log(out):
    with open(out / "log.csv", newline="") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def _check_finished_run(out, epochs):
    history = json.loads((out / "history.json").read_text())
    assert {len(values) for values in history.values()} == {epochs}
    assert sorted(set(_epochs_in_log(out))) == list(range(epochs))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == epochs
    model = load_model(out / "model.keras")
    assert model.count_params() == metrics["parameters"] == 784 * 256 + 256 + 2570
    assert not (out / "backup").exists()
    return history, metrics


def test_sigkill_after_an_epoch_then_resume_gives_every_epoch_once(real_data, tmp_path):
    spec, out = tmp_path / "slow.yaml", tmp_path / "run"
    spec.write_text(SLOW_SPEC.replace("EPOCHS", "4"))
    first = _start(spec, out)
    _wait_for_first_epoch(first, out)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()
    assert json.loads((out / "metrics.json").read_text())["status"] == "running"
    killed_at = sorted(set(_epochs_in_log(out)))
    assert killed_at and max(killed_at) < 3

    loaded = parse_spec(spec.read_text(), str(spec))
    with pytest.raises(RunFolderError, match="continue it with --resume"):  # the backup is kept
        train(loaded, out=out, data=real_data, verbose=0)
    # resumed in this process (TensorFlow is already loaded here), as `train --resume` does
    result = train(loaded, out=out, data=real_data, verbose=0, resume=True)
    history, metrics = _check_finished_run(out, 4)
    assert result.history == history
    assert metrics["resumed_from_epoch"] >= 1  # did not start again from epoch 0
    assert metrics["resumed_from_epoch"] in (len(killed_at), len(killed_at) - 1)
    assert history["accuracy"][-1] > history["accuracy"][0]


def test_ctrl_c_stops_cleanly_says_how_to_resume_and_exits_130(real_data, tmp_path):
    spec, out = tmp_path / "slow.yaml", tmp_path / "run"
    spec.write_text(SLOW_SPEC.replace("EPOCHS", "5"))
    first = _start(spec, out)
    _wait_for_first_epoch(first, out)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"resume with: fmnist-spec train {spec} --out {out} --resume" in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 1 <= metrics["epochs_finished"] < 5
    history = json.loads((out / "history.json").read_text())
    assert {len(values) for values in history.values()} == {metrics["epochs_finished"]}
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written temporary files
    # the printed command works: resume through the CLI (in this process) and finish
    assert main(["train", str(spec), "--out", str(out), "--resume"]) == 0
    _check_finished_run(out, 5)


def test_an_interrupted_run_with_every_epoch_done_resumes_to_evaluate_and_save(
    tiny_data_dir, tmp_path, monkeypatch
):
    import fmnist_spec.running.train as train_module

    spec = parse_spec(
        SLOW_SPEC.replace("EPOCHS", "2")
        .replace("data: {train_samples: 4000}", "")
        .replace("verbose: 2", "verbose: 0")
    )
    real_save = train_module.save_model

    def interrupted_save(model, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_model", interrupted_save)
    with pytest.raises(train_module.TrainingInterrupted) as stopped:
        train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert (stopped.value.epochs_finished, stopped.value.epochs) == (2, 2)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(train_module, "save_model", real_save)
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir, resume=True)
    assert result.metrics["status"] == "finished" and result.metrics["resumed_from_epoch"] == 2
    assert {len(v) for v in result.history.values()} == {2}
    assert (tmp_path / "run" / "model.keras").is_file() and not (tmp_path / "run" / "backup").exists()
