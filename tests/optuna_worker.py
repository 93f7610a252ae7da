"""One Optuna worker process on a study shared through ``rdb_storage``, for
tests/test_search_database.py (run as ``python tests/optuna_worker.py URL STUDY ...``).

Each trial suggests ``x`` in [-10, 10], records the worker's pid as the user
attribute ``pid``, sleeps ``--seconds`` and returns ``x**2``. With ``--hang DIR``
the worker writes ``DIR/<trial number>`` at the start of its first trial and
then sleeps for an hour there (the test kills it). With ``--until-retried`` it
stops once it has completed a retry of another worker's trial. With ``--meet N``
its first trial waits until N trials of the study run at once (workers that
provably ran side by side).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import optuna

from fmnist_spec.search.database import DatabaseError, database_errors, rdb_storage


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("study")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--hang", type=Path)
    parser.add_argument("--until-retried", action="store_true")
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--meet", type=int, default=0,
                        help="in the first trial, wait (60 s at most) until this many trials of the study run at once")
    parser.add_argument("--start-at", type=float, default=0.0, help="time.time() to start at (a barrier)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    while time.time() < args.start_at:
        time.sleep(0.005)

    met: list = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        trial.set_user_attr("pid", os.getpid())
        if args.meet and not met:
            deadline = time.monotonic() + 60
            running = (optuna.trial.TrialState.RUNNING,)
            while len(trial.study.get_trials(deepcopy=False, states=running)) < args.meet \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            met.append(trial.number)
        if args.hang:
            (args.hang / str(trial.number)).write_text(repr(x))
            time.sleep(3600)
        time.sleep(args.seconds)
        return x * x

    def stop_when_retried(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE and "failed_trial" in trial.system_attrs:
            study.stop()

    try:
        with database_errors():
            storage = rdb_storage(args.url)
            study = optuna.create_study(study_name=args.study, storage=storage, load_if_exists=True)
            study.optimize(objective, n_trials=args.trials, timeout=args.timeout,
                           callbacks=[stop_when_retried] if args.until_retried else None)
    except DatabaseError as exc:
        print(f"error: {exc}\n  hint: {exc.hint}", file=sys.stderr)
        return 1
    print(f"worker {os.getpid()} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
