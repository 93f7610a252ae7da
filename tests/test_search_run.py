"""fmnist-spec search: trials as run folders, leaderboard, best.yaml, study.json, pictures; resume,
Ctrl-C, a killed worker, parallel workers, grids trained once, a changed spec refused, pruning.

Every test trains tiny slices (1-3 epochs, 80-800 training images); processes a test starts are
killed by pid in a finally."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_fashion_dir

from fmnist_spec.search import liveness

GRID_SPEC = """\
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
  sampler: SAMPLER
  n_trials: TRIALS
  space:
    compile.optimizer: {choices: [adam, sgd]}
    layers[2].rate: {low: 0.1, high: 0.2, step: 0.1}
"""


def grid_spec(folder: Path, epochs: int = 1, sampler: str = "grid", trials: int = 4) -> Path:
    path = folder / "tiny_search.yaml"
    path.write_text(GRID_SPEC.replace("EPOCHS", str(epochs)).replace("SAMPLER", sampler)
                    .replace("TRIALS", str(trials)))
    return path


def start(*args, stdout=subprocess.PIPE) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "fmnist_spec", "search", *map(str, args)], cwd=ROOT, env=env,
                            stdout=stdout, stderr=subprocess.PIPE, text=True)


def run(*args, timeout=600) -> subprocess.CompletedProcess:
    process = start(*args)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        stop(process)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def stop(process: subprocess.Popen) -> None:
    """Kill ``process`` by pid if it still runs."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def study_json(out: Path) -> dict:
    return json.loads((out / "study.json").read_text())


def optuna_trials(out: Path, name: str = "tiny_search_0d9430"):
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the search ended before {what}: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def in_second_epoch(out: Path, number: int):
    """True once trial ``number`` has finished its first epoch (its log has a row) and trains on."""
    log = out / "trials" / f".{number}.partial" / "log.csv"
    return lambda: log.is_file() and len(log.read_text().splitlines()) >= 2


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fashion_dir(tmp_path_factory.mktemp("data") / "fashion", n_train=100, n_test=20)


@pytest.fixture(scope="module")
def grid_search(tmp_path_factory, data_dir):
    """One grid search of 4 points through the CLI: (spec, out, completed process)."""
    folder = tmp_path_factory.mktemp("grid")
    spec, out = grid_spec(folder), folder / "out"
    return spec, out, run(spec, "--out", out, "--data-dir", data_dir)


def test_search_trains_each_grid_point_once_into_a_run_folder(grid_search):
    _, out, done = grid_search
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    trials = study_json(out)["trials"]
    assert [t["state"] for t in trials] == ["complete"] * 4
    points = sorted((t["values"]["compile.optimizer"], t["values"]["layers[2].rate"]) for t in trials)
    assert points == [("adam", "0.1"), ("adam", "0.2"), ("sgd", "0.1"), ("sgd", "0.2")]
    for trial in trials:
        run_dir = out / trial["run"]
        assert run_dir == out / "trials" / str(trial["number"])
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "finished" and metrics["validation"]["accuracy"] == trial["val_accuracy"]
        assert (run_dir / "model.keras").is_file() and (run_dir / "history.json").is_file()
        recorded = yaml.safe_load((run_dir / "spec.yaml").read_text())
        assert recorded["layers"][2]["rate"] == float(trial["values"]["layers[2].rate"])
        assert recorded["compile"]["optimizer"] == trial["values"]["compile.optimizer"]
    assert not list((out / "trials").glob(".*.partial"))


def test_search_prints_one_line_per_trial_and_a_leaderboard(grid_search):
    _, out, done = grid_search
    lines = [line for line in done.stdout.splitlines() if line.startswith("trial ")]
    assert len(lines) == 4
    assert all(" complete " in line and line.endswith(" s") and "val_accuracy 0." in line for line in lines)
    assert "Epoch 1/1" not in done.stdout and "━" not in done.stdout  # no Keras progress bar
    board = study_json(out)["leaderboard"]
    figures = [row["val_accuracy"] for row in board]
    assert figures == sorted(figures, reverse=True)
    header = next(line for line in done.stdout.splitlines() if line.startswith("#  trial"))
    assert header.split() == ["#", "trial", "compile.optimizer", "layers[2].rate", "val_accuracy", "state",
                              "epochs", "seconds"]
    assert "0.30000000000000004" not in done.stdout and "0.1 " in done.stdout
    best = study_json(out)["best"]
    assert f"best: trial {best['number']}, val_accuracy {best['val_accuracy']:.4f}" in done.stdout


def test_search_writes_best_yaml_study_json_and_pictures(grid_search):
    _, out, _done = grid_search
    study = study_json(out)
    best = study["best"]
    assert best["number"] == study["leaderboard"][0]["number"]
    assert study["objective"] == "val_accuracy" and study["direction"] == "maximize"
    assert study["sampler"] == "grid" and study["n_trials"] == 4 and study["states"] == {"complete": 4}
    plain = yaml.safe_load((out / "best.yaml").read_text())
    assert "search" not in plain
    assert plain["compile"]["optimizer"] == best["values"]["compile.optimizer"]
    assert plain["layers"][2]["rate"] == float(best["values"]["layers[2].rate"])
    assert plain["seed"] == 1 and plain["fit"]["epochs"] == 1
    for name in ("optimization_history", "parallel_coordinate", "param_importances"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_yaml_trained_again_gives_the_best_trials_history(grid_search, data_dir, tmp_path):
    _, out, _done = grid_search
    best = study_json(out)["best"]
    again = subprocess.run([sys.executable, "-m", "fmnist_spec", "train", str(out / "best.yaml"), "--seed", "1",
                            "--out", str(tmp_path / "again"), "--data-dir", str(data_dir)],
                           check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    trained = json.loads((tmp_path / "again" / "history.json").read_text())
    assert trained == json.loads((out / best["run"] / "history.json").read_text())  # exactly, every epoch


def test_compare_reads_the_trial_folders_without_training(grid_search, tmp_path):
    _, out, _done = grid_search
    folders = sorted(str(p) for p in (out / "trials").iterdir() if not p.name.startswith("."))
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "compare", *folders, "--out", str(tmp_path / "cmp"),
                             "--format", "json"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["result"]
    assert [row["spec"] for row in rows] == [Path(f).name for f in folders]
    assert all(row["cached"] and row["status"] == "finished" for row in rows)
    assert [row["run"] for row in rows] == folders


def test_running_the_finished_search_again_trains_nothing_and_reports_json(grid_search, data_dir):
    spec, out, _done = grid_search
    before = (out / "study.journal").read_bytes()
    again = run(spec, "--out", out, "--data-dir", data_dir, "--format", "json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)["result"]
    assert result["trained"] == 0 and result["settled"] == 4 and result["n_trials"] == 4
    assert result["best"]["values"] == study_json(out)["best"]["values"]
    assert (out / "study.journal").read_bytes() == before


def test_a_changed_spec_for_an_existing_study_is_refused_naming_what_differs(grid_search, data_dir):
    spec, out, _done = grid_search
    journal, summary = (out / "study.journal").read_bytes(), (out / "study.json").read_bytes()
    changed = run(spec, "--out", out, "--data-dir", data_dir, "--set", "layers[1].units=16", timeout=120)
    assert changed.returncode == 2, changed.stderr
    assert "layers[1].units: 8 in the study, 16 now" in changed.stderr
    assert "hint:" in changed.stderr and "Traceback" not in changed.stderr
    spec.write_text(spec.read_text().replace("[adam, sgd]", "[adam, rmsprop]"))
    try:
        space = run(spec, "--out", out, "--data-dir", data_dir, timeout=120)
    finally:
        spec.write_text(spec.read_text().replace("[adam, rmsprop]", "[adam, sgd]"))
    assert space.returncode == 2, space.stderr
    assert 'search.space.compile.optimizer.choices[1]: "sgd" in the study, "rmsprop" now' in space.stderr
    assert (out / "study.journal").read_bytes() == journal and (out / "study.json").read_bytes() == summary


def test_search_refuses_a_folder_that_is_not_a_search_and_a_storage_it_cannot_use(tmp_path, data_dir):
    spec = grid_spec(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes.txt").write_text("mine")
    refused = run(spec, "--out", tmp_path / "runs", timeout=120)
    assert refused.returncode == 2 and "notes.txt" in refused.stderr
    sqlite = run(spec, "--out", tmp_path / "new", "--storage", "sqlite:///x.db", timeout=120)
    assert sqlite.returncode == 2 and "'sqlite' is not a storage" in sqlite.stderr
    assert not (tmp_path / "new").exists()


def test_two_workers_train_every_grid_point_exactly_once(tmp_path, data_dir):
    spec, out = grid_spec(tmp_path), tmp_path / "out"
    done = run(spec, "--out", out, "--data-dir", data_dir, "--workers", "2")
    assert done.returncode == 0, done.stderr
    trials = study_json(out)["trials"]
    assert [t["state"] for t in trials] == ["complete"] * 4, trials
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials}) == 4
    assert len({t["worker"]["pid"] for t in trials}) == 2  # both processes trained
    assert sorted(p.name for p in (out / "trials").iterdir() if not p.name.startswith(".")) == ["0", "1", "2", "3"]
    assert len([line for line in done.stdout.splitlines() if line.startswith("trial ")]) == 4


def test_resume_continues_to_the_same_total(tmp_path, data_dir):
    spec, out = grid_spec(tmp_path, sampler="random", trials=3), tmp_path / "out"
    first = run(spec, "--out", out, "--data-dir", data_dir, "--trials", "2")
    assert first.returncode == 0, first.stderr
    assert study_json(out)["states"] == {"complete": 2}
    second = run(spec, "--out", out, "--data-dir", data_dir)
    assert second.returncode == 0, second.stderr
    assert [line.split()[1] for line in second.stdout.splitlines() if line.startswith("trial ")] == ["2"]
    assert study_json(out)["states"] == {"complete": 3}
    assert ": 3 of 3 trials (3 complete); 1 trained now in " in second.stdout
    fewer = run(spec, "--out", out, "--data-dir", data_dir, "--trials", "2")  # it said "3 of 2 trials"
    assert fewer.returncode == 0, fewer.stderr
    assert ": 3 trials (it had them already; 2 were asked for) (3 complete); 0 trained now in " in fewer.stdout


def test_ctrl_c_exits_130_keeps_finished_trials_and_the_next_run_retries_the_interrupted_one(tmp_path, data_dir):
    spec, out = grid_spec(tmp_path, epochs=3, sampler="random", trials=2), tmp_path / "out"
    process = start(spec, "--out", out, "--data-dir", data_dir)
    try:
        wait_for(in_second_epoch(out, 1), process, "trial 1's second epoch")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        stop(process)
    assert process.returncode == 130, stderr
    assert "interrupted: 1 of 2 trials finished and kept" in stderr and "Traceback" not in stderr
    states = {t.number: t.state.name for t in optuna_trials(out)}
    assert states == {0: "COMPLETE", 1: "FAIL", 2: "WAITING"}  # consistent: nothing left RUNNING
    assert study_json(out)["states"] == {"complete": 1, "fail": 1, "waiting": 1}
    assert (out / "trials" / "0" / "model.keras").is_file()
    again = run(spec, "--out", out, "--data-dir", data_dir)
    assert again.returncode == 0, again.stderr
    trials = {t["number"]: t for t in study_json(out)["trials"]}
    assert trials[2]["state"] == "complete" and trials[2]["retry_of"] == 1
    assert trials[2]["params"] == trials[1]["params"]
    assert trials[1]["message"] == "interrupted by Ctrl-C"


def test_a_killed_workers_trial_is_found_and_retried_on_the_next_start(tmp_path, data_dir):
    spec, out = grid_spec(tmp_path, epochs=3, sampler="random", trials=2), tmp_path / "out"
    process = start(spec, "--out", out, "--data-dir", data_dir)
    try:
        wait_for(in_second_epoch(out, 1), process, "trial 1's second epoch")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        stop(process)
    running = [t for t in optuna_trials(out) if t.state.name == "RUNNING"]
    assert [t.number for t in running] == [1] and running[0].user_attrs["worker"]["pid"] == process.pid
    again = run(spec, "--out", out, "--data-dir", data_dir)
    assert again.returncode == 0, again.stderr
    trials = {t["number"]: t for t in study_json(out)["trials"]}
    assert trials[1]["state"] == "fail" and f"pid {process.pid}" in trials[1]["message"]
    assert trials[2]["state"] == "complete" and trials[2]["retry_of"] == 1
    assert trials[2]["params"] == trials[1]["params"]
    assert study_json(out)["states"] == {"complete": 2, "fail": 1}



def test_a_worker_killed_mid_search_still_leaves_study_json_and_best_yaml(tmp_path, data_dir):
    """SIGKILL one of two workers in its second epoch: the other retries its trial and finishes the
    study; the parent exits 1 naming the killed worker and still writes study.json and best.yaml."""
    spec, out = grid_spec(tmp_path, epochs=3, sampler="random", trials=3), tmp_path / "out"
    process = start(spec, "--out", out, "--data-dir", data_dir, "--workers", "2")
    try:
        def training():
            if not (out / "study.journal").is_file():
                return []
            return [t for t in optuna_trials(out) if t.state.name == "RUNNING" and "worker" in t.user_attrs
                    and in_second_epoch(out, t.number)()]

        wait_for(training, process, "a trial's second epoch")
        victim = training()[0]
        os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
        _, stderr = process.communicate(timeout=600)
    finally:
        stop(process)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "killed by signal 9" in stderr
    assert "study.json, best.yaml written" in stderr
    facts = study_json(out)
    assert facts["states"]["complete"] == 3 and facts["states"]["fail"] == 1, facts["states"]
    retried = [t for t in facts["trials"] if t.get("retry_of") == victim.number]
    assert len(retried) == 1 and retried[0]["state"] == "complete"
    assert yaml.safe_load((out / "best.yaml").read_text())["name"]
    assert (out / "optimization_history.png").is_file()



def test_a_second_ctrl_c_with_workers_still_leaves_study_json_as_the_journal_says(tmp_path, data_dir):
    """Two Ctrl-C 0.3 s apart with --workers 2: the second one cut short the wait for the workers,
    so study.json was written while they still ended their trials (one showed as running)."""
    spec, out = grid_spec(tmp_path, epochs=3, sampler="random", trials=6), tmp_path / "out"
    process = start(spec, "--out", out, "--data-dir", data_dir, "--workers", "2")
    try:
        def both_training():
            return (out / "study.journal").is_file() and len(
                [t for t in optuna_trials(out) if t.state.name == "RUNNING" and "worker" in t.user_attrs]) == 2

        wait_for(both_training, process, "both workers' trials")
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
    finally:
        stop(process)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "what was in training will be trained again" in stderr
    journal = {t.number: t.state.name.lower() for t in optuna_trials(out)}
    written = {t["number"]: t["state"] for t in study_json(out)["trials"]}
    assert written == journal and "running" not in written.values(), (written, journal)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_workers_end_with_their_parent_and_leave_no_trial_running(tmp_path, data_dir, how):
    """A parent of --workers 2 killed by SIGTERM, SIGHUP or SIGKILL left both workers training the
    whole study in the background. Now each gets SIGINT from the kernel (PR_SET_PDEATHSIG): it ends
    its trial as Ctrl-C does and exits; the next start retries what was in training."""
    spec, out = grid_spec(tmp_path, epochs=3, sampler="random", trials=6), tmp_path / "out"
    process = start(spec, "--out", out, "--data-dir", data_dir, "--workers", "2")
    workers = set()
    try:
        def training():
            if (out / "study.journal").is_file():
                workers.update(json.dumps(t.user_attrs["worker"], sort_keys=True) for t in optuna_trials(out)
                               if t.state.name == "RUNNING" and "worker" in t.user_attrs)
            return len(workers) == 2

        wait_for(training, process, "both workers' trials")
        os.kill(process.pid, how)
        process.wait(timeout=60)
        deadline = time.monotonic() + 120
        alive = lambda: [w for w in map(json.loads, workers) if not liveness.is_dead(w)]  # noqa: E731
        while time.monotonic() < deadline and alive():
            time.sleep(0.2)
        assert not alive(), "a worker outlived its parent"
    finally:
        stop(process)
        for worker in map(json.loads, workers):
            if not liveness.is_dead(worker):
                os.kill(worker["pid"], signal.SIGKILL)
    again = run(spec, "--out", out, "--data-dir", data_dir)  # the next start finishes the study
    assert again.returncode == 0, again.stderr
    states = study_json(out)["states"]
    assert states["complete"] + states.get("pruned", 0) == 6 and set(states) <= {"complete", "pruned", "fail"}, states
    assert states.get("fail", 0) >= 2  # the two trials in training when the parent went, retried


def test_a_trial_that_fails_is_trained_first_by_the_next_run_and_a_grid_repeats_no_point(tmp_path, data_dir,
                                                                                        monkeypatch):
    """A full disk in trial 1: the hint is to run the search again (not train's --resume); the next
    run trains trial 1's point first and no other, with no duplicate_of trials (GridSampler would
    otherwise draw settled points at random once every point has been visited)."""
    from fmnist_spec import load_spec
    from fmnist_spec.running.run_folder import RunWriteError
    from fmnist_spec.search import run_search, trial

    spec = load_spec(grid_spec(tmp_path))
    real, calls = trial.run_trial, []

    def full_disk_in_trial_1(point, optuna_trial, *args, **kwargs):
        calls.append(optuna_trial.number)
        if optuna_trial.number == 1:
            raise RunWriteError("trials/.1.partial: not enough disk space for the backup of epoch 1 (0 bytes "
                                "free, about 9,000 needed)\n  hint: free some space and run the same command "
                                "with --resume")
        return real(point, optuna_trial, *args, **kwargs)

    monkeypatch.setattr(trial, "run_trial", full_disk_in_trial_1)
    with pytest.raises(RunWriteError) as failed:
        run_search(spec, out=tmp_path / "out", data_dir=data_dir, echo=lambda line: None)
    assert "--resume" not in str(failed.value) and "run the same search command again" in str(failed.value)
    monkeypatch.setattr(trial, "run_trial", real)
    lines = []
    result = run_search(spec, out=tmp_path / "out", data_dir=data_dir, echo=lines.append)
    trials = {t["number"]: t for t in study_json(tmp_path / "out")["trials"]}
    assert [line.split()[1] for line in lines] == ["2", "3", "4"] and trials[2]["retry_of"] == 1
    assert trials[2]["params"] == trials[1]["params"] and trials[1]["state"] == "fail"
    assert [t["duplicate_of"] for t in trials.values()] == [None] * 5
    assert result.states == {"complete": 4, "fail": 1}
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials.values() if t["state"] == "complete"}) == 4


PRUNING_SPEC = """\
spec_version: 1
name: pruning
seed: 2
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 32, activation: relu}
  - {units: 10, activation: softmax}
compile: {optimizer: {type: Adam, learning_rate: 0.01}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 32}
data: {scale: 255.0, train_samples: 1000, validation: {test_size: 0.2, random_state: 42}}
search:
  sampler: random
  pruner: median
  n_trials: 7
  space:
    compile.optimizer.learning_rate: {choices: [0.01, 1.0e-9]}
"""


def test_the_median_pruner_prunes_a_bad_point_and_its_run_folder_is_kept(tmp_path, real_data):
    """Optuna's RandomSampler(seed=2) draws good, good, good, bad, good, good, bad: the MedianPruner
    (from the 6th trial on, once 5 completed) prunes trial 6 after its first epoch."""
    from fmnist_spec import parse_spec
    from fmnist_spec.search import run_search

    spec = parse_spec(PRUNING_SPEC, str(tmp_path / "pruning.yaml"))
    lines = []
    result = run_search(spec, out=tmp_path / "out", data=real_data, echo=lines.append)
    trials = study_json(tmp_path / "out")["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, lines
    for trial in pruned:
        assert trial["params"]["compile.optimizer.learning_rate"] == 1.0e-9
        assert trial["epochs"] == 1 and trial["message"] == "pruned after epoch 1"
        metrics = json.loads((tmp_path / "out" / trial["run"] / "metrics.json").read_text())
        assert metrics["status"] == "finished" and metrics["epochs_finished"] == 1
    assert any(" pruned " in line for line in lines)
    assert result.best_values == {"compile.optimizer.learning_rate": "0.01"}
    assert result.settled == 7


def test_a_grid_point_finished_or_in_training_elsewhere_is_not_trained_again():
    import optuna
    from optuna.distributions import CategoricalDistribution

    from fmnist_spec.search import liveness
    from fmnist_spec.search.loop import _duplicate_of

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, space = optuna.create_study(), {"compile.optimizer": CategoricalDistribution(["adam", "sgd"])}

    def ask(value, worker=None):
        study.enqueue_trial({"compile.optimizer": value})
        trial = study.ask(space)
        if worker:
            study._storage.set_trial_user_attr(trial._trial_id, "worker", worker)
        return trial

    study.tell(ask("adam"), 0.5)
    assert _duplicate_of(study, ask("adam")) == 0  # finished by trial 0
    assert _duplicate_of(study, ask("sgd")) is None  # the first to train sgd
    live = ask("sgd", liveness.identity())  # trial 3, in training in a live process
    assert _duplicate_of(study, ask("sgd")) in (2, 3)
    dead = {**liveness.identity(), "pid": 2**22 + 1}
    study.tell(study.ask(space), 0.1)  # keep the study going
    first, second = ask("adam", dead), ask("adam")
    assert _duplicate_of(study, second) == 0 and live.number == 3 and first.number < second.number
