"""The search space in Optuna's terms: one distribution per parameter, named by its ``--set`` path.

A choice becomes ``CategoricalDistribution`` of its values, a scalar as itself and a mapping or a
list as its YAML text (Optuna stores only scalars); an int range ``IntDistribution``, a float range
``FloatDistribution`` (``step`` or ``log`` as written). :func:`values_of` maps Optuna's parameters
back to the spec's values, a float on a step rounded to the decimals written (``0.3``, not
``0.30000000000000004``; :meth:`fmnist_spec.language.search_space.Parameter.normalized`), so a
trial trains with exactly the value ``best.yaml`` writes.
"""

from __future__ import annotations

import yaml

SCALARS = (str, int, float, bool, type(None))


def yaml_text(value) -> str:
    """A non-scalar choice as one line of YAML, e.g. ``{type: adam, learning_rate: 0.001}``."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6).strip()


def label(value):
    """What Optuna stores for a choice: the value when it is a scalar, else its YAML text."""
    return value if isinstance(value, SCALARS) else yaml_text(value)


def distributions(space) -> dict:
    """``{path: optuna distribution}`` of ``space.parameters``, in the order written."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found = {}
    for p in space.parameters:
        if p.kind == "categorical":
            found[p.path] = CategoricalDistribution([label(c) for c in p.choices])
        elif p.kind == "int":
            found[p.path] = IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            found[p.path] = FloatDistribution(float(p.low), float(p.high), log=p.log,
                                              step=None if p.step is None else float(p.step))
    return found


def value_of(parameter, param):
    """The spec value of one Optuna parameter value."""
    if parameter.kind == "categorical":
        for choice in parameter.choices:
            if label(choice) == param and type(label(choice)) is type(param):
                return choice
        raise ValueError(f"{parameter.path}: {param!r} is not one of the choices {list(parameter.choices)}")
    return parameter.normalized(param)


def values_of(space, params: dict) -> dict:
    """``{path: spec value}`` of an Optuna trial's ``params``, in the space's order."""
    return {p.path: value_of(p, params[p.path]) for p in space.parameters if p.path in params}


def params_of(space, values: dict) -> dict:
    """Optuna's ``params`` of spec ``values`` (the inverse of :func:`values_of`)."""
    return {p.path: label(values[p.path]) if p.kind == "categorical" else value_of(p, values[p.path])
            for p in space.parameters if p.path in values}


def grid_space(space) -> dict | None:
    """``GridSampler``'s ``search_space`` (path -> Optuna values) from :meth:`SearchSpace.grid`,
    or None when a parameter is continuous."""
    points = space.grid()
    if points is None:
        return None
    grid: dict = {p.path: [] for p in space.parameters}
    for point in points:
        for path, value in params_of(space, point).items():
            if value not in grid[path]:
                grid[path].append(value)
    return grid


def shown(space, values: dict) -> dict:
    """``{path: text}``: each value rounded as written (:func:`fmnist_spec.language.search_space.format_value`)."""
    from ..language.search_space import format_value

    by_path = {p.path: p for p in space.parameters}
    return {path: format_value(by_path[path], value) for path, value in values.items() if path in by_path}
