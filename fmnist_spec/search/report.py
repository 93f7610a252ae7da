"""What a search leaves in its folder once the workers have stopped: the leaderboard, ``study.json``,
``best.yaml`` and Optuna's pictures (``optuna.visualization.matplotlib``).

* ``study.json``: the study's name, storage, objective, direction, sampler, pruner, ``n_trials``;
  every trial (number, state, parameters as Optuna stores them, ``values`` as written, the objective,
  epochs, seconds, run folder, worker, why it failed); the ``leaderboard`` and the ``best`` trial.
* ``best.yaml``: the complete plain spec of the best trial's values
  (:func:`fmnist_spec.language.search_space.point_data`): ``fmnist-spec train best.yaml`` trains it
  again (with the search's seed, to the same figures).
* ``optimization_history.png``, ``parallel_coordinate.png``, ``param_importances.png`` (this one
  only with two or more complete trials and something to tell apart).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..files import write_json, write_yaml

BEST = "best.yaml"
STUDY = "study.json"
PICTURES = {"optimization_history": "plot_optimization_history", "parallel_coordinate": "plot_parallel_coordinate",
            "param_importances": "plot_param_importances"}
"""Picture name (``<name>.png``) -> the function of ``optuna.visualization.matplotlib`` that draws it."""


def trial_row(trial, objective: str) -> dict:
    """One trial as ``study.json`` and the leaderboard show it."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    message = attrs.get("message") or attrs.get("failed_because")
    if message is None and trial.state == TrialState.FAIL and attrs.get("duplicate_of") is None:
        # a database's heartbeat check ended it (fail_stale_trials), which records no reason
        message = "its worker sent no heartbeat within the grace period (killed, paused or cut off); retried"
    return {"number": trial.number, "state": trial.state.name.lower(), "values": attrs.get("values", {}),
            "params": dict(trial.params), objective: trial.value,
            "epochs": attrs.get("epochs"), "seconds": attrs.get("seconds"), "run": attrs.get("run"),
            "worker": attrs.get("worker"), "message": message, "duplicate_of": attrs.get("duplicate_of"),
            # Optuna's RetryHeartbeatStaleTrialCallback records the retried trial as a system attribute
            "retry_of": attrs.get("retry_of", trial.system_attrs.get("failed_trial"))}


def leaderboard(study, objective: str, direction: str) -> list:
    """Complete trials best first, then pruned ones by their last reported figure (rows of :func:`trial_row`)."""
    from optuna.trial import TrialState

    sign = -1 if direction == "maximize" else 1
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: (sign * t.value, t.number))
    pruned = sorted(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)),
                    key=lambda t: (sign * _last(t), t.number))
    rows = []
    for trial in complete + pruned:
        row = trial_row(trial, objective)
        if trial.state == TrialState.PRUNED:
            row[objective] = _last(trial)
        rows.append(row)
    return rows


def leaderboard_text(rows: list, objective: str, limit: int = 10) -> str:
    """The first ``limit`` leaderboard rows as an aligned text table (values as written)."""
    if not rows:
        return "no trial completed or was pruned yet\n"
    paths = list(rows[0]["values"])
    head = ["#", "trial", *paths, objective, "state", "epochs", "seconds"]
    body = [[str(i + 1), str(r["number"]), *(r["values"].get(p, "") for p in paths),
             "" if r[objective] is None else f"{r[objective]:.4f}", r["state"], str(r["epochs"] or ""),
             "" if r["seconds"] is None else f"{r['seconds']:.1f}"] for i, r in enumerate(rows[:limit])]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [head, *body]]
    more = [f"... and {len(rows) - limit} more (study.json)"] if len(rows) > limit else []
    return "\n".join(lines + more) + "\n"


def _last(trial) -> float:
    values = trial.intermediate_values
    return float(values[max(values)]) if values else float("nan")


def best_trial(study):
    """The best complete trial, or None when none completed."""
    try:
        return study.best_trial
    except ValueError:
        return None


def write_best(spec, best, out_dir: Path) -> Path | None:
    """``out_dir/best.yaml`` from the best trial's values (atomically); None without a complete trial."""
    from ..language.search_space import point_data
    from .space import values_of

    if best is None:
        return None
    path = Path(out_dir) / BEST
    write_yaml(path, point_data(spec, values_of(spec.search, best.params)))
    return path


def write_study(path: Path, facts: dict, study, rows: list, best, objective: str) -> None:
    """``study.json`` (see the module docstring), atomically."""
    trials = [trial_row(t, objective) for t in study.get_trials(deepcopy=False)]
    write_json(path, {**facts, "trials": trials, "leaderboard": rows,
                      "best": trial_row(best, objective) if best is not None else None})


def draw(study, out_dir: Path) -> tuple[list, list]:
    """Optuna's pictures into ``out_dir``; returns (paths written, notes on the ones skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState

    from ..files import atomic_write

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    written, notes = [], []
    for name, function in PICTURES.items():
        if complete < (2 if name == "param_importances" else 1):
            notes.append(f"{name}.png not drawn: it needs {2 if name == 'param_importances' else 1} or more "
                         f"complete trials ({complete} completed)")
            continue
        path = Path(out_dir) / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # equal importances are drawn as such; the warning would be a notebook's red stderr
                warnings.filterwarnings("ignore", "Target and region quantiles select the same set")
                warnings.filterwarnings("ignore", "Attempting to set identical low and high ylims")  # one value
                axes = getattr(optuna.visualization.matplotlib, function)(study)
                figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
                figure.set_size_inches(8, 5)
                atomic_write(path, lambda tmp, figure=figure: figure.savefig(tmp, format="png", dpi=100,
                                                                             bbox_inches="tight"),
                             suffix=".png")  # drawing happens here: its warnings are inside the filters too
            written.append(path)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. importances of a constant parameter
            notes.append(f"{name}.png not drawn: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        finally:
            plt.close("all")
    return written, notes
