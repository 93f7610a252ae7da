"""``run_search``: the study of a spec's ``search`` section, run in this process or in ``workers``
processes that share it, then the leaderboard, ``best.yaml``, ``study.json`` and pictures.

The search folder ``DIR``::

    DIR/study.journal        Optuna's journal-file storage (absent with --storage postgresql://...)
    DIR/trials/<number>/     one ordinary run folder per trial (docs/run-folder.md)
    DIR/best.yaml            the best trial's plain spec
    DIR/study.json           every trial, the leaderboard, the best trial
    DIR/*.png                optimization_history, parallel_coordinate, param_importances

Running the same call again continues the same study to the same total of settled trials; a
changed spec or space is refused before anything is written (:class:`~.study.StudyMismatch`).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HintedError
from ..language.names import graph_name
from .loop import WorkerSettings, target, turn, work
from .report import STUDY, best_trial, draw, leaderboard, write_best, write_study
from .storage import JOURNAL, check_url, open_storage
from .study import open_study, recover_dead, settled
from .trial import TRIALS

OWN_FILES = {JOURNAL, STUDY, "best.yaml", TRIALS, ".search.lock", "optimization_history.png",
             "parallel_coordinate.png", "param_importances.png", f"{JOURNAL}.lock"}
"""What a search folder may hold; a folder with anything else is refused as ``--out``."""


class SearchError(HintedError):
    """The search cannot start: no ``search`` section, an ``--out`` that is not a search folder
    (bad input, exit 2)."""


class SearchFailed(HintedError):
    """A worker process failed (the work failed, exit 1); finished trials are kept, and
    ``study.json`` and ``best.yaml`` say what was done (``result``, a :class:`SearchResult`, once
    :func:`run_search` has written them)."""

    result = None


class SearchInterrupted(Exception):
    """Ctrl-C stopped the search; every finished trial is kept, the trial in training is ended as
    ``FAIL`` and enqueued again, and ``study.json`` and ``best.yaml`` say what was done (exit 130).

    Attributes:
        result: The :class:`SearchResult` of the trials finished so far.
    """

    def __init__(self, result):
        self.result = result
        super().__init__(f"interrupted after {result.settled} of {result.n_trials} trials")


@dataclass
class SearchResult:
    """What :func:`run_search` did.

    Attributes:
        out_dir: The search folder.
        study_name: The study's name (workers elsewhere join it with ``--study``).
        storage: The storage as named to people (journal path, or the URL with its password masked).
        objective, direction: The figure optimised and which way.
        n_trials: The total of settled trials asked for.
        settled: Settled trials in the study now (complete, pruned, or failed with a NaN loss).
        states: State name -> number of trials (``complete``, ``pruned``, ``fail``, ``running``, ``waiting``).
        rows: The leaderboard: complete trials best first, then pruned ones (dicts of
            :func:`fmnist_spec.search.report.trial_row`).
        best_number, best_value, best_values: The best complete trial: its number, objective, and
            values as written (``{path: text}``); None/{} when no trial completed.
        best_run: The best trial's run folder.
        best_yaml, study_json: The files written; ``pictures`` the PNG files, ``notes`` what was not drawn.
        trained: Trials trained by this call (every worker).
        seconds: Wall time of this call.
    """

    out_dir: Path
    study_name: str
    storage: str
    objective: str
    direction: str
    n_trials: int
    settled: int
    states: dict
    rows: list
    best_number: int | None = None
    best_value: float | None = None
    best_values: dict = field(default_factory=dict)
    best_run: Path | None = None
    best_yaml: Path | None = None
    study_json: Path | None = None
    pictures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    trained: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """The result as JSON-ready data (``--format json``)."""
        return {"out_dir": str(self.out_dir), "study": self.study_name, "storage": self.storage,
                "objective": self.objective, "direction": self.direction, "n_trials": self.n_trials,
                "settled": self.settled, "states": self.states, "leaderboard": self.rows,
                "best": None if self.best_number is None else {
                    "number": self.best_number, "value": self.best_value, "values": self.best_values,
                    "run": str(self.best_run)},
                "best_yaml": str(self.best_yaml) if self.best_yaml else None,
                "study_json": str(self.study_json) if self.study_json else None,
                "pictures": [str(p) for p in self.pictures], "notes": self.notes, "trained": self.trained,
                "seconds": round(self.seconds, 3)}

    def status(self) -> str:
        """The line a search ends with: the study, its trials by state, what this call trained."""
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        total = (f"{self.settled} of {self.n_trials} trials" if self.settled <= self.n_trials else
                 f"{self.settled} trials (it had them already; {self.n_trials} were asked for)")
        return (f"study {self.study_name!r} in {self.storage}: {total} ({counts}); {self.trained} trained now "
                f"in {self.seconds:.1f} s")

    def _repr_pretty_(self, printer, cycle) -> None:
        """IPython's plain text: the leaderboard and the best trial, as ``fmnist-spec search`` ends."""
        from ..notebook.displays import search_text
        from .report import leaderboard_text

        printer.text(search_text(self, leaderboard_text(self.rows, self.objective)))

    def _repr_html_(self) -> str:
        """A notebook's display: the leaderboard table, the best trial and ``best.yaml``, and the
        optimization history picture (inline PNG) when it was drawn."""
        from ..notebook.displays import search_html

        return search_html(self)


@dataclass
class Mine:
    """Which trials this call trained: settled ones not in ``earlier`` (numbers settled when it
    began) whose worker was one of ``pids`` (this process and its worker processes) on this host;
    other machines' trials of the same study are not counted."""

    pids: set
    earlier: set


def default_study_name(spec) -> str:
    """The study's name when ``--study`` is not given: the graph-safe form of the spec's ``name``."""
    return graph_name(spec.name)


def default_out_dir(spec) -> Path:
    """``runs/<spec file name>-search`` (``runs/<study name>-search`` for a spec from text)."""
    stem = Path(spec.file).stem if not spec.file.startswith("<") else default_study_name(spec)
    return Path("runs") / f"{stem}-search"


def guard_search_dir(out: str | Path) -> Path:
    """Refuse an ``--out`` that is empty, a file, the root, or a folder holding other things than a
    search. Returns it as a Path.

    Raises:
        SearchError: as above (exit 2).
    """
    if not str(out):  # Path("") is ".": the current folder, which the user did not name
        raise SearchError("--out '': a search folder needs a name", "pass a new folder, e.g. --out runs/my_search")
    out_dir = Path(out)
    resolved = out_dir.resolve()
    if resolved == Path(resolved.anchor):
        raise SearchError(f"--out {out_dir}: a search folder cannot be the filesystem root",
                          "pass a new folder, e.g. --out runs/my_search")
    if out_dir.exists() and not out_dir.is_dir():
        raise SearchError(f"--out {out_dir}: exists and is not a folder", "pass a new folder")
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in OWN_FILES and not p.name.startswith("."))
        if others:
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            raise SearchError(f"--out {out_dir}: holds {shown}, not a search; a search would write its trials there",
                              "pass a new or empty folder, or the folder of the same search to continue it")
        _guard_own_files(out_dir)
    return out_dir


def _guard_own_files(out_dir: Path) -> None:
    """Refuse a search folder whose own file names are symbolic links (a search never makes one) or
    whose ``study.journal`` is not a journal Optuna wrote: the search appends to both."""
    for name in sorted(OWN_FILES):
        if (out_dir / name).is_symlink():
            raise SearchError(f"--out {out_dir}: {name} is a symbolic link, which fmnist-spec never makes; "
                              "a search would write through it", "remove the link, or pass a new folder")
    journal = out_dir / JOURNAL
    if journal.exists() and not _is_journal(journal):
        raise SearchError(f"--out {out_dir}: {JOURNAL} is not the journal of an Optuna study; a search would "
                          "append to it", "move the file away, or pass a new folder")


def _is_journal(path: Path) -> bool:
    """True for a regular file that is empty or starts with one of Optuna's journal records
    (a JSON object with an ``op_code``)."""
    import json

    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20)
    except OSError:
        return False
    if not first.strip():
        return path.stat().st_size == 0
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "op_code" in record


def threads_per_worker(workers: int) -> int | None:
    """Each TensorFlow thread pool's limit so that ``workers`` x threads <= this machine's cores
    (``os.sched_getaffinity``); None for one worker (the spec's own threading)."""
    if workers <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def run_search(spec, *, out: str | Path | None = None, n_trials: int | None = None, workers: int = 1,
               storage: str | None = None, study: str | None = None, data_dir: str | Path | None = None,
               data=None, echo=print, lines_to_stderr: bool = False, progress=None) -> SearchResult:
    """Run (or continue) the study of ``spec.search`` and write the search folder.

    Args:
        spec: A checked spec with a ``search`` section (its ``seed``, ``fit.epochs`` and other
            values are every trial's base).
        out: The search folder (default :func:`default_out_dir`).
        n_trials: The total of settled trials (default the spec's ``search.n_trials``; a grid
            stops at its size).
        workers: Worker processes on this machine sharing the study; 1 trains in this process.
            Each imports TensorFlow and loads the data once; their thread pools are limited so
            that workers x threads <= cores.
        storage: ``postgresql://...`` to keep the study in a database (workers on any machine
            join it by name); default the journal file ``out/study.journal``.
        study: The study's name (default :func:`default_study_name`).
        data_dir: Directory of the four IDX files (default: the usual places).
        data: Fashion-MNIST already loaded (one worker only; tests).
        echo: Called with one short line per trial trained in this process (``print`` by default).
        lines_to_stderr: Worker processes print their trial lines on stderr, not stdout.
        progress: None, or what shows the study's progress in place (a notebook's one display,
            :class:`fmnist_spec.notebook.progress.SearchProgress`): told ``start(total, objective,
            direction, settled, best_value, best_number)`` first, each trial of this process as
            :func:`~.loop.work` says, and ``finish()`` at the end. Worker processes
            (``workers`` > 1) print their trial lines instead.

    Returns:
        A :class:`SearchResult`.

    Raises:
        SearchError, StorageError, StudyMismatch: bad input (exit 2), before anything is written.
        SearchInterrupted: Ctrl-C (exit 130); finished trials are kept.
        SearchFailed: a worker process failed (exit 1).
        fmnist_spec.running.data.DataError: Fashion-MNIST could not be loaded (exit 1).
    """
    start = time.perf_counter()
    if spec.search is None:
        raise SearchError(f"{spec.file}: the spec has no search section",
                          "add search: {space: {PATH: {choices: [...]}}} (docs/search.md)")
    out_dir = guard_search_dir(out if out is not None else default_out_dir(spec))
    check_url(storage)
    out_dir.mkdir(parents=True, exist_ok=True)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trial lines say what happens
    opened = open_storage(out_dir, storage)
    name = study or default_study_name(spec)
    with _opening(out_dir, storage):  # one process at a time creates the study and records its spec
        optuna_study = open_study(opened.optuna, name, spec, opened.shown)
    settings = WorkerSettings(out_dir, name, n_trials or spec.search.n_trials, storage,
                              None if data_dir is None else str(data_dir), threads_per_worker(workers),
                              lines_to_stderr=lines_to_stderr)
    earlier = {t.number for t in optuna_study.get_trials(deepcopy=False) if settled(t)}
    before, mine = len(earlier), Mine({os.getpid()}, earlier)
    if workers > 1:  # the worker processes print their lines
        progress = None
    if progress is not None:
        best = best_trial(optuna_study)
        progress.start(target(spec, settings.n_trials), spec.search.objective, spec.search.direction, before,
                       None if best is None else best.value, None if best is None else best.number)
    try:
        if workers <= 1:
            work(spec, settings, data, echo, progress)
        else:
            _run_workers(spec, settings, workers, mine.pids)
    except (KeyboardInterrupt, SearchInterrupted) as exc:
        result = finish(spec, optuna_study, settings, opened.shown, mine, start, pictures=False)
        raise SearchInterrupted(result) from None if isinstance(exc, KeyboardInterrupt) else exc
    except SearchFailed as exc:  # a worker died: what the others finished is written down all the same
        result = finish(spec, optuna_study, settings, opened.shown, mine, start)
        written = "study.json" + (", best.yaml" if result.best_yaml else "")
        failed = SearchFailed(f"{exc}; {result.settled} of {result.n_trials} trials settled ({written} "
                              f"written in {out_dir})", exc.hint)
        failed.result = result
        raise failed from None
    except BaseException as exc:
        if type(exc).__name__ == "TrainingInterrupted":
            raise SearchInterrupted(finish(spec, optuna_study, settings, opened.shown, mine, start,
                                           pictures=False)) from None
        raise
    finally:
        if progress is not None:
            progress.finish()
    return finish(spec, optuna_study, settings, opened.shown, mine, start)


def _opening(out_dir: Path, url: str | None):
    """The lock under which a study is opened: ``DIR/.search.lock`` for the journal file, the
    database's advisory lock for ``--storage``."""
    if url is None:
        return turn(out_dir, True)
    from .database import creation_turn

    return creation_turn(url)


def _settled(study) -> int:
    return sum(map(settled, study.get_trials(deepcopy=False)))


def _run_workers(spec, settings: WorkerSettings, workers: int, pids: set) -> None:
    """``workers`` processes (``python -m fmnist_spec.search.worker``), each in its own session so
    that Ctrl-C reaches them once, forwarded from here; waits for all of them.

    Raises:
        SearchInterrupted: after Ctrl-C, once every worker has ended its trial.
        SearchFailed: a worker ended with an error (the others finish first).
    """
    from dataclasses import replace

    processes = []
    try:
        for index in range(workers):
            process = subprocess.Popen([sys.executable, "-m", "fmnist_spec.search.worker", str(os.getpid())],
                                       stdin=subprocess.PIPE, start_new_session=True)
            pids.add(process.pid)
            process.stdin.write(pickle.dumps((spec, replace(settings, index=index))))
            process.stdin.close()
            processes.append(process)
        statuses = [process.wait() for process in processes]
    except KeyboardInterrupt:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGINT)
        deadline = time.monotonic() + 120
        for process in processes:
            while True:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                    break
                except KeyboardInterrupt:  # a second Ctrl-C: the workers are ending their trials already,
                    continue               # and study.json must say what they did
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                    break
        raise
    failed = [(p.pid, s) for p, s in zip(processes, statuses) if s not in (0,)]
    if any(s == 130 for _, s in failed):
        raise KeyboardInterrupt
    if failed:
        shown = ", ".join(f"pid {pid} {'killed by signal ' + str(-s) if s < 0 else 'exit status ' + str(s)}"
                          for pid, s in failed)
        raise SearchFailed(f"{len(failed)} of {workers} worker(s) failed ({shown}); finished trials are kept",
                           "see the errors above; run the same command again to continue (a killed "
                           "worker's trial is trained again)")


def finish(spec, study, settings: WorkerSettings, shown: str, mine: Mine, start: float,
           pictures: bool = True) -> SearchResult:
    """The leaderboard, ``best.yaml``, ``study.json`` and (``pictures``) Optuna's pictures of ``study``."""
    import optuna

    from .space import shown as shown_values
    from .space import values_of

    space, out_dir = spec.search, Path(settings.out_dir)
    study = optuna.load_study(study_name=study.study_name, storage=study._storage)
    recover_dead(study, shown.endswith(".journal"))
    rows = leaderboard(study, space.objective, space.direction)
    best = best_trial(study)
    states: dict = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    facts = {"study": study.study_name, "storage": shown, "objective": space.objective,
             "direction": space.direction, "sampler": space.sampler, "pruner": space.pruner,
             "n_trials": target(spec, settings.n_trials), "states": states}
    result = SearchResult(out_dir, study.study_name, shown, space.objective, space.direction,
                          target(spec, settings.n_trials), _settled(study), states, rows)
    host = socket.gethostname()
    result.trained = sum(1 for t in study.get_trials(deepcopy=False)
                         if settled(t) and t.number not in mine.earlier
                         and t.user_attrs.get("worker", {}).get("pid") in mine.pids
                         and t.user_attrs.get("worker", {}).get("host") == host)
    if best is not None:
        values = values_of(space, best.params)
        result.best_number, result.best_value = best.number, best.value
        result.best_values = shown_values(space, values)
        result.best_run = out_dir / best.user_attrs.get("run", f"{TRIALS}/{best.number}")
        result.best_yaml = write_best(spec, best, out_dir)
    result.study_json = out_dir / STUDY
    write_study(result.study_json, facts, study, rows, best, space.objective)
    if pictures:
        result.pictures, result.notes = draw(study, out_dir)
    result.seconds = time.perf_counter() - start
    return result
