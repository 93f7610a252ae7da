"""A search study in a real PostgreSQL server (``--storage postgresql://...``):
fmnist_spec.search.database against Debian's PostgreSQL started by
tests/postgres_server.py, with Optuna workers in real processes
(tests/optuna_worker.py).

Heartbeats are shortened by the environment variables the storage reads
(1 s interval, 3 s grace period).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
from postgres_server import PASSWORD, ROLE, free_port
from sqlalchemy.engine import make_url

from fmnist_spec.cli.main import exit_status_of
from fmnist_spec.search.database import (
    DatabaseError,
    DatabaseSettingError,
    ask,
    beat,
    database_errors,
    masked,
    rdb_storage,
    study_turn,
)

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "optuna_worker.py"
HEARTBEAT = {"FMNIST_SPEC_HEARTBEAT_INTERVAL": "1", "FMNIST_SPEC_GRACE_PERIOD": "3"}
GRACE_PERIOD = 3

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def short_heartbeats(monkeypatch):
    for name, value in HEARTBEAT.items():
        monkeypatch.setenv(name, value)


def _secret_forms(password: str) -> list[str]:
    return [password, quote(password, safe="")]


def _assert_no_password(text: str, password: str = PASSWORD) -> None:
    for form in _secret_forms(password):
        assert form not in text, f"the password ({form!r}) leaked into: {text}"


# --- masking (no server) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://user:secret@db.example.org/studies", "postgresql://user:***@db.example.org/studies"),
    ("postgresql://user:p@ss@db.example.org:5433/studies", "postgresql://user:***@db.example.org:5433/studies"),
    ("postgresql://user:pa:ss@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:pa/ss@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:p@ss:w/rd?#@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:p%40ss%3Aw%2Frd%25@host/db", "postgresql://user:***@host/db"),
    ("postgres://user:secret@host/db", "postgres://user:***@host/db"),
    ("postgresql+psycopg2://user:secret@[::1]:5432/db", "postgresql+psycopg2://user:***@[::1]:5432/db"),
    ("postgresql://user@host/db?password=secret&sslmode=require",
     "postgresql://user@host/db?password=***&sslmode=require"),
    ("postgresql://user:@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("postgresql://host:5432/db", "postgresql://host:5432/db"),
    ("host=db.example.org password=secret dbname=studies", "host=db.example.org password=*** dbname=studies"),
])
def test_masked_replaces_the_password_however_it_is_written(url, expected):
    assert masked(url) == expected
    for secret in ("secret", "p@ss", "pa:ss", "pa/ss", "p@ss:w/rd?#", "p%40ss", "p@ss:w/rd%"):
        assert secret not in masked(url)


def test_database_errors_map_to_exit_1_and_bad_settings_to_exit_2():
    assert exit_status_of(DatabaseError("the study database ... failed")) == 1
    assert exit_status_of(DatabaseSettingError("FMNIST_SPEC_HEARTBEAT_INTERVAL='x'")) == 2


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5"])
def test_a_malformed_heartbeat_interval_is_bad_input(monkeypatch, value):
    monkeypatch.setenv("FMNIST_SPEC_HEARTBEAT_INTERVAL", value)
    with pytest.raises(DatabaseSettingError, match="FMNIST_SPEC_HEARTBEAT_INTERVAL") as caught:
        rdb_storage("postgresql://user:secret@127.0.0.1:1/db")
    assert "whole number of seconds" in str(caught.value) and caught.value.hint


def test_a_server_nobody_listens_on_fails_at_once_with_the_url_masked():
    port = free_port()
    url = f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/studies"
    started = time.monotonic()
    with pytest.raises(DatabaseError) as caught:
        rdb_storage(url)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"postgresql://{ROLE}:***@127.0.0.1:{port}/studies" in message
    assert "Connection refused" in message
    assert "running and reachable" in caught.value.hint
    _assert_no_password(message + caught.value.hint)


def test_database_errors_recovers_the_database_error_behind_optunas_unbound_local_error():
    # optuna/optuna#5280: _run_trial's finally clause raises UnboundLocalError while a DatabaseError is handled
    original = DatabaseError("the study database postgresql://u:***@h/db failed: gone", "check it")
    with pytest.raises(DatabaseError) as caught, database_errors():
        try:
            raise original
        except DatabaseError:
            raise UnboundLocalError("cannot access local variable 'updated_state'") from None
    assert caught.value is original
    with pytest.raises(ValueError), database_errors():
        raise ValueError("not ours")


# --- against a real server -------------------------------------------------------------------------


def test_a_wrong_password_is_a_database_error_naming_the_masked_url(postgres_server):
    url = postgres_server.url(password="wr@ng:pass/word")
    with pytest.raises(DatabaseError) as caught:
        rdb_storage(url)
    message = str(caught.value)
    assert f"postgresql://{ROLE}:***@127.0.0.1:{postgres_server.port}/{postgres_server.database}" in message
    assert "password authentication failed" in message
    assert "percent-escape" in caught.value.hint
    _assert_no_password(message + caught.value.hint, "wr@ng:pass/word")


def test_a_missing_database_says_how_to_create_it(postgres_server):
    with pytest.raises(DatabaseError) as caught:
        rdb_storage(postgres_server.url(database="no_such_db"))
    assert 'database "no_such_db" does not exist' in str(caught.value)
    assert "createdb" in caught.value.hint
    _assert_no_password(str(caught.value))


def test_a_password_with_unescaped_url_characters_still_logs_in(postgres_server, short_heartbeats):
    raw = "r@w:pa/ss?#"
    postgres_server.create_role("raw", raw)
    database = postgres_server.create_database("raw", owner="raw")
    url = f"postgresql://raw:{raw}@127.0.0.1:{postgres_server.port}/{database}"
    storage = rdb_storage(url)
    assert make_url(storage.url).host == "127.0.0.1" and make_url(storage.url).password == raw
    study = optuna.create_study(study_name="raw", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2


def test_the_storage_has_heartbeats_retries_and_fail_fast_connections(postgres_server, short_heartbeats):
    storage = rdb_storage(postgres_server.url())
    assert storage.get_heartbeat_interval() == 1 and storage.grace_period == GRACE_PERIOD
    assert isinstance(storage.get_heartbeat_stale_trial_callback(), optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert storage.engine_kwargs["pool_pre_ping"] is True
    assert storage.engine_kwargs["connect_args"]["connect_timeout"] == 10
    assert make_url(storage.url).drivername == "postgresql+psycopg2"   # SQLAlchemy 2.1 would pick psycopg 3


def _workers(url: str, study: str, *argument_lists: list, env_extra: dict | None = None) -> list:
    env = {**os.environ, **HEARTBEAT, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return [subprocess.Popen([sys.executable, str(WORKER), url, study, *map(str, arguments)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            for arguments in argument_lists]


def _stop(processes: list) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_two_processes_share_one_study(postgres_server):
    # Both start at the same moment on an empty database: without rdb_storage's advisory lock one
    # of them fails creating Optuna's tables ('duplicate key value violates unique constraint
    # "pg_type_typname_nsp_index"'; measured: 3 rounds of 2 workers, 3 failures; 4 rounds of 4, 12)
    start_at = time.time() + 4
    processes = _workers(postgres_server.url(), "shared", *[["--trials", 5, "--seconds", 0.3, "--meet", 2,
                                                             "--start-at", start_at]] * 2)
    try:
        outcomes = [process.communicate(timeout=120) for process in processes]
    finally:
        _stop(processes)
    assert [process.returncode for process in processes] == [0, 0], outcomes
    trials = optuna.load_study(study_name="shared", storage=rdb_storage(postgres_server.url())).trials
    assert sorted(trial.number for trial in trials) == list(range(10))
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    by_worker = {pid: sum(trial.user_attrs["pid"] == pid for trial in trials) for pid in
                 (process.pid for process in processes)}
    assert by_worker == {processes[0].pid: 5, processes[1].pid: 5}
    first = [min((t for t in trials if t.user_attrs["pid"] == p.pid), key=lambda t: t.number) for p in processes]
    assert first[0].datetime_start < first[1].datetime_complete and \
        first[1].datetime_start < first[0].datetime_complete, "the workers' first trials did not run together"


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def test_a_worker_killed_mid_trial_has_its_trial_retried_by_the_other(postgres_server, tmp_path):
    url = postgres_server.url()
    killed, = _workers(url, "kill", ["--trials", 1, "--hang", tmp_path])
    survivor = None
    try:
        marker = _wait_for(lambda: next(tmp_path.iterdir(), None), 90, "the first worker's trial")
        survivor, = _workers(url, "kill", ["--trials", 100, "--seconds", 0.5, "--until-retried",
                                           "--timeout", 90])
        time.sleep(1)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        _, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, err
    finally:
        _stop([killed] + ([survivor] if survivor else []))
    trials = optuna.load_study(study_name="kill", storage=rdb_storage(url)).trials
    number = int(marker.name)
    dead = trials[number]
    assert dead.state == optuna.trial.TrialState.FAIL and dead.user_attrs["pid"] == killed.pid
    retries = [trial for trial in trials if trial.system_attrs.get("failed_trial") == number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.user_attrs["pid"] == survivor.pid
    assert retry.params == dead.params and repr(retry.params["x"]) == marker.read_text()
    assert all(trial.state != optuna.trial.TrialState.RUNNING for trial in trials)


def test_a_server_restarted_between_trials_costs_a_reconnection_not_an_error(postgres_server, short_heartbeats):
    storage = rdb_storage(postgres_server.url())
    study = optuna.create_study(study_name="restart", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    postgres_server.stop()
    postgres_server.start()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)   # pool_pre_ping reconnects
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 4


def test_a_database_that_goes_away_mid_study_is_a_database_error_and_loses_no_finished_trial(
        postgres_server, short_heartbeats, capfd):
    url = postgres_server.url()
    study = optuna.create_study(study_name="away", storage=rdb_storage(url))
    returned = {}

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        if trial.number == 3:
            postgres_server.stop()
            time.sleep(2.5)   # the heartbeat thread finds the database gone
        returned[trial.number] = x * x
        return x * x

    started = time.monotonic()
    with pytest.raises(DatabaseError) as caught, database_errors():
        study.optimize(objective, n_trials=6)
    assert time.monotonic() - started < 20
    message = str(caught.value)
    assert f"postgresql://{ROLE}:***@127.0.0.1:{postgres_server.port}/{postgres_server.database}" in message
    assert "run the same command again" in caught.value.hint
    stderr = capfd.readouterr().err
    assert stderr.count("warning: heartbeat not recorded") == 1
    _assert_no_password(message + caught.value.hint + stderr)
    assert exit_status_of(caught.value) == 1
    finished = {number: value for number, value in returned.items() if number < 3}

    postgres_server.start()
    again = optuna.load_study(study_name="away", storage=rdb_storage(url))
    assert {t.number: t.value for t in again.trials if t.state.name == "COMPLETE"} == finished
    assert again.trials[3].state == optuna.trial.TrialState.RUNNING
    time.sleep(GRACE_PERIOD + 1)
    again.optimize(lambda trial: trial.suggest_float("x", -10, 10) ** 2, n_trials=1)   # retries trial 3
    after = optuna.load_study(study_name="away", storage=rdb_storage(url)).trials
    assert after[3].state == optuna.trial.TrialState.FAIL
    assert after[4].system_attrs["failed_trial"] == 3 and after[4].params == after[3].params
    assert after[4].state == optuna.trial.TrialState.COMPLETE


def _fail_stale(study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _heartbeat_threads() -> list:
    return [thread for thread in threading.enumerate() if thread.name.startswith("heartbeat of trial")]


def test_beat_keeps_an_asked_trial_alive_past_the_grace_period_and_stops_when_it_ends(
        postgres_server, short_heartbeats):
    url = postgres_server.url()
    study = optuna.create_study(study_name="beat", storage=rdb_storage(url))
    other = optuna.load_study(study_name="beat", storage=rdb_storage(url))   # another worker
    beating, silent = ask(study, {}), ask(study, {})
    beat(study, beating)
    study._storage.record_heartbeat(silent._trial_id)   # one heartbeat, then none: a worker that died
    deadline = time.monotonic() + GRACE_PERIOD + 2
    while time.monotonic() < deadline:
        _fail_stale(other)
        time.sleep(0.5)
    states = {trial.number: trial.state for trial in other.get_trials()}
    assert states[beating.number] == optuna.trial.TrialState.RUNNING
    assert states[silent.number] == optuna.trial.TrialState.FAIL
    assert len(_heartbeat_threads()) == 1
    study.tell(beating, 1.0)
    _wait_for(lambda: not _heartbeat_threads(), 10, "the heartbeat thread to end after tell")


def test_study_turn_lets_one_worker_at_a_time_count_and_ask(postgres_server):
    url = postgres_server.url()
    study = optuna.create_study(study_name="turns", storage=rdb_storage(url))
    other = optuna.load_study(study_name="turns", storage=rdb_storage(url))
    entered = threading.Event()

    def second_worker():
        with study_turn(other):
            entered.set()

    with study_turn(study):
        thread = threading.Thread(target=second_worker)
        thread.start()
        assert not entered.wait(2), "a second worker took its turn while the first held it"
    assert entered.wait(30)
    thread.join(30)
