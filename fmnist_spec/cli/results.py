"""The result types of the commands, one per command family, which the
reporters (:mod:`.reporters`) turn into text or JSON.

Each has ``exit_status``: what the command's outcome means when nothing was
raised (0, or 1 for a run whose loss became NaN, 2 for ``validate`` of an
invalid spec).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Checked:
    """One spec file as ``validate`` saw it. ``rows`` are :class:`fmnist_spec.language.shapes`
    rows (None when invalid); ``split`` is (training, validation, test) image counts."""

    file: str
    valid: bool
    problems: list
    rows: list | None = None
    split: tuple | None = None
    name: str = ""


@dataclass
class ValidateResult:
    """Every spec's facts and every problem (errors and warnings) of ``validate``."""

    specs: list
    problems: list

    @property
    def exit_status(self) -> int:
        return 0 if all(s.valid for s in self.specs) else 2


@dataclass
class ModelResult:
    """What ``build`` made: the model's facts (``name``, ``style``, ``parameters``,
    ``layers``), Keras's summary lines, and the files written."""

    facts: dict
    summary: list
    warnings: tuple = ()
    saved: str | None = None
    plotted: str | None = None
    exit_status: int = 0


@dataclass
class TextResult:
    """A text product (``schema``, ``render``, ``codegen``, ``export``): printed, or written
    to ``output`` and then ``done`` is said."""

    text: str
    output: str | None = None
    done: str = ""
    notes: list = field(default_factory=list)
    warnings: tuple = ()
    exit_status: int = 0


@dataclass
class TrainOutcome:
    """``train``'s :class:`fmnist_spec.running.train.TrainResult` with the spec it ran.

    ``exit_status`` is 1 when the loss became NaN or the run's progress output was lost.
    """

    spec: object
    result: object
    tensorboard: str | None = None

    @property
    def metrics(self):
        return self.result.metrics

    @property
    def exit_status(self) -> int:
        failed = self.result.is_chief and self.metrics.status != "finished"
        return 1 if failed or getattr(self.result, "output_lost", False) else 0


@dataclass
class CompareOutcome:
    """``compare``'s :class:`fmnist_spec.tools.compare.CompareResult`."""

    result: object
    exit_status: int = 0


@dataclass
class SearchOutcome:
    """``search``'s :class:`fmnist_spec.search.SearchResult` with the spec it searched."""

    spec: object
    result: object
    exit_status: int = 0


@dataclass
class EvaluateOutcome:
    """``evaluate``'s :class:`fmnist_spec.tools.evaluate.Evaluation` and the confusion picture."""

    evaluation: object
    report: str
    confusion: str | None = None
    notes: list = field(default_factory=list)
    exit_status: int = 0


@dataclass
class PredictOutcome:
    """``predict``'s :class:`fmnist_spec.tools.evaluate.Prediction` list."""

    predictions: list
    exit_status: int = 0
