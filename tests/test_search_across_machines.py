"""``fmnist-spec search --storage postgresql://...`` end to end against a real PostgreSQL server
(tests/postgres_server.py): worker processes with a search folder each, as on two machines,
joining one study by name; a worker killed with SIGKILL mid-trial; the database going away.

Tiny slices (100 training images, 2-3 epochs); heartbeats shortened by the environment variables
the storage reads (1 s interval, 6 s grace period). Processes a test starts are killed by pid in a
finally; the server is stopped by pid when the module ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
from conftest import ROOT, write_fashion_dir
from postgres_server import PASSWORD, ROLE, free_port

from fmnist_spec.search.database import rdb_storage

HEARTBEAT = {"FMNIST_SPEC_HEARTBEAT_INTERVAL": "1", "FMNIST_SPEC_GRACE_PERIOD": "6"}

SPEC = """\
spec_version: 1
name: tiny search
seed: 1
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 8, activation: relu}
  - {type: Dropout, rate: 0.2}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: EPOCHS, batch_size: 16}
data: {scale: 255.0, validation: {test_size: 0.2, random_state: 42}}
search:
  sampler: grid
  pruner: none
  space:
    compile.optimizer: {choices: [adam, sgd]}
    layers[2].rate: {low: 0.1, high: 0.2, step: 0.1}
"""
POINTS = [("adam", 0.1), ("adam", 0.2), ("sgd", 0.1), ("sgd", 0.2)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fashion_dir(tmp_path_factory.mktemp("data") / "fashion", n_train=100, n_test=20)


def write_spec(folder: Path, epochs: int) -> Path:
    path = folder / "tiny_search.yaml"
    path.write_text(SPEC.replace("EPOCHS", str(epochs)))
    return path


def search(spec: Path, out: Path, url: str, data_dir: Path) -> subprocess.Popen:
    """``fmnist-spec search SPEC --out OUT --storage URL --study tiny`` in a process of its own."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **HEARTBEAT)
    return subprocess.Popen([sys.executable, "-m", "fmnist_spec", "search", str(spec), "--out", str(out),
                             "--storage", url, "--study", "tiny", "--data-dir", str(data_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)


def trials_of(url: str) -> list:
    return optuna.load_study(study_name="tiny", storage=rdb_storage(url)).get_trials(deepcopy=False)


def point(trial) -> tuple:
    return trial.params["compile.optimizer"], round(trial.params["layers[2].rate"], 6)


def wait_for(condition, processes, what: str, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a search ended before {what}: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def training(out: Path):
    """The number of a trial in ``out`` that has finished its first epoch and trains on, or None."""
    for log in (out / "trials").glob(".*.partial/log.csv"):
        if len(log.read_text().splitlines()) >= 2:
            return int(log.parent.name.split(".")[1])
    return None


def finished_folders(out: Path) -> set:
    trials = out / "trials"
    return {int(p.name) for p in trials.iterdir() if p.name.isdigit()} if trials.is_dir() else set()


def test_two_workers_share_the_study_and_a_killed_workers_trial_is_retried_by_the_other(
        postgres_server, data_dir, tmp_path):
    url = postgres_server.url()
    spec = write_spec(tmp_path, epochs=3)
    first = search(spec, tmp_path / "machine-a", url, data_dir)
    second = search(spec, tmp_path / "machine-b", url, data_dir)
    try:
        killed = wait_for(lambda: training(tmp_path / "machine-a"), [first, second], "a trial of the first worker")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        out, err = second.communicate(timeout=900)
    finally:
        stop([first, second])
    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0, err
    assert "Traceback" not in err
    trials = trials_of(url)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(point(t) for t in complete) == POINTS   # every grid point trained to the end exactly once
    dead = trials[killed]
    assert dead.state == optuna.trial.TrialState.FAIL
    retry, = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state == optuna.trial.TrialState.COMPLETE and point(retry) == point(dead)
    assert retry.user_attrs["worker"]["pid"] == second.pid
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    # each complete trial is a finished run folder on the machine that trained it
    by_machine = {"machine-a": first.pid, "machine-b": second.pid}
    for trial in complete:
        machine = next(name for name, pid in by_machine.items() if trial.user_attrs["worker"]["pid"] == pid)
        assert (tmp_path / machine / "trials" / str(trial.number) / "metrics.json").is_file()
    assert f"postgresql://{ROLE}:***@127.0.0.1:{postgres_server.port}/{postgres_server.database}" in out
    assert PASSWORD not in out + err and quote(PASSWORD, safe="") not in out + err
    own = sum(1 for t in trials if t.state == optuna.trial.TrialState.COMPLETE
              and t.user_attrs["worker"]["pid"] == second.pid)
    assert f"; {own} trained now in " in out  # its own trials, not the other machine's too
    rows = {t["number"]: t for t in json.loads((tmp_path / "machine-b" / "study.json").read_text())["trials"]}
    assert "no heartbeat" in rows[killed]["message"] and rows[retry.number]["retry_of"] == killed  # were null


def test_a_database_that_goes_away_exits_1_with_the_url_masked_and_loses_no_finished_trial(
        postgres_server, data_dir, tmp_path):
    url = postgres_server.url()
    spec, out_dir = write_spec(tmp_path, epochs=2), tmp_path / "out"
    process = search(spec, out_dir, url, data_dir)
    try:
        wait_for(lambda: finished_folders(out_dir) and training(out_dir) is not None, [process],
                 "a finished trial and one in training")
        finished = finished_folders(out_dir)
        postgres_server.stop()
        started = time.monotonic()
        out, err = process.communicate(timeout=300)
        seconds = time.monotonic() - started
    finally:
        stop([process])
    assert process.returncode == 1, err
    assert seconds < 120
    masked = f"postgresql://{ROLE}:***@127.0.0.1:{postgres_server.port}/{postgres_server.database}"
    assert f"error: the study database {masked} failed: " in err
    assert "hint: check that the PostgreSQL server is running" in err
    assert "Traceback" not in err
    assert PASSWORD not in out + err and quote(PASSWORD, safe="") not in out + err

    postgres_server.start()
    kept = {t.number for t in trials_of(url) if t.state == optuna.trial.TrialState.COMPLETE}
    assert finished <= kept   # every trial finished before the database went away is still there
    again = search(spec, out_dir, url, data_dir)
    try:
        out, err = again.communicate(timeout=900)
    finally:
        stop([again])
    assert again.returncode == 0, err
    trials = trials_of(url)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(point(t) for t in complete) == POINTS
    assert kept <= {t.number for t in complete}
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


@pytest.mark.parametrize(("url", "environment", "status", "message"), [
    ("postgresql://fmnist:p@ss/w@127.0.0.1:{port}/studies", {}, 1,
     "error: the study database postgresql://fmnist:***@127.0.0.1:{port}/studies failed: connection to server"),
    ("postgresql://fmnist:p@ss/w@127.0.0.1:abc/studies", {}, 2,
     "error: --storage postgresql://fmnist:***@127.0.0.1:abc/studies: the port is not a number"),
    ("postgresql://fmnist:p@ss/w@127.0.0.1:{port}/studies", {"FMNIST_SPEC_GRACE_PERIOD": "soon"}, 2,
     "error: FMNIST_SPEC_GRACE_PERIOD='soon': expected a whole number of seconds > 0"),
])
def test_the_command_names_the_database_it_cannot_use_without_its_password(
        url, environment, status, message, data_dir, tmp_path):
    port = free_port()   # nobody listens there
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **environment)
    done = subprocess.run([sys.executable, "-m", "fmnist_spec", "search", str(write_spec(tmp_path, epochs=1)),
                           "--out", str(tmp_path / "out"), "--storage", url.format(port=port),
                           "--data-dir", str(data_dir)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == status, done.stderr
    assert done.stderr.startswith(message.format(port=port)) and "\n  hint: " in done.stderr
    assert "p@ss/w" not in done.stderr and "Traceback" not in done.stderr
