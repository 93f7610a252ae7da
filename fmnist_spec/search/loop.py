"""A worker's loop: ask the study for a trial, train it, tell the study, until the study has its
number of settled trials (:func:`fmnist_spec.search.study.settled`).

Every worker (the ``search`` process itself, or one of ``--workers N`` processes) imports
TensorFlow and loads Fashion-MNIST once and trains many trials, clearing Keras's session between
them. On the journal-file storage the workers of one machine take turns, under the file lock
``DIR/.search.lock``, to retry the trials of dead workers, count, and ask: so no worker asks for a
trial beyond the total, and no two ask for the same grid point. A grid point that another worker
(on another machine) has already finished or is training is not trained again: its trial ends as
``FAIL`` with the user attribute ``duplicate_of``.

On a database (``--storage postgresql://...``) the workers of every machine take turns by a
PostgreSQL advisory lock instead, each trial records a heartbeat while it trains, and before
asking, a worker ends the trials whose heartbeat stopped (their worker died) and enqueues them
again (:mod:`fmnist_spec.search.database`). A worker whose remaining trials are all running
elsewhere waits for them instead of ending, so that it can retry one whose worker dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import liveness
from .study import in_flight, make_pruner, make_sampler, recover_dead, retry, settled

LOCK = ".search.lock"


@dataclass
class WorkerSettings:
    """What a worker needs besides the spec (picklable, handed to worker processes).

    Attributes:
        out_dir: The search folder.
        study_name: The study to join.
        n_trials: The number of settled trials to reach.
        storage_url: ``--storage`` (None: the journal file in ``out_dir``).
        data_dir: Directory of the four IDX files (None: the default places).
        threads: Each TensorFlow thread pool's limit in this worker (None: the spec's).
        index: This worker's number (0 for the first), which varies the sampler's seed.
        lines_to_stderr: A worker process prints its trial lines on stderr (``--format json``).
    """

    out_dir: Path
    study_name: str
    n_trials: int
    storage_url: str | None = None
    data_dir: str | None = None
    threads: int | None = None
    index: int = 0
    lines_to_stderr: bool = False


@contextlib.contextmanager
def turn(out_dir: Path, embedded: bool):
    """Hold ``out_dir/.search.lock`` (``flock``) meanwhile; nothing for a database storage."""
    if not embedded:
        yield
        return
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)  # never through a link
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def target(spec, n_trials: int) -> int:
    """The number of settled trials to reach: ``n_trials``, at most the grid's size."""
    points = spec.search.grid() if spec.search.sampler == "grid" else None
    return min(n_trials, len(points)) if points is not None else n_trials


def _duplicate_of(study, trial) -> int | None:
    """The number of another trial of the same grid point that has settled, or that a live worker
    trains and that was asked first; None when this trial is the one to train it."""
    for other in study.get_trials(deepcopy=False):
        if other.number == trial.number or other.params != trial.params:
            continue
        if settled(other) or (other.number < trial.number and other in in_flight([other], True)):
            return other.number
    return None


def _line(trial_number: int, shown: dict, objective: str, outcome) -> str:
    values = " ".join(f"{path}={text}" for path, text in shown.items())
    figure = f"{objective} {outcome.value:.4f}" if outcome.value is not None else outcome.message
    return f"trial {trial_number:>3}  {values}  {figure}  {outcome.state}  {outcome.seconds:.1f} s"


def _ended_elsewhere(trial_number: int) -> str:
    return (f"trial {trial_number:>3}  ended by another worker: no heartbeat from this one within the grace period "
            "(a pause?); its retry counts instead")


def work(spec, settings: WorkerSettings, data=None, echo=print, progress=None) -> int:
    """Train trials of ``spec``'s study until it has ``settings.n_trials`` settled ones.

    Args:
        spec: The checked spec with its ``search`` section.
        settings: See :class:`WorkerSettings`.
        data: Fashion-MNIST already loaded (default: load it once here).
        echo: Called with one short line per trial.
        progress: None, or what shows the study's progress (a notebook's one display,
            :class:`fmnist_spec.notebook.progress.SearchProgress`): ``trial_begins(number, values)``
            returns Keras callbacks for the trial's fit, ``trial_ends(number, outcome)`` is told how
            it ended (a :class:`~.trial.TrialOutcome`).

    Returns:
        The number of trials this worker trained.

    Raises:
        fmnist_spec.running.train.TrainingInterrupted, KeyboardInterrupt: Ctrl-C; the trial in
            training is ended as ``FAIL`` and enqueued again, every finished trial is kept.
        fmnist_spec.running.data.DataError, RunWriteError: the work failed; the trial is ended as
            ``FAIL`` and enqueued again, so the next run trains its point first (a grid is not left to
            GridSampler, which would draw already settled points once every point has been visited).
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from ..errors import SpecError
    from ..language.search_space import point_spec
    from ..running.data import load_fashion_mnist
    from .database import ask, beat, heartbeat_interval, study_turn
    from .space import distributions, shown, values_of
    from .storage import open_storage
    from .trial import TrialOutcome, run_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from ..to_keras.compat import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # "N out of the last N calls ... triggered tf.function retracing": one model per trial
    space, out_dir = spec.search, Path(settings.out_dir)
    storage = open_storage(out_dir, settings.storage_url)
    first = optuna.load_study(study_name=settings.study_name, storage=storage.optuna)
    if space.sampler == "grid":  # GridSampler shuffles the grid with its seed: every worker must see one order
        seed = spec.seed or 0
    else:  # another sequence per worker and per start, else workers and re-runs would repeat the same points
        seed = None if spec.seed is None else spec.seed + 7919 * settings.index + len(first.trials)
    study = optuna.load_study(study_name=settings.study_name, storage=storage.optuna,
                              sampler=make_sampler(space, seed), pruner=make_pruner(space, spec.epochs))
    data = data if data is not None else load_fashion_mnist(settings.data_dir)
    wanted, trained, dists = target(spec, settings.n_trials), 0, distributions(space)
    while True:
        with turn(out_dir, storage.embedded), study_turn(study):
            recover_dead(study, storage.embedded)  # a database: the trials whose heartbeat stopped, enqueued again
            trials = study.get_trials(deepcopy=False)
            done, running = sum(map(settled, trials)), len(in_flight(trials, storage.embedded))
            if done >= wanted or (done + running >= wanted and storage.embedded):
                return trained
            trial = ask(study, dists) if done + running < wanted else None
            if trial is not None:
                beat(study, trial)
                study._storage.set_trial_user_attr(trial._trial_id, "worker", liveness.identity())
        if trial is None:  # a database: wait until the others' trials end, or go stale and are retried here
            time.sleep(heartbeat_interval(study) or 1)
            continue
        values = values_of(space, trial.params)
        study._storage.set_trial_user_attr(trial._trial_id, "values", shown(space, values))
        if space.sampler == "grid":
            duplicate = _duplicate_of(study, trial)
            if duplicate is not None:
                trial.set_user_attr("duplicate_of", duplicate)
                study.tell(trial, state=TrialState.FAIL)
                continue
        try:
            point = point_spec(spec, values)
        except SpecError as exc:  # a point inside a continuous space that fails the static checks
            outcome = TrialOutcome("fail", None, out_dir, 0.0, 0, exc.problems[0].message if exc.problems else str(exc))
            trial.set_user_attr("settled", True)
            trial.set_user_attr("message", outcome.message)
            study.tell(trial, state=TrialState.FAIL)
            _ended(echo, progress, trial.number, shown(space, values), space.objective, outcome)
            continue
        extra = progress.trial_begins(trial.number, shown(space, values)) if progress is not None else ()
        try:
            outcome = run_trial(point, trial, space.objective, out_dir, data, settings.threads,
                                extra)  # beat() beats
        except BaseException as exc:
            from ..running.train import RunWriteError, TrainingInterrupted

            if isinstance(exc, UpdateFinishedTrialError):  # another worker found it stale and retries it
                echo(_ended_elsewhere(trial.number))
                continue
            if isinstance(exc, (KeyboardInterrupt, TrainingInterrupted)):
                retry(study, trial, "interrupted by Ctrl-C")
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            retry(study, trial, f"{type(exc).__name__}: {first}")  # the next run trains this point first
            if isinstance(exc, RunWriteError):  # train's hint is --resume, which a search does not take
                raise RunWriteError(f"{first}\n  hint: free some space and run the same search command again: "
                                    f"finished trials are kept and trial {trial.number}'s point is trained "
                                    "again first") from None
            raise
        trained += 1
        try:
            for key, value in (("run", os.path.relpath(outcome.run, out_dir)), ("seconds", round(outcome.seconds, 3)),
                               ("epochs", outcome.epochs), ("message", outcome.message)):
                trial.set_user_attr(key, value)
            if outcome.state == "complete":
                study.tell(trial, outcome.value)
            elif outcome.state == "pruned":
                study.tell(trial, state=TrialState.PRUNED)
            else:
                trial.set_user_attr("settled", True)
                study.tell(trial, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker found it stale and retries it
            echo(_ended_elsewhere(trial.number))
            continue
        _ended(echo, progress, trial.number, shown(space, values), space.objective, outcome)


def _ended(echo, progress, number: int, values: dict, objective: str, outcome) -> None:
    """Tell ``progress`` (when there is one) how the trial ended, then ``echo`` its line."""
    if progress is not None:
        progress.trial_ends(number, outcome)
    echo(_line(number, values, objective, outcome))
