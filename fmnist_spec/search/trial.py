"""One trial: the point's plain spec trained by :func:`fmnist_spec.running.train.train` into
``DIR/trials/<number>`` (an ordinary run folder, staged and published atomically), with Optuna's
Keras pruning callback, and the figure the study optimises read from the finished run.

A pruned trial stops as an ``EarlyStopping`` would (``model.stop_training``), so its run folder is
published like any other, with the epochs it trained; the trial is told ``PRUNED``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

TRIALS = "trials"
"""The folder of the trials' run folders in the search folder."""


@dataclass
class TrialOutcome:
    """How a trial ended.

    Attributes:
        state: ``"complete"``, ``"pruned"`` or ``"fail"`` (the loss became NaN).
        value: The objective (None when failed).
        run: The trial's run folder.
        seconds: Wall time of the trial (building, training, evaluating, writing), in seconds.
        epochs: Epochs trained.
        message: Why it failed or where it was pruned.
    """

    state: str
    value: float | None
    run: Path
    seconds: float
    epochs: int
    message: str = ""


def objective_value(objective: str, metrics, history: dict) -> float | None:
    """The figure ``objective`` names in a finished run: ``val_X`` from the final validation figures,
    ``test_X`` from the test figures, ``X`` from the last epoch's training figures (``metrics.json``);
    else the last value of that key of the Keras history. None when the run has no such figure."""
    for prefix, figures in (("val_", metrics.validation), ("test_", metrics.test)):
        if objective.startswith(prefix) and objective[len(prefix):] in figures:
            return float(figures[objective[len(prefix):]])
    if objective in metrics.train:
        return float(metrics.train[objective])
    values = [v for v in history.get(objective, ()) if v is not None]
    return float(values[-1]) if values else None


def pruning_callback(trial, monitor: str):
    """``optuna_integration.KerasPruningCallback`` that ends training instead of raising
    ``optuna.TrialPruned`` inside ``fit`` (which would leave no run folder)."""
    from optuna_integration import KerasPruningCallback

    class StopWhenPruned(KerasPruningCallback):
        pruned_at = None

        def on_epoch_end(self, epoch, logs=None):
            import optuna

            try:
                super().on_epoch_end(epoch, logs)
            except optuna.TrialPruned:
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return StopWhenPruned(trial, monitor)


def with_threads(spec, threads: int | None):
    """``spec`` with each TensorFlow thread pool at most ``threads`` (None: as the spec says)."""
    if threads is None:
        return spec
    intra, inter = spec.thread_counts()
    capped = [threads if n == 0 or n > threads else n for n in (intra, inter)]
    return dataclasses.replace(spec, intra_op_parallelism_threads=capped[0], inter_op_parallelism_threads=capped[1])


def run_trial(point, trial, objective: str, out_dir: Path, data, threads: int | None,
              callbacks=()) -> TrialOutcome:
    """Train ``point`` (the checked plain spec of the trial's values) as ``trial``.

    Args:
        point: The plain spec of this point (:func:`fmnist_spec.language.search_space.point_spec`).
        trial: The ``optuna.Trial``.
        objective: The figure the study optimises (``val_accuracy``).
        out_dir: The search folder; the run goes to ``out_dir/trials/<trial.number>``.
        data: The Fashion-MNIST arrays, loaded once per worker.
        threads: Each thread pool's limit in this worker (see :func:`with_threads`).
        callbacks: More Keras callbacks for the fit (a notebook's live display of the search).

    Raises:
        Whatever :func:`fmnist_spec.running.train.train` raises (``TrainingInterrupted`` on Ctrl-C).
    """
    import keras

    from ..running.train import train

    keras.backend.clear_session()
    callback = pruning_callback(trial, objective)
    start = time.perf_counter()
    result = train(with_threads(point, threads), out=out_dir / TRIALS / str(trial.number), data=data, verbose=0,
                   callbacks=(callback, *callbacks))
    seconds = time.perf_counter() - start
    keras.backend.clear_session()
    metrics = result.metrics
    epochs = metrics.epochs_finished
    if metrics.status != "finished":
        return TrialOutcome("fail", None, result.out_dir, seconds, epochs, metrics.message or metrics.status)
    if callback.pruned_at is not None:
        return TrialOutcome("pruned", None, result.out_dir, seconds, epochs,
                            f"pruned after epoch {callback.pruned_at}")
    value = objective_value(objective, metrics, result.history)
    if value is None:
        return TrialOutcome("fail", None, result.out_dir, seconds, epochs, f"the run has no figure {objective!r}")
    return TrialOutcome("complete", value, result.out_dir, seconds, epochs)
