"""The search stage's small parts, without training: liveness of a trial's worker, the thread limit
of workers, what a changed study names, the objective read from a run, the storage URLs refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from fmnist_spec import parse_spec
from fmnist_spec.running.metrics import Metrics
from fmnist_spec.search import liveness
from fmnist_spec.search.run import threads_per_worker
from fmnist_spec.search.storage import StorageError, check_url
from fmnist_spec.search.study import differences
from fmnist_spec.search.trial import objective_value, with_threads

CNN = """\
spec_version: 1
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu, input_shape: [28, 28, 1]}
  - {type: Flatten}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
"""


def test_a_live_process_is_alive_and_an_ended_one_is_dead():
    me = liveness.identity()
    assert me["host"] == socket.gethostname() and me["pid"] == os.getpid() and me["started"] > 0
    assert not liveness.is_dead(me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert liveness.is_dead({**me, "pid": child.pid})


def test_a_reused_pid_is_dead_and_another_hosts_worker_is_not_judged():
    me = liveness.identity()
    assert liveness.is_dead({**me, "started": me["started"] - 1})  # same pid, another process
    assert not liveness.is_dead({**me, "host": me["host"] + "-elsewhere", "pid": 2**22 + 7})
    assert not liveness.is_dead(None)  # a trial without the record is not judged


def test_an_unreaped_child_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while liveness._stat(child.pid) and liveness._stat(child.pid)[0] != "Z":
            pass
        assert liveness.is_dead({"host": socket.gethostname(), "pid": child.pid,
                                 "started": liveness.start_time(child.pid)})
    finally:
        child.wait()


def test_workers_times_threads_stay_within_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) is None
    for workers in (2, 3, 8):
        assert threads_per_worker(workers) == max(1, cores // workers)
    cnn = parse_spec(CNN)
    assert cnn.thread_counts() == (0, 0)  # auto: TensorFlow's choice, one thread per core
    assert with_threads(cnn, 1).thread_counts() == (1, 1)
    assert with_threads(cnn, None).thread_counts() == (0, 0)


def test_differences_name_each_changed_path():
    old = {"spec": {"layers": [{"units": 8}], "seed": 1}, "search": {"sampler": "grid"}}
    new = {"spec": {"layers": [{"units": 16}], "seed": 1}, "search": {"sampler": "tpe", "pruner": "none"}}
    assert differences(old, new) == ['spec.layers[0].units: 8 in the study, 16 now',
                                     'search.sampler: "grid" in the study, "tpe" now',
                                     'search.pruner: "<absent>" in the study, "none" now']


def test_the_objective_is_read_from_the_final_figures():
    metrics = Metrics(status="finished", epochs=2, validation={"accuracy": 0.8, "loss": 0.5},
                      test={"accuracy": 0.7}, train={"accuracy": 0.9})
    history = {"val_accuracy": [0.6, 0.75], "lr": [0.01, 0.001]}
    assert objective_value("val_accuracy", metrics, history) == 0.8  # evaluated, not the history's 0.75
    assert objective_value("test_accuracy", metrics, history) == 0.7
    assert objective_value("accuracy", metrics, history) == 0.9
    assert objective_value("lr", metrics, history) == 0.001
    assert objective_value("val_precision", metrics, history) is None


@pytest.mark.parametrize("url", ["sqlite:///study.db", "mysql://u@h/db", "study.db"])
def test_storages_other_than_postgresql_are_refused_with_a_hint(url):
    with pytest.raises(StorageError, match="is not a storage fmnist-spec uses") as refused:
        check_url(url)
    assert "postgresql://" in refused.value.hint


def test_a_search_folder_never_writes_through_links_or_into_a_foreign_journal(tmp_path):
    from fmnist_spec.search.run import SearchError, guard_search_dir

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("study.journal", ".search.lock", "study.journal.lock", "best.yaml"):
        out = tmp_path / f"links-{name}"
        out.mkdir()
        (out / name).symlink_to(victim)
        with pytest.raises(SearchError, match=f"{name} is a symbolic link"):
            guard_search_dir(out)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "study.journal").write_text("my notes\n")
    with pytest.raises(SearchError, match="is not the journal of an Optuna study"):
        guard_search_dir(notes)
    assert victim.read_text() == "precious\n" and (notes / "study.journal").read_text() == "my notes\n"
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "study.journal").write_text('{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [2]}\n')
    guard_search_dir(ours)  # a journal Optuna wrote: the same search continues


OPEN_RACE = """
import sys, time
from pathlib import Path
from fmnist_spec import parse_spec
from fmnist_spec.search.run import _opening
from fmnist_spec.search.storage import open_storage
from fmnist_spec.search.study import StudyMismatch, open_study

out, epochs, at = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
spec = parse_spec(open(sys.argv[4]).read().replace("EPOCHS", epochs), "race.yaml")
opened = open_storage(out)
time.sleep(max(0.0, at - time.time()))  # every process opens at the same moment
try:
    with _opening(out, None):
        open_study(opened.optuna, "race", spec, opened.shown)
except StudyMismatch as exc:
    print("mismatch:", str(exc).splitlines()[0])
    sys.exit(3)
"""

RACE_SPEC = """spec_version: 1
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: EPOCHS}
search:
  space:
    compile.optimizer: {choices: [adam, sgd]}
"""


@pytest.mark.parametrize("epochs", [["1"] * 6, ["1", "2"] * 3], ids=["same spec", "two specs"])
def test_processes_opening_one_study_at_once_see_it_whole(tmp_path, epochs):
    """Opening created the study, then recorded its spec: a second process in between was told
    the study 'was not made by fmnist-spec search' (15 of 20 starts), and two specs could both be
    accepted into one study. Now one process at a time opens it under DIR/.search.lock."""
    import time

    (tmp_path / "spec.yaml").write_text(RACE_SPEC)
    out = tmp_path / "out"
    out.mkdir()
    at = time.time() + 6
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_RACE, str(out), e, str(at), str(tmp_path / "spec.yaml")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for e in epochs]
    try:
        results = [(p.wait(timeout=120), p.stdout.read() + p.stderr.read()) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(status in (0, 3) for status, _ in results), results
    assert not any("was not made by fmnist-spec search" in text for _, text in results), results
    accepted = {e for e, (status, _) in zip(epochs, results) if status == 0}
    assert len(accepted) == 1, results  # one spec only, whichever came first
    assert all(status == 0 for e, (status, _) in zip(epochs, results) if e in accepted)


FULL_JOURNAL = """
import resource, signal, sys
import optuna
from pathlib import Path
from fmnist_spec.search.storage import JournalWriteError, journal_backend

optuna.logging.set_verbosity(optuna.logging.ERROR)
path = Path(sys.argv[1])
storage = optuna.storages.JournalStorage(journal_backend(path))
study = optuna.create_study(storage=storage, study_name="full")
for x in range(3):
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), x / 10)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, part written
limit = path.stat().st_size + 40
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    study.set_user_attr("long", "y" * 500)
except JournalWriteError as exc:
    print("refused:", exc, "| hint:", exc.hint)
"""


def test_a_journal_write_cut_short_is_taken_back_and_the_study_stays_readable(tmp_path):
    """A full disk stopped Optuna's append in the middle of a record; the next append was written
    onto the half line and every later read failed: all finished trials out of reach."""
    import optuna

    from fmnist_spec.search.storage import journal_backend

    path = tmp_path / "study.journal"
    done = subprocess.run([sys.executable, "-c", FULL_JOURNAL, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "could not be written (File too large); it was taken back" in done.stdout
    assert path.read_bytes().endswith(b"\n")  # the half record was cut
    with open(path, "ab") as fh:  # a process killed mid-write leaves a torn line too
        fh.write(b'{"op_code":4,"worker_id":"91')
    storage = optuna.storages.JournalStorage(journal_backend(path))
    study = optuna.load_study(study_name="full", storage=storage)
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.9)  # appended after the cut
    again = optuna.load_study(study_name="full", storage=optuna.storages.JournalStorage(journal_backend(path)))
    assert [t.value for t in again.get_trials()] == [0.0, 0.1, 0.2, 0.9]
    assert "long" not in again.user_attrs


@pytest.mark.parametrize("url, said", [
    ("postgresql://u:secret@localhost:99999/db", "the port 99999 is not a port (1 to 65535)"),
    ("postgresql://u:secret@localhost:5432/db?sslmode=bogus", "sslmode='bogus' is not one of libpq's modes"),
    ("postgresql://u:secret@localhost/db?connect_timeout=abc", "connect_timeout='abc' is not a whole number"),
])
def test_a_url_part_that_cannot_work_is_bad_input_before_any_connection(url, said):
    """These exited 1 with the hint to check that the server runs: the driver reports them as a
    server it cannot reach. They are the URL's fault (exit 2), the password masked."""
    from fmnist_spec.cli.main import exit_status_of
    from fmnist_spec.search.database import DatabaseSettingError

    with pytest.raises(DatabaseSettingError) as refused:
        check_url(url)
    assert said in str(refused.value) and "secret" not in str(refused.value) and "u:***@" in str(refused.value)
    assert exit_status_of(refused.value) == 2
