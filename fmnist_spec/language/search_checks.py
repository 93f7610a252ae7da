"""Checks of a spec's ``search`` section, before any trial, each problem at its line and column.

After the schema (which gives the section's shape), in order:

1. every path parses as a ``--set`` key and names a key of the base spec: an existing layer, a key
   its class has (Ludwig #1579: parameters the model never uses were accepted silently);
2. every value fits its key: each choice is valid under the key's schema, a range is on a number
   key, an int key's bounds and step are ints, the bounds are within the key's limits;
3. a range is well formed: ``low < high``, ``log`` with both bounds above 0 and no ``step``, a
   ``step`` that divides ``high - low``;
4. the objective is a quantity every epoch of the run records (``val_accuracy`` needs validation
   after every epoch, ``val_auc`` an ``auc`` metric), its direction the right way;
5. a grid is finite, at most :data:`~fmnist_spec.language.search_space.MAX_GRID_POINTS` points,
   and no larger than ``n_trials``;
6. the points of the space go through every static check of a plain spec (shape chain,
   callbacks, model size...): every point of a grid, or, for a larger or continuous space, its
   corners (every choice with every bound), at most :data:`MAX_CHECKED_POINTS` of them; a failing
   point is reported at the search parameter it concerns, naming its values.

Nothing here imports Optuna or TensorFlow.
"""

from __future__ import annotations

import difflib
import itertools

from jsonschema.exceptions import best_match

from ..errors import ERROR, Problem, SpecError, spelled
from ..source.compose import parse_key
from ..source.yaml_source import Source, format_path
from .callback_checks import recorded_quantities
from .registry import OPTIMIZER_CLASSES
from .schema import StrictValidator, schema
from .schema_errors import did_you_mean, message_of
from .search_space import (
    CATEGORICAL,
    DEFAULT_OBJECTIVE,
    INT,
    MAX_GRID_POINTS,
    Parameter,
    SearchSpace,
    default_direction,
    exact,
    parameter_of,
    point_problems,
    space_of,
)

MAX_CHECKED_POINTS = 32
"""Most points of a space whose full static checks run (each costs about 6 ms on the 2-core
machine, so a search spec validates within about 0.2 s more than its base; docs/limits.md)."""

UNTUNABLE = ("spec_version", "extends", "search")
"""Top-level keys a search cannot vary."""

SECTION = ("search",)
SPACE = ("search", "space")


# --- the schema of one key of the base spec


def _resolve(node: dict) -> dict:
    """``node`` with ``$ref`` to ``#/$defs/NAME`` replaced by that definition."""
    defs = schema()["$defs"]
    while isinstance(node, dict) and "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _properties(node) -> dict:
    """Every ``properties`` entry under ``node``, through ``if``/``then``/``allOf``/``anyOf``
    (not ``$ref``), the first of each name."""
    found: dict = {}
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            found.setdefault(key, value)
        children = [v for k, v in node.items() if k not in ("properties", "$ref", "if", "$defs")]
    elif isinstance(node, list):
        children = node
    else:
        return found
    for child in children:
        for key, value in _properties(child).items():
            found.setdefault(key, value)
    return found


def _class_node(node: dict, data) -> tuple[dict, str | None]:
    """(the schema of ``data``'s class, the class's name) when ``data`` names one (``{type: Dense}``,
    or an optimizer's name ``adam``), else (``node``, None)."""
    defs = schema()["$defs"]
    if isinstance(data, str) and data.lower() in OPTIMIZER_CLASSES and node.get("title") == "Optimizer":
        name = OPTIMIZER_CLASSES[data.lower()]
        return defs[name], name
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        name = data["type"]
        if name in defs and "properties" in defs[name]:
            return defs[name], name
    return node, None


def key_schema(filled: dict, keys: tuple) -> tuple[dict | None, str, str]:
    """(the schema of the key at ``keys`` in the base spec, "", "") or (None, why not, hint).

    The classes on the way are the base's (``layers[2]`` is the ``Dropout`` the base has there,
    ``compile.optimizer`` the optimizer it names), so a key its class does not have names nothing.

    Args:
        filled: The base spec, defaults filled in.
        keys: The path, ``("layers", 2, "rate")``.
    """
    node, data = schema(), filled
    for depth, part in enumerate(keys):
        where = format_path(keys[:depth]) or "the spec"
        if isinstance(part, int):
            if not isinstance(data, list):
                return None, f"{where} is not a list, so it has no [{part}]", "use .key to name a key of a mapping"
            if not data:
                return None, f"{where} is empty, so [{part}] names nothing", \
                    f"add the item to {where} in the spec first; the search varies what the base has"
            if part >= len(data):
                return None, (f"{where} has {len(data)} items, so [{part}] names nothing"), \
                    f"use an index from 0 to {len(data) - 1}"
            node, data = _resolve(node.get("items", {})), data[part]
            continue
        generic = node
        node, class_name = _class_node(node, data)
        if data is not None and not isinstance(data, (dict, str)):
            return None, f"{where} is {spelled(data)}, which has no keys", "search a key that the spec has"
        known = _properties(node)
        if part == "type" and "type" in _properties(generic):  # any class, not the base's own
            known = {**known, "type": _properties(generic)["type"]}
        if part not in known:
            owner = f"{where} ({class_name})" if class_name else where
            close = difflib.get_close_matches(part, known, n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + \
                ("its keys are " + ", ".join(k for k in known if k != "type") if known else "")
            return None, f"{owner} has no key {part!r}, so the search would vary nothing", hint.strip()
        node = _resolve(known[part])
        data = data.get(part) if isinstance(data, dict) else None
    return node, "", ""


def _types(node: dict) -> set:
    """The JSON types a key's schema allows (through ``anyOf``/``oneOf`` and ``$ref``)."""
    node = _resolve(node)
    kinds = set()
    given = node.get("type")
    kinds.update(given if isinstance(given, list) else [given] if given else [])
    if "enum" in node:
        kinds.update(type(v).__name__ for v in node["enum"])
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        kinds |= _types(branch)
    return kinds


def range_kind(node: dict) -> str | None:
    """``"float"`` for a number key, ``"int"`` for an integer key, None for the rest."""
    kinds = _types(node)
    if "number" in kinds:
        return "float"
    if "integer" in kinds:
        return "int"
    return None


def _invalid(node: dict, value, validator=None) -> str:
    """Why ``value`` is not valid under the key schema ``node`` ("" when it is)."""
    validator = validator or _validator_of(node)
    error = best_match(validator.iter_errors(value))
    return "" if error is None else message_of(error)


def _validator_of(node: dict):
    """A validator of the key schema ``node`` (its ``$ref`` s resolved in the spec's schema)."""
    return StrictValidator({"$defs": schema()["$defs"], **node})


# --- the section's checks


class _Found:
    """The problems of the section, located through the source."""

    def __init__(self, source: Source):
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path, message: str, hint: str = "", at_key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, hint, at_key=at_key))

    def location(self, path) -> tuple:
        p = self.source.problem(path, "", at_key=True)
        return (p.file, p.line, p.column)


def _enums(node: dict) -> list:
    """The names a key's schema lists (``enum``, also inside ``anyOf``/``oneOf``)."""
    node = _resolve(node)
    names = list(node.get("enum", []))
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        names += [n for n in _enums(branch) if n not in names]
    return names


def _check_choices(found: _Found, key: str, node: dict, choices: list) -> None:
    """Each choice is a value the key takes (its schema, with the base's classes)."""
    names, validator = _enums(node), _validator_of(node)
    for i, choice in enumerate(choices):
        why = _invalid(node, choice, validator)
        if not why:
            continue
        hint = f"write each choice as you would write {key} in the spec; or drop it"
        if isinstance(choice, str) and names and choice not in names:
            why = "expected one of: " + ", ".join(str(n) for n in names if n is not None)
            hint = (did_you_mean(choice, names) + " " + hint).strip()
        found.add(SPACE + (key, "choices", i), f"the choice {spelled(choice)} is not a value {key} takes: {why}", hint)


_KIND_NAMES = {"string": "a string", "str": "a string", "boolean": "true or false", "bool": "true or false",
               "array": "a list", "list": "a list", "object": "a mapping", "dict": "a mapping"}


def _number(value, kind: str) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int) if kind == INT else isinstance(value, (int, float)))


def _check_range(found: _Found, key: str, node: dict, entry: dict) -> str | None:
    """The range's kind when it is well formed, else None (problems added)."""
    here = SPACE + (key,)
    kind = range_kind(node)
    if kind is None:
        kinds = " or ".join(sorted({_KIND_NAMES.get(k, k) for k in _types(node) if k not in (None, "null", "NoneType")}))
        kinds = kinds or "no number"
        found.add(here, f"{key} takes {kinds}, not a number, so it has no range",
                  "search it with choices: [...] (the values to try)", at_key=True)
        return None
    low, high, step, log = entry["low"], entry["high"], entry.get("step"), entry.get("log", False)
    bad = False
    for name in ("low", "high", "step"):
        value = entry.get(name)
        if value is not None and not _number(value, kind):
            found.add(here + (name,), f"{key} is an integer, so {name} must be one, not {spelled(value)}",
                      f"write {name}: {int(value)}" if float(value).is_integer() else "write a whole number")
            bad = True
    if log and not bad and min(low, high) <= 0:
        name = "low" if low <= 0 else "high"
        found.add(here + (name,), f"a log range needs bounds above 0; {name} is {spelled(entry[name])}",
                  "use a positive low (1.0e-5 for a learning rate), or drop log: true")
        bad = True
    for name in ("low", "high"):
        why = "" if bad else _invalid(node, entry[name])
        if why:
            found.add(here + (name,), f"{name} {spelled(entry[name])} is not a value {key} takes: {why}",
                      f"keep the range within the values {key} takes")
            bad = True
    if log and step is not None:
        found.add(here + ("step",), "a log range takes no step (Optuna samples it continuously)",
                  "drop step, or drop log: true")
        bad = True
    if low >= high:
        found.add(here + ("high",), f"high {high!r} is not above low {low!r}",
                  f"write the smaller bound as low; for the one value {low!r} write choices: [{low!r}]")
        bad = True
    elif step is not None and not bad:
        span = exact(high) - exact(low)
        if span % exact(step) != 0:
            if exact(step) > span:
                found.add(here + ("step",), f"step {step!r} is larger than the range {low!r}..{high!r}",
                          f"use a step that divides {_decimal(span)}, or choices: [{low!r}]")
            else:
                below = _decimal(exact(low) + (span // exact(step)) * exact(step))
                found.add(here + ("step",), f"step {step!r} does not divide the range {low!r}..{high!r}: "
                          f"the last value would be {below}, not {high!r}",
                          f"use a step that divides {_decimal(span)}, or high: {below}")
            bad = True
    return None if bad else kind


def _decimal(number) -> str:
    """An exact number as a short decimal: ``Fraction(2, 5)`` -> ``0.4``, ``Fraction(4)`` -> ``4``."""
    return repr(int(number)) if number == int(number) else repr(float(number))


def _parameters(found: _Found, filled: dict, section: dict) -> list[Parameter] | None:
    """The section's parameters, or None when one is not valid (problems added)."""
    parameters, ok = [], True
    objective = section.get("objective", DEFAULT_OBJECTIVE)
    for key, entry in section["space"].items():
        try:
            keys = parse_key(key, key)
        except SpecError:
            found.add(SPACE + (key,), f"{key!r} is not a path of the spec",
                      "write keys as --set takes them: compile.optimizer.learning_rate, layers[2].rate",
                      at_key=True)
            ok = False
            continue
        if keys[0] in UNTUNABLE:
            found.add(SPACE + (key,), f"{keys[0]} cannot be searched", "search keys of the model, "
                      "compile, fit or data", at_key=True)
            ok = False
            continue
        if tuple(keys[:2]) in (("data", "validation"), ("data", "train_samples")) and objective.startswith("val_"):
            found.add(SPACE + (key,), f"{key} changes the validation images, so each trial's {objective} would "
                      "be scored on another set and the trials could not be ranked against each other",
                      "keep data.validation and data.train_samples fixed in a search (compare runs of "
                      "different splits with fmnist-spec compare)", at_key=True)
            ok = False
            continue
        node, why, hint = key_schema(filled, keys)
        if node is None:
            found.add(SPACE + (key,), f"{key} names nothing in the spec: {why}", hint, at_key=True)
            ok = False
            continue
        if "choices" in entry:
            before = len(found.problems)
            _check_choices(found, key, node, entry["choices"])
            kind = CATEGORICAL if len(found.problems) == before else None
        else:
            kind = _check_range(found, key, node, entry)
        if kind is None:
            ok = False
            continue
        parameters.append(parameter_of(key, entry, kind, found.location(SPACE + (key,))))
    return parameters if ok else None


def _check_objective(found: _Found, filled: dict, section: dict, space: SearchSpace) -> None:
    """The objective is recorded after every epoch (the pruner reads it there) and goes the way
    its direction says."""
    objective = space.objective
    where = SECTION + ("objective",) if "objective" in section else SECTION
    recorded = recorded_quantities(filled)
    if objective.startswith("test_"):
        found.add(where, f"the objective {objective} is a figure of the test images: a model chosen by it has "
                  "no honest test figure left (and the test set is evaluated once, after training, so no "
                  "pruner could read it per epoch)",
                  f"search on val_{objective.removeprefix('test_')} (the validation split); the best trial's "
                  "test figure is in its run folder", at_key=where == SECTION)
        return
    if objective not in recorded:
        metric = objective.removeprefix("val_")
        metrics = ["loss"] + list(filled["compile"]["metrics"])
        if objective.startswith("val_") and metric in metrics:
            freq = filled["fit"]["validation_freq"]
            hint = "set fit.validation_freq: 1 (validate after every epoch), or search on " + metric
            why = f"fit.validation_freq is {freq!r}, so {objective} is missing from most epochs"
        elif metric not in metrics:
            hint = f"add {metric} to compile.metrics, or use one of: " + ", ".join(recorded)
            why = f"{metric} is not in compile.metrics"
        else:
            hint = "use one of: " + ", ".join(recorded)
            why = "the run does not record it"
        found.add(where, f"the objective {objective} is not a quantity every epoch records: {why}; "
                  f"the run records {', '.join(recorded)}", hint, at_key=where == SECTION)
        return
    if "direction" in section and section["direction"] != default_direction(objective):
        natural = default_direction(objective)
        found.add(SECTION + ("direction",), f"direction {section['direction']} on {objective} would look "
                  f"for the worst model: {objective} should be {natural}d",
                  f"write direction: {natural}, or leave it out (it follows the objective)")


def _check_grid(found: _Found, section: dict, space: SearchSpace) -> None:
    """A grid is finite, within :data:`MAX_GRID_POINTS` and within the trial budget."""
    size = space.grid_size()
    if space.sampler == "grid" and size is None:
        for p in space.parameters:
            if p.size() is None:
                found.add(SPACE + (p.path,), f"sampler grid needs finite values, but {p.path} is a continuous "
                          "range", "give it a step (low, low + step, ..., high), or use sampler: tpe",
                          at_key=True)
        return
    if size is not None and size > MAX_GRID_POINTS and space.sampler == "grid":
        shown = f"{size:,}" if size < 10**15 else f"about {float(size):.1e}"
        found.add(SPACE, f"the grid has {shown} points, more than the {MAX_GRID_POINTS:,} a search may "
                  "have", "use fewer values (a larger step, fewer choices), or sampler: tpe", at_key=True)
        return
    if space.sampler == "grid" and "n_trials" in section and size > space.n_trials:
        found.add(SECTION + ("n_trials",), f"the grid has {size:,} points but n_trials is {space.n_trials}: "
                  f"{size - space.n_trials:,} points would never be tried",
                  f"write n_trials: {size} (or leave it out: a grid's default is its size), or search "
                  "fewer values, or use sampler: tpe to sample the space")


def points_to_check(space: SearchSpace, limit: int | None = None) -> list[dict]:
    """The points whose full static checks run, at most ``limit``.

    Every point of a grid that has at most ``limit``; else the corners (every choice with each
    bound of each range) when they are at most ``limit``; else each corner value of each parameter
    once, the others at their first corner, and all parameters at their last corner.
    """
    limit = MAX_CHECKED_POINTS if limit is None else limit
    paths = [p.path for p in space.parameters]
    size = space.grid_size()
    if size is not None and size <= limit:
        return space.grid()
    corners = [p.corners() for p in space.parameters]
    if _product_size(corners) <= limit:
        return [dict(zip(paths, c)) for c in itertools.product(*corners)]
    first = {p: c[0] for p, c in zip(paths, corners)}
    points = [first, {p: c[-1] for p, c in zip(paths, corners)}]
    for path, values in zip(paths, corners):
        points += [{**first, path: v} for v in values[1:]]
    return points[:limit]


def _product_size(lists) -> int:
    size = 1
    for values in lists:
        size *= len(values)
    return size


def _check_points(source: Source, space: SearchSpace) -> list[Problem]:
    """Each point of :func:`points_to_check` through the plain spec's checks; one problem per
    parameter and underlying problem (the first point that shows it)."""
    seen, problems = set(), []
    for values in points_to_check(space, MAX_CHECKED_POINTS):
        _, errors = point_problems(source.data, space, values, source.file)
        for error in errors:
            path = error.path.removeprefix("search.space.")
            key = (path, error.message.split(" fails the spec's checks: ", 1)[-1])
            if key not in seen:
                seen.add(key)
                problems.append(error)
    return problems


def search_problems(source: Source, filled: dict, base_ok: bool = True) -> tuple[SearchSpace | None, list[Problem]]:
    """(the search space or None, every problem of the ``search`` section).

    Args:
        source: The spec (schema-valid), with its positions.
        filled: Its data, defaults filled in.
        base_ok: The base spec passed its own checks (points are checked only then).
    """
    if "compile" not in source.data:  # a build-only spec: nothing to train, so nothing to search
        return None, [source.problem(("search",), "a search trains every trial, and the spec has no compile "
                                     "section to train with",
                                     "add a compile section, e.g. 'compile: {optimizer: adam, loss: "
                                     "sparse_categorical_crossentropy, metrics: [accuracy]}'", at_key=True)]
    found = _Found(source)
    section = source.data["search"]
    parameters = _parameters(found, filled, section)
    if parameters is None:
        return None, found.problems
    space = space_of(section, tuple(parameters))
    _check_objective(found, filled, section, space)
    _check_grid(found, section, space)
    if found.problems or not base_ok:
        return None, found.problems
    problems = _check_points(source, space)
    return (None if any(p.severity == ERROR for p in problems) else space), problems
