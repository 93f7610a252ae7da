"""Spec with a ``search`` section -> a standalone Keras + Optuna script of the same search.

The script is the notebooks' idiom wrapped in Optuna's: the data loaded and split once, then an
``objective(trial)`` that suggests each parameter (``trial.suggest_categorical``,
``suggest_int``, ``suggest_float`` with the spec's ``step``/``log``, named by the spec's paths),
calls ``keras.backend.clear_session()``, builds the layer list with the suggested values,
compiles, fits with the validation split and Optuna's ``KerasPruningCallback`` on the objective,
and returns the objective's last value; then ``optuna.create_study(direction=..., sampler=...,
pruner=...)`` and ``study.optimize(objective, n_trials=...)`` with the spec's sampler, pruner and
trial budget. It imports keras, numpy, scikit-learn, optuna and optuna_integration, never
fmnist_spec.

The model, compile and fit lines are :mod:`fmnist_spec.tools.codegen`'s, generated from the
spec's first point with each searched value replaced by its variable. Searchable here: layer
arguments (``layers[1].units``), ``compile.optimizer`` and its arguments, ``fit.epochs``,
``fit.batch_size`` and callback arguments; other keys (``data.*``) are refused with a hint.

No TensorFlow or Optuna is imported to generate.
"""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import replace
from pathlib import Path

from .. import __version__
from ..errors import HintedError
from ..language.search_space import CATEGORICAL, INT, Parameter, SearchSpace, format_value, point_data
from ..language.spec import Spec, from_data
from . import codegen


class UnwritableSearch(HintedError):
    """A search space codegen cannot write as a plain script (exit status 2, with a hint)."""


SAMPLERS = {"tpe": "optuna.samplers.TPESampler({seed})", "random": "optuna.samplers.RandomSampler({seed})",
            "grid": "optuna.samplers.GridSampler(SEARCH_SPACE{seed_arg})"}
"""Optuna's sampler of each ``search.sampler`` name."""

PRUNERS = {"median": "optuna.pruners.MedianPruner()", "hyperband": "optuna.pruners.HyperbandPruner()",
           "none": "optuna.pruners.NopPruner()"}
"""Optuna's pruner of each ``search.pruner`` name."""


class _Variable(str):
    """A searched value in the generated code: its variable's name, written bare (``units``)."""

    def __repr__(self) -> str:
        return str(self)


def variable_names(space: SearchSpace) -> dict:
    """``{path: variable}``: the last key of each path (``units``), with the layer index when
    two would share it (``units_1``, ``units_3``)."""
    lasts = {p.path: re.sub(r"\W", "_", str(p.keys[-1])) for p in space.parameters}
    names = {}
    for p in space.parameters:
        name = lasts[p.path]
        if list(lasts.values()).count(name) > 1:
            name += "_" + "_".join(str(k) for k in p.keys[:-1] if isinstance(k, int))
        if name in names.values() or name in ("model", "trial", "history", "optimizer_class"):
            name = f"{name}_{len(names)}"
        names[p.path] = name
    return names


def _refused(parameter: Parameter) -> None:
    keys = parameter.keys
    ok = (keys[0] == "layers" or keys[:2] == ("compile", "optimizer")
          or keys[:2] in (("fit", "epochs"), ("fit", "batch_size"))
          or (keys[:2] == ("fit", "callbacks") and len(keys) > 3))
    if not ok:
        raise UnwritableSearch(f"codegen cannot write a search over {parameter.path} yet",
                          "search layer arguments, compile.optimizer and its arguments, fit.epochs, "
                          "fit.batch_size or callback arguments; or run fmnist-spec search")
    if parameter.kind == CATEGORICAL and keys != ("compile", "optimizer") and not all(
            isinstance(c, (str, int, float, bool)) or c is None for c in parameter.choices):
        raise UnwritableSearch(f"codegen writes mappings among the choices of compile.optimizer only, not of "
                          f"{parameter.path}", "write scalar choices, or run fmnist-spec search")


def _with_variables(spec: Spec, names: dict) -> Spec:
    """The first point's spec with each searched value replaced by its :class:`_Variable`."""
    layers = list(spec.layers)
    data = copy.deepcopy(spec.data)
    callbacks = list(spec.callbacks)
    fields = {}
    optimizer_searched = any(p.keys == ("compile", "optimizer") for p in spec.search.parameters)
    for parameter in spec.search.parameters:
        keys, variable = parameter.keys, _Variable(names[parameter.path])
        if optimizer_searched and keys[:2] == ("compile", "optimizer") and len(keys) > 2:
            continue  # set in the optimizer's config (_optimizer_lines)
        if keys[0] == "layers":
            index = keys[1] - (1 if spec.input_layer else 0)
            layer = layers[index]
            if keys[2] == "name":
                layers[index] = replace(layer, name=variable)
            else:
                layers[index] = replace(layer, arguments={**layer.arguments, keys[2]: variable})
        elif keys[0] == "compile":
            _set(data, keys, variable)
        elif keys[:2] == ("fit", "callbacks"):
            callback = callbacks[keys[2]]
            callbacks[keys[2]] = replace(callback, arguments={**callback.arguments, keys[3]: variable})
        else:
            fields[keys[1]] = variable
    return replace(spec, layers=tuple(layers), data=data, callbacks=tuple(callbacks), **fields)


def _set(data: dict, keys: tuple, value) -> None:
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


def _choice_literal(parameter: Parameter, choice) -> str:
    return codegen._literal(choice if not isinstance(choice, dict) else format_value(parameter, choice))


def suggest_line(parameter: Parameter, name: str) -> list[str]:
    """``units = trial.suggest_int('layers[1].units', 50, 200, step=50)``, as Optuna spells it."""
    path = repr(parameter.path)
    if parameter.kind == CATEGORICAL:
        choices = [_choice_literal(parameter, c) for c in parameter.choices]
        return codegen._call(f"{name} = trial.suggest_categorical", [path, f"[{', '.join(choices)}]"])
    kind = "int" if parameter.kind == INT else "float"
    parts = [path, repr(parameter.low), repr(parameter.high)]
    if parameter.step is not None:
        parts.append(f"step={parameter.step!r}")
    if parameter.log:
        parts.append("log=True")
    return codegen._call(f"{name} = trial.suggest_{kind}", parts)


def _optimizer_choice(space: SearchSpace) -> Parameter | None:
    return next((p for p in space.parameters if p.keys == ("compile", "optimizer")), None)


def optimizer_table(space: SearchSpace) -> list[str]:
    """``OPTIMIZER_CHOICES = {'{type: SGD, momentum: 0.9}': ('SGD', {'momentum': 0.9})}``: the
    mapping choices of ``compile.optimizer`` by their text (what the trial suggests)."""
    chosen = _optimizer_choice(space)
    mappings = {format_value(chosen, c): c for c in chosen.choices if isinstance(c, dict)} if chosen else {}
    if not mappings:
        return []
    lines = ["OPTIMIZER_CHOICES = {"]
    for text, mapping in mappings.items():
        config = {k: v for k, v in mapping.items() if k != "type"}
        lines.append(f"    {text!r}: ({mapping['type']!r}, {config!r}),")
    return lines + ["}", ""]


def _optimizer_lines(space: SearchSpace, names: dict) -> list[str]:
    """Lines that turn a searched ``compile.optimizer`` into the optimizer ``compile`` is given:
    a mapping choice from its text, and the searched arguments added to the class's config."""
    chosen = _optimizer_choice(space)
    if chosen is None:
        return []
    name = names[chosen.path]
    arguments = {p.keys[2]: names[p.path] for p in space.parameters
                 if len(p.keys) == 3 and p.keys[:2] == ("compile", "optimizer")}
    if not optimizer_table(space) and not arguments:
        return []
    lines = [f"class_name, config = OPTIMIZER_CHOICES.get({name}, ({name}, {{}}))" if optimizer_table(space)
             else f"class_name, config = {name}, {{}}"]
    if arguments:
        lines += codegen._call("config = dict", ["**config"] + [f"{k}={v}" for k, v in arguments.items()])
    lines.append(f"{name} = keras.optimizers.get({{'class_name': class_name, 'config': config}})")
    return lines


def _grid_lines(space: SearchSpace) -> list[str]:
    if space.sampler != "grid":
        return []
    lines = ["SEARCH_SPACE = {"]
    for p in space.parameters:
        values = [_choice_literal(p, v) for v in p.values()]
        lines.append(f"    {p.path!r}: [{', '.join(values)}],")
    return lines + ["}", ""]


def generate_search(spec: Spec, style: str | None = None, source: str | None = None) -> str:
    """The standalone Keras + Optuna script of ``spec``'s search, as Python source text.

    Args:
        spec: A checked spec with a search section (``spec.search``).
        style: ``"list"`` or ``"add"``; None uses ``spec.style``.
        source: The spec file named in the header (default ``spec.file``).

    Returns:
        The script's text. ``python SCRIPT [DATA_DIR]`` runs the study and prints the best trial.

    Raises:
        UnwritableSearch: a searched key codegen does not write (see the module's docstring).
        ValueError: ``spec`` has no search section, or ``style`` is unknown.
    """
    space = spec.search
    if space is None:
        raise ValueError(f"{spec.file} has no search section")
    for parameter in space.parameters:
        _refused(parameter)
    style = style or spec.style
    if style not in codegen.STYLES:
        raise ValueError(f"style must be one of {codegen.STYLES}. Received: style={style!r}")
    source = source or spec.file
    names = variable_names(space)
    first = {p.path: p.corners()[0] for p in space.parameters}
    base = from_data(point_data(spec, first), spec.file)
    base = replace(base, search=space)
    coded = _with_variables(base, names)
    header = codegen.script_header(Path(source).stem, "the Keras + Optuna script of the search", source, style,
                                   "keras (TensorFlow), numpy, scikit-learn, optuna and optuna-integration",
                                   codegen.RUN_WITH_DATA,
                                   ["import gzip", "import os", "import sys", "", "import keras", "import numpy as np",
                                    "import optuna", "from optuna_integration import KerasPruningCallback",
                                    "from sklearn.model_selection import train_test_split"]) + ["", ""]
    body = [codegen._LOADER, ""] + codegen.threading_lines(base)
    body += codegen.data_lines(base) + [""] + _grid_lines(space) + optimizer_table(space)
    with _indented(len(INDENT)):
        inner = _objective_lines(space, names, base, coded, style)
    body += ["", "def objective(trial):"] + [INDENT + line if line else "" for line in inner] + ["", ""]
    seed = "" if base.seed is None else f"seed={base.seed}"
    sampler = SAMPLERS[space.sampler].format(seed=seed, seed_arg=f", {seed}" if seed else "")
    body += codegen._call("study = optuna.create_study", [f"direction={space.direction!r}", f"sampler={sampler}",
                                                           f"pruner={PRUNERS[space.pruner]}"])
    body += [f"study.optimize(objective, n_trials={space.n_trials})",
             "print(len(study.trials), 'trials; best value:', study.best_value)",
             "print('best params:', study.best_params)"]
    return "\n".join(header + body) + "\n"


INDENT = "    "


@contextlib.contextmanager
def _indented(width: int):
    """:mod:`codegen`'s calls wrapped ``width`` columns earlier (they go inside ``objective``)."""
    wide = codegen.MAX_LINE
    codegen.MAX_LINE = wide - width
    try:
        yield
    finally:
        codegen.MAX_LINE = wide


def _objective_lines(space: SearchSpace, names: dict, base: Spec, coded: Spec, style: str) -> list[str]:
    """The body of ``objective(trial)``: suggest, clear the session, build, compile, fit, return."""
    inner = []
    for parameter in space.parameters:
        inner += suggest_line(parameter, names[parameter.path])
    inner += ["keras.backend.clear_session()  # a fresh graph for each trial"]
    if base.seed is not None:
        inner.append(f"keras.utils.set_random_seed({base.seed})")
    inner += _optimizer_lines(space, names)
    inner += codegen.policy_lines(coded) + codegen.model_lines(coded, style)
    inner += codegen.schedule_lines(coded) + codegen.compile_lines(coded)
    inner += codegen.callback_lines(coded)
    pruning = f"KerasPruningCallback(trial, {space.objective!r})"
    fit_parts = ["train_scaled", "train_target", f"epochs={coded.epochs}", f"batch_size={coded.batch_size}",
                 "verbose=0", "validation_data=(val_scaled, val_target)",
                 f"callbacks=[{', '.join(codegen.callback_variables(coded) + [pruning])}]"]
    inner += codegen._call("history = model.fit", fit_parts)
    inner += [f"return history.history[{space.objective!r}][-1]"]
    return inner
