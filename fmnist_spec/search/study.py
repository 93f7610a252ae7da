"""The study: Optuna's sampler and pruner of the spec's ``search`` section, the study created or
joined by name, what it records about the spec, and the bookkeeping every worker shares.

A study records in its user attribute ``fmnist_spec`` the spec it searches (the resolved base
spec and the space, without ``n_trials``). Joining it with another spec or space is refused,
naming the paths that differ, before anything is written: a re-run never changes a finished study.
Only ``n_trials`` (``--trials``) may change, to continue to a larger total.

Trials a worker ends are *settled*: ``COMPLETE``, ``PRUNED``, or ``FAIL`` with the user attribute
``settled`` (the loss became NaN: that point was tried). Other ``FAIL`` trials (interrupted, their
worker killed, an error such as a full disk, a grid point another worker had) do not count, and an
interrupted, killed or failed one is enqueued again with the same parameters (``study.enqueue_trial``, as Optuna's
``RetryFailedTrialCallback`` does for RDB storage).
"""

from __future__ import annotations

import json

from ..errors import HintedError
from ..language.spec import run_spec
from . import liveness

SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler", "cmaes": "CmaEsSampler",
            "qmc": "QMCSampler", "gp": "GPSampler", "nsgaii": "NSGAIISampler"}
"""The spec's ``sampler`` -> the class in ``optuna.samplers``."""

PRUNERS = {"median": "MedianPruner", "hyperband": "HyperbandPruner", "none": "NopPruner",
           "percentile": "PercentilePruner", "successive_halving": "SuccessiveHalvingPruner",
           "threshold": "ThresholdPruner", "wilcoxon": "WilcoxonPruner", "patient": "PatientPruner"}
"""The spec's ``pruner`` -> the class in ``optuna.pruners`` (Optuna's defaults for each)."""

SPEC_ATTR = "fmnist_spec"


class StudyMismatch(HintedError):
    """The search folder's (or the database's) study searches another spec or space (bad input, exit 2)."""


def make_sampler(space, seed: int | None):
    """The ``optuna.samplers`` object of ``space.sampler`` seeded with ``seed``."""
    import optuna

    from .space import grid_space

    if space.sampler == "grid":
        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, study, trial, state, values):
                """Nothing: GridSampler's ``study.stop()`` works only inside ``optimize``; the
                workers stop when every grid point is settled (:mod:`fmnist_spec.search.loop`)."""

        return Grid(grid_space(space), seed=seed)
    return getattr(optuna.samplers, SAMPLERS[space.sampler])(seed=seed)


def make_pruner(space, epochs: int):
    """The ``optuna.pruners`` object of ``space.pruner``; Hyperband counts epochs (``max_resource``)."""
    import optuna

    cls = getattr(optuna.pruners, PRUNERS[space.pruner])
    if space.pruner == "hyperband":
        return cls(min_resource=1, max_resource=max(epochs, 1))
    if space.pruner == "percentile":
        return cls(25.0)
    if space.pruner == "patient":
        return cls(None, patience=1)
    if space.pruner == "threshold":
        return optuna.pruners.NopPruner()
    return cls()


def fingerprint(spec) -> dict:
    """What the study records of ``spec``: its resolved base spec and its space (not ``n_trials``)."""
    base = run_spec(spec)
    base.get("fit", {}).pop("verbose", None)
    base.pop("search", None)
    space = spec.search.resolved()
    space.pop("n_trials", None)
    return json.loads(json.dumps({"spec": base, "search": space}, default=str))


def differences(old, new, path: str = "") -> list:
    """The paths at which two plain-data values differ (``$``-rooted, as in errors)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in list(old) + [k for k in new if k not in old]:
            found += differences(old.get(key, "<absent>"), new.get(key, "<absent>"), f"{path}.{key}" if path else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if old == new else [f"{path}: {_brief(old)} in the study, {_brief(new)} now"]


def _brief(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def open_study(storage, name: str, spec, where: str):
    """Create the study ``name`` in ``storage`` or join it, after checking it searches ``spec``.

    Args:
        storage: An ``optuna.storages`` object.
        name: The study's name.
        spec: The checked spec with its ``search`` section.
        where: The storage as named to people (for messages).

    Raises:
        StudyMismatch: the study searches another spec or space, or (journal file) the file holds
            another study.
    """
    import optuna

    wanted = fingerprint(spec)
    direction = spec.search.direction
    names = [s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)]
    if name not in names:
        others = [n for n in names if n != name]
        if others and where.endswith(".journal"):
            raise StudyMismatch(f"{where} holds the study {others[0]!r}, not {name!r}",
                                f"run again with --study {others[0]}, or give another --out")
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
        if SPEC_ATTR not in study.user_attrs:
            study.set_user_attr(SPEC_ATTR, wanted)
    study = optuna.load_study(study_name=name, storage=storage)
    recorded = study.user_attrs.get(SPEC_ATTR)
    if recorded is None:
        raise StudyMismatch(f"{where}: the study {name!r} was not made by fmnist-spec search",
                            "give another --study name")
    found = differences(recorded, wanted)
    if found:
        shown = "\n  ".join(found[:8]) + (f"\n  ... and {len(found) - 8} more" if len(found) > 8 else "")
        raise StudyMismatch(f"{where}: the study {name!r} searches another spec or space; it differs at\n  {shown}",
                            "run it with the spec and flags it was started with (only --trials may change), or "
                            + ("give another --out for a new study" if where.endswith(".journal") else
                               "give another --study for a new study"))
    if study.direction.name.lower() != direction:
        raise StudyMismatch(f"{where}: the study {name!r} is to {study.direction.name.lower()}, the spec says "
                            f"{direction}", "give another --out for a new study")
    return study


def settled(trial) -> bool:
    """True for a trial that counts towards ``n_trials`` (see the module docstring)."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (trial.state == TrialState.FAIL and bool(trial.user_attrs.get("settled"))))


def in_flight(trials, embedded: bool) -> list:
    """The ``RUNNING`` trials whose worker still lives (all of them for a database storage)."""
    from optuna.trial import TrialState

    return [t for t in trials if t.state == TrialState.RUNNING
            and not (embedded and liveness.is_dead(t.user_attrs.get("worker")))]


def retry(study, trial, reason: str) -> None:
    """End ``trial`` (a ``RUNNING`` trial that will not finish) as ``FAIL`` and enqueue its
    parameters again, recording ``reason`` and where the retry came from."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "failed_because", reason)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return  # another worker ended it first
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)


def heartbeat_interval(storage) -> int | None:
    """Seconds between a database storage's heartbeats (``RDBStorage(heartbeat_interval=...)``), or None."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval() if interval is not None else None


def recover_dead(study, embedded: bool) -> list:
    """Retry every ``RUNNING`` trial whose worker has ended. Returns their numbers.

    On the journal file, trials of this host whose worker process has ended (:mod:`.liveness`); on a
    database with heartbeats, ``optuna.storages.fail_stale_trials`` (trials whose heartbeat stopped,
    retried by the storage's ``failed_trial_callback``, as ``study.optimize`` does before each trial).
    """
    from optuna.trial import TrialState

    if not embedded:
        if not heartbeat_interval(study._storage):
            return []
        import warnings

        import optuna

        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        return sorted(before - after)
    dead = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if liveness.is_dead(t.user_attrs.get("worker"))]
    for trial in dead:
        worker = trial.user_attrs.get("worker", {})
        retry(study, trial, f"its worker (pid {worker.get('pid')} on {worker.get('host')}) ended during the trial")
    return [t.number for t in dead]
