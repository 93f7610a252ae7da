"""The ``search`` section of a spec as data: its parameters, its grid, and the plain spec of one point.

A spec with a ``search`` section is a plain spec (its base point, what ``train`` trains) plus a
space of values for some of its keys, keyed by the paths ``--set`` takes
(:func:`fmnist_spec.source.compose.parse_key`)::

    search:
      objective: val_accuracy
      sampler: grid
      space:
        compile.optimizer: {choices: [sgd, adagrad, rmsprop, adam]}
        layers[2].rate: {low: 0.1, high: 0.5, step: 0.1}

A parameter is a choice (Optuna's ``suggest_categorical``) or a range (``suggest_int`` /
``suggest_float`` with ``step`` or ``log``); int or float follows the type the schema gives the key.
The checks of the section are :mod:`fmnist_spec.language.search_checks`; the study that runs it is
:mod:`fmnist_spec.search` (Optuna lives there: nothing here imports Optuna or TensorFlow).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import yaml

from ..errors import ERROR, Problem, SpecError
from ..source.compose import NamedClasses, Override, apply_override, parse_key
from ..source.yaml_source import Source
from .callback_checks import maximised
from .checking import plain_spec
from .registry import OPTIMIZER_CLASSES
from .schema import default_optimizer
from .spec import Spec

CATEGORICAL, INT, FLOAT = "categorical", "int", "float"
"""The kinds of parameter (Optuna's categorical, int and float distributions)."""

DEFAULT_TRIALS = 20
"""Trials of a study whose spec gives no ``n_trials`` and whose sampler is not ``grid``."""

MAX_GRID_POINTS = 10_000
"""Largest grid a spec may give (points), as the schema's largest ``n_trials``."""

NAMED_CLASSES = (NamedClasses(("compile", "optimizer"), OPTIMIZER_CLASSES, default_optimizer()),)
"""Values a parameter of one of their arguments turns from a name into a mapping (as ``--set``)."""


@dataclass(frozen=True)
class Parameter:
    """One searched key.

    Attributes:
        path: The ``--set`` key, ``"compile.optimizer.learning_rate"`` or ``"layers[2].rate"``.
        kind: ``"categorical"``, ``"int"`` or ``"float"``.
        choices: Categorical: the values as written (scalars, or mappings).
        low, high: Int or float: the bounds, both included.
        step: Int or float: distance between the values tried (int: 1 when not given, as Optuna's
            ``suggest_int``; None with ``log``), or None (float: continuous).
        log: Sample on a log scale.
        location: ``(file, line, column)`` of the parameter's key in the spec, where problems with
            its values are reported; ``()`` when unknown.
    """

    path: str
    kind: str
    choices: tuple = ()
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False
    location: tuple = field(default=(), compare=False)

    @property
    def keys(self) -> tuple:
        """The path as a tuple of keys and indices, ``("layers", 2, "rate")``."""
        return parse_key(self.path, self.path)

    def size(self) -> int | None:
        """How many values the parameter takes, or None when it is continuous."""
        if self.kind == CATEGORICAL:
            return len(self.choices)
        if self.kind == INT:
            return (self.high - self.low) // (self.step or 1) + 1
        if self.step is None:
            return None
        return int((exact(self.high) - exact(self.low)) / exact(self.step)) + 1

    def values(self) -> tuple | None:
        """Every value the parameter takes, in order (what Optuna's ``GridSampler`` is given),
        or None when it is continuous. Float steps are exact decimals: 0.1, 0.2, 0.3, never
        0.30000000000000004 (:func:`exact`)."""
        if self.kind == CATEGORICAL:
            return self.choices
        size = self.size()
        if size is None:
            return None
        if self.kind == INT:
            return tuple(range(self.low, self.high + 1, self.step or 1))
        low, step = exact(self.low), exact(self.step)
        return tuple(float(low + i * step) for i in range(size))

    def corners(self) -> tuple:
        """The values a static check tries: every choice, or both bounds of a range."""
        return self.choices if self.kind == CATEGORICAL else (self.low, self.high)

    def normalized(self, value):
        """``value`` as the spec would write it: an int for an int key, a float on the step's
        decimals (0.30000000000000004 -> 0.3), a choice given by its text (``format_value``)
        turned back into the choice.

        Raises:
            ValueError: the value is not one of the choices, or not in the range.
        """
        if self.kind == CATEGORICAL:
            for choice in self.choices:
                if _same(choice, value) or (isinstance(value, str) and not isinstance(choice, str)
                                            and format_value(self, choice) == value):
                    return choice
            raise ValueError(f"{value!r} is not one of the choices of {self.path}: {list(self.choices)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            raise ValueError(f"{value!r} is not in the range {self.low!r}..{self.high!r} of {self.path}")
        if self.kind == INT:
            return round(value)
        if self.step is not None:
            low, step = exact(self.low), exact(self.step)
            return float(low + round((exact(float(value)) - low) / step) * step)
        return float(value)


def exact(number: float) -> Fraction:
    """``number`` as the decimal it is written as, exactly: ``exact(0.1) == Fraction(1, 10)``
    (Python's shortest repr of a float is what YAML wrote), so steps add and divide without
    rounding (0.6 / 0.2 is 3, not 2.9999999999999996), whatever the exponent."""
    return Fraction(repr(number)) if isinstance(number, float) else Fraction(number)


def _same(a, b) -> bool:
    """Equal and of the same type (``True`` is not ``1``; ``1`` is not ``1.0`` for a choice)."""
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class SearchSpace:
    """A spec's ``search`` section, defaults filled in.

    Attributes:
        objective: The quantity a trial is scored by (``"val_accuracy"``), a key of the Keras history.
        direction: ``"maximize"`` or ``"minimize"``.
        sampler: ``"grid"``, ``"random"`` or ``"tpe"`` (Optuna's ``GridSampler``, ``RandomSampler``,
            ``TPESampler``).
        pruner: ``"median"``, ``"hyperband"`` or ``"none"`` (``MedianPruner``, ``HyperbandPruner``,
            ``NopPruner``).
        n_trials: Trials of the study in all.
        parameters: The :class:`Parameter` s, in the order written.
    """

    objective: str
    direction: str
    sampler: str
    pruner: str
    n_trials: int
    parameters: tuple

    def grid_size(self) -> int | None:
        """Points of the grid (the product of the parameters' sizes), or None when one is continuous."""
        sizes = [p.size() for p in self.parameters]
        return None if None in sizes else math.prod(sizes)

    def grid(self) -> list[dict] | None:
        """Every point ``{path: value}`` when every parameter is finite, else None.

        Raises:
            ValueError: the grid has more than :data:`MAX_GRID_POINTS` points (a checked spec never
                has: :mod:`fmnist_spec.language.search_checks` refuses it).
        """
        size = self.grid_size()
        if size is None:
            return None
        if size > MAX_GRID_POINTS:
            raise ValueError(f"the grid has {size:,} points, more than {MAX_GRID_POINTS:,}")
        paths = [p.path for p in self.parameters]
        return [dict(zip(paths, combination))
                for combination in itertools.product(*(p.values() for p in self.parameters))]

    def parameter(self, path: str) -> Parameter:
        """The parameter of ``path``.

        Raises:
            KeyError: no parameter has that path.
        """
        for parameter in self.parameters:
            if parameter.path == path:
                return parameter
        raise KeyError(f"{path!r} is not a parameter of the search; its parameters are "
                       + ", ".join(p.path for p in self.parameters))

    def section(self) -> dict:
        """The section as a spec writes it, every default filled in (``direction``, ``sampler``,
        ``pruner``, ``n_trials``; an int range's ``step`` 1, a range's ``log``)."""
        space = {}
        for p in self.parameters:
            if p.kind == CATEGORICAL:
                space[p.path] = {"choices": list(p.choices)}
            else:
                space[p.path] = {"low": p.low, "high": p.high}
                if p.step is not None:
                    space[p.path]["step"] = p.step
                space[p.path]["log"] = p.log
        return {"objective": self.objective, "direction": self.direction, "sampler": self.sampler,
                "pruner": self.pruner, "n_trials": self.n_trials, "space": space}

    def describe(self, parameter: Parameter) -> str:
        """``categorical, 4 values``, ``float, 5 values: 0.1 .. 0.5``, ``float, log, continuous``."""
        size = parameter.size()
        kind = parameter.kind + (", log" if parameter.log else "")
        if size is None:
            return f"{kind}, continuous"
        return f"{kind}, {size:,} value{'s' if size != 1 else ''}"

    def resolved(self) -> dict:
        """The section as plain data, every default filled in, each parameter with its kind
        (what ``render`` shows)."""
        space = {}
        for p in self.parameters:
            if p.kind == CATEGORICAL:
                space[p.path] = {"kind": p.kind, "choices": list(p.choices)}
            else:
                space[p.path] = {"kind": p.kind, "low": p.low, "high": p.high, "step": p.step, "log": p.log}
            size = p.size()
            if size is not None:
                space[p.path]["size"] = size
        return {"objective": self.objective, "direction": self.direction, "sampler": self.sampler,
                "pruner": self.pruner, "n_trials": self.n_trials, "grid_size": self.grid_size(),
                "space": space}


def default_direction(objective: str) -> str:
    """``maximize`` for an accuracy, ``minimize`` for the rest (a loss), as Keras's ``mode: auto``."""
    return "maximize" if maximised(objective) else "minimize"


def parameter_of(path: str, entry: dict, kind: str | None, location: tuple = ()) -> Parameter:
    """A :class:`Parameter` from its schema-valid entry (``{choices: [...]}`` or ``{low, high, ...}``).

    Args:
        path: The ``--set`` key.
        entry: The entry as written.
        kind: ``"int"`` or ``"float"`` for a range (the key's type); ignored for choices.
        location: ``(file, line, column)`` of the key in the spec.
    """
    if "choices" in entry:
        return Parameter(path, CATEGORICAL, choices=tuple(entry["choices"]), location=location)
    step = entry.get("step")
    if kind == INT:
        step = step if step is not None or entry.get("log", False) else 1  # Optuna's IntDistribution
        return Parameter(path, INT, low=entry["low"], high=entry["high"], step=step,
                         log=bool(entry.get("log", False)), location=location)
    as_float = (lambda v: float(v) if v is not None else None)
    return Parameter(path, FLOAT, low=as_float(entry["low"]), high=as_float(entry["high"]),
                     step=as_float(step), log=bool(entry.get("log", False)), location=location)


DEFAULT_OBJECTIVE = "val_accuracy"
"""The objective of a search section that names none (the schema's default)."""


def space_of(section: dict, parameters: tuple) -> SearchSpace:
    """The :class:`SearchSpace` of a schema-valid ``search`` section and its parsed parameters,
    defaults filled in (direction from the objective; n_trials the grid's size for ``grid``)."""
    objective = section.get("objective", DEFAULT_OBJECTIVE)
    sampler = section.get("sampler", "tpe")
    space = SearchSpace(objective=objective, direction=section.get("direction") or default_direction(objective),
                        sampler=sampler, pruner=section.get("pruner", "median"), n_trials=0,
                        parameters=tuple(parameters))
    n_trials = section.get("n_trials")
    if n_trials is None:
        n_trials = (space.grid_size() or DEFAULT_TRIALS) if sampler == "grid" else DEFAULT_TRIALS
    return replace(space, n_trials=n_trials)


def train_note(spec: Spec) -> str:
    """What ``train`` says about a spec's search section (so it is never silently ignored, as
    ``ludwig train`` ignored ``hyperopt:``, Ludwig #1828); ``""`` for a plain spec."""
    if spec.search is None:
        return ""
    names = ", ".join(p.path for p in spec.search.parameters)
    return (f"{spec.file} has a search section ({len(spec.search.parameters)} parameters: {names}); train "
            f"trains its base values as written; run 'fmnist-spec search {spec.file} --out DIR' to search them")


def format_value(parameter: Parameter, value) -> str:
    """``value`` as it would be written in the spec, rounded as written.

    A float of a stepped range on the step's decimals (``0.3``, not ``0.30000000000000004``); a
    continuous float to 4 significant digits (``0.001234``, ``1e-05``); an int as an int; a choice
    as its YAML text (``adam``, ``{type: SGD, momentum: 0.9}``).

    Args:
        parameter: The parameter the value belongs to.
        value: One of its values (as a sampler suggests it).
    """
    if parameter.kind == CATEGORICAL:
        if isinstance(value, str):
            return value
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6,
                              allow_unicode=True).strip().removesuffix("...").strip()
    if parameter.kind == INT:
        return str(round(value))
    if parameter.step is not None:
        return repr(parameter.normalized(value))
    text = f"{float(value):.4g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def ordered(parameters) -> list[Parameter]:
    """The parameters in the order they are set: a key before the keys under it
    (``compile.optimizer`` before ``compile.optimizer.learning_rate``), else as written."""
    return sorted(parameters, key=lambda p: len(p.keys))


def point_data(spec: Spec, values: dict) -> dict:
    """One point of ``spec``'s search as plain spec data: the spec as written with ``values``
    set as ``--set`` would set them and the ``search`` section dropped (what ``best.yaml`` is
    written from).

    Args:
        spec: A checked spec with a search section (``spec.search``).
        values: ``{path: value}`` for some or all parameters (a parameter left out keeps the
            base value); values are normalized (:meth:`Parameter.normalized`).

    Raises:
        ValueError: ``spec`` has no search section, or a path or a value is not in the space.
    """
    if spec.search is None:
        raise ValueError(f"{spec.file} has no search section")
    return data_at(spec.data, spec.search, values)


def data_at(data: dict, space: SearchSpace, values: dict) -> dict:
    """Plain spec ``data`` (the search section dropped) with ``values`` of ``space`` set.

    Raises:
        ValueError: a path or a value is not in the space.
    """
    try:
        chosen = {space.parameter(path).path: value for path, value in values.items()}
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    point = {k: v for k, v in data.items() if k != "search"}
    for parameter in ordered(p for p in space.parameters if p.path in chosen):
        value = parameter.normalized(chosen[parameter.path])
        point = apply_override(point, Override(parameter.path, _flow(value), parameter.path, 1, pinned=True),
                               {}, {}, NAMED_CLASSES)
    return point


def _flow(value) -> str:
    """``value`` as YAML 1.2 text (JSON is YAML 1.2), as ``--set`` reads it."""
    return json.dumps(value)


def describe_point(space: SearchSpace, values: dict) -> str:
    """``compile.optimizer=sgd, layers[2].rate=0.3``."""
    return ", ".join(f"{path}={format_value(space.parameter(path), value)}" for path, value in values.items())


def _blamed(space: SearchSpace, values: dict, base: dict, problem_path: str) -> Parameter:
    """The parameter a point's problem at ``problem_path`` is reported at: the one whose key is
    the problem's or holds it (or lies under it), the deepest; else the first whose value differs
    from the base's; else the first."""
    keys = parse_key(problem_path, problem_path) if problem_path else ()
    related = [p for p in space.parameters if p.path in values
               and (keys[:len(p.keys)] == p.keys or p.keys[:len(keys)] == keys)]
    if related:
        return max(related, key=lambda p: len(p.keys))
    for parameter in space.parameters:
        if parameter.path in values and _base_value(base, parameter.keys) != values[parameter.path]:
            return parameter
    return next(p for p in space.parameters if p.path in values)


def _base_value(data, keys: tuple):
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def point_problems(data: dict, space: SearchSpace, values: dict, file: str,
                   warnings: bool = False) -> tuple[Spec | None, list[Problem]]:
    """(the point's spec or None, its errors located at the search parameters) of one point.

    Each error names the point's values and where in the point's spec it is; it is located at
    the parameter it concerns (see :func:`_blamed`).

    Args:
        data: The spec as written (its search section is dropped).
        space: The search.
        values: ``{path: value}``.
        file: The spec's file name, for the point's own problems.
        warnings: Also find the point's warnings (kept in the returned spec's ``warnings``).

    Raises:
        ValueError: a path or a value is not in the space.
    """
    try:
        point = data_at(data, space, values)
    except SpecError as exc:  # a value that cannot be set where its path points
        return None, [_at_parameter(space, values, data, p) for p in exc.problems]
    spec, problems, _ = plain_spec(Source(file, point), warnings=warnings, parts=_parts(point, space, values))
    errors = [_at_parameter(space, values, data, p) for p in problems if p.severity == ERROR]
    return (replace(spec, search=None) if spec is not None else None), errors


def _parts(point: dict, space: SearchSpace, values: dict) -> list[tuple]:
    """The parts of a point that differ from its base: the top-level key of each parameter set, or
    the item of a top-level list it is in (``("layers", 2)``); what the point's schema check reads."""
    parts = []
    for path in values:
        keys = space.parameter(path).keys
        part = keys[:2] if len(keys) > 1 and isinstance(keys[1], int) else keys[:1]
        if part not in parts:
            parts.append(part)
    return parts


def _at_parameter(space: SearchSpace, values: dict, base: dict, problem: Problem) -> Problem:
    """``problem`` of one point, located at the parameter it concerns and naming the point."""
    parameter = _blamed(space, values, base, problem.path)
    file, line, column = parameter.location or (problem.file, None, None)
    others = {k: v for k, v in values.items() if k != parameter.path}
    value = format_value(parameter, values[parameter.path])
    where = f"{problem.path}: " if problem.path and problem.path != parameter.path else ""
    context = f" (with {describe_point(space, others)})" if others else ""
    message = f"{parameter.path}={value}{context} fails the spec's checks: {where}{problem.message}"
    hint = problem.hint + ("; or " if problem.hint else "") + f"leave {value} out of search.space.{parameter.path}"
    return Problem(file, line, column, f"search.space.{parameter.path}", message, hint)


def point_spec(spec: Spec, values: dict) -> Spec:
    """The checked plain spec of one point of ``spec``'s search.

    Args:
        spec: A checked spec with a search section.
        values: ``{path: value}``, set as ``--set`` would set them; the search section is dropped.

    Returns:
        The point's :class:`Spec` (``search`` None; its warnings in ``warnings``).

    Raises:
        SpecError: the point fails the static checks; each problem is located at the search
            parameter it concerns and names the point's values.
        ValueError: ``spec`` has no search section, or a path or value is not in the space.
    """
    if spec.search is None:
        raise ValueError(f"{spec.file} has no search section")
    checked, errors = point_problems(spec.data, spec.search, values, spec.file, warnings=True)
    if checked is None:
        raise SpecError(errors)
    return checked
