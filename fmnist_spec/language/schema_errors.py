"""Schema errors as Problems: each jsonschema error of a spec turned into what is wrong, at
the right line and column, with a hint (a "did you mean", the key's description, a fix).

Validation is jsonschema's ``Draft202012Validator.iter_errors``
(:func:`fmnist_spec.language.schema.strict_validator`), so every error is found in one run.
"""

from __future__ import annotations

import difflib
import functools
import json
import re

from jsonschema.exceptions import ValidationError

from ..errors import Problem, spelled
from ..source.yaml_source import Source
from . import registry
from .schema import _validator, default_optimizer

# Keys people write from other tools or older Keras versions -> the key meant.
KEY_ALIASES = {
    "lr": "learning_rate",
    "learningrate": "learning_rate",
    "input_dim": "input_shape",
    "inputshape": "input_shape",
    "shape": "input_shape",
    "unit": "units",
    "neurons": "units",
    "activations": "activation",
    "layer": "layers",
    "epoch": "epochs",
    "batchsize": "batch_size",
    "metric": "metrics",
    "optimiser": "optimizer",
    "dropout": "rate",
    "bias": "use_bias",
    "kernel_init": "kernel_initializer",
    "beta1": "beta_1",
    "beta2": "beta_2",
    "class_name": "type",
    "validation_split": "validation",
    "distribution": "distribute",
    "distribute_strategy": "strategy",
    "timeout": "timeout_seconds",
    "per_replica_batch": "per_replica_batch_size",
}

_NOUNS = {
    "activation": "activation",
    "kernel_initializer": "initializer",
    "type": "type",
    "optimizer": "optimizer",
    "loss": "loss",
    "metrics": "metric",
    "style": "style",
    "verbose": "verbose setting",
    "strategy": "strategy",
    "padding": "padding",
    "monitor": "monitored quantity",
    "mode": "mode",
}

_OPTIMIZER_ARGUMENTS = set().union(*(entry.arguments for entry in registry.OPTIMIZERS.values())) | {"lr", "decay"}
"""Keys of an optimizer's own mapping that people write next to ``optimizer:`` in compile
(every registry optimizer argument, and the old Keras spellings ``lr`` and ``decay``)."""

_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"}


def did_you_mean(word: str, choices) -> str:
    """``"did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    if not isinstance(word, str):
        return ""
    alias = KEY_ALIASES.get(word.lower().replace("-", "_"))
    if alias in choices:
        return f"did you mean '{alias}'?"
    lowered = {c.lower(): c for c in choices if isinstance(c, str)}
    if word.lower() in lowered:
        return f"did you mean '{lowered[word.lower()]}'? (names are case-sensitive)"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean '{lowered[close[0]]}'?" if close else ""


def _list(choices, limit: int = 12) -> str:
    shown = ", ".join(str(c) for c in list(choices)[:limit])
    return shown + (", ..." if len(choices) > limit else "")


def _noun(path) -> str:
    if path and path[-1] == "type":
        if "layers" in path:
            return "layer type"
        if "callbacks" in path:
            return "callback type"
        owner = [p for p in path[:-1] if isinstance(p, str)]
        return f"{owner[-1]} type" if owner else "type"
    for part in reversed(path):
        if isinstance(part, str):
            return _NOUNS.get(part, "value")
    return "value"


def _type_hint(error: ValidationError) -> str:
    """Explain YAML's rules when a string stands where a number or boolean belongs."""
    value, expected = error.instance, error.validator_value
    expected = expected if isinstance(expected, list) else [expected]
    path = tuple(error.absolute_path)
    if value is None and len(path) >= 2 and path[-2] == "input_shape":
        return ("input_shape leaves out the batch axis (Keras adds None for it): "
                "write [784] or [28, 28]")
    if "array" in expected and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"write a list: [{value}]"
    if not isinstance(value, str):
        if isinstance(value, bool) and ("integer" in expected or "number" in expected):
            return "true/false is a boolean in YAML; write a number"
        if isinstance(value, float) and "integer" in expected and value.is_integer():
            return f"write {int(value)} without the decimal point"
        return ""
    if "boolean" in expected and value in _YAML11_BOOLS:
        return (f"YAML 1.2 (which specs use) reads '{value}' as text, not a boolean; "
                "write true or false")
    if value in ("None", "none", "Null", "NULL"):
        return "YAML reads None as the text 'None'; write null (YAML's empty value) for no value"
    if ("number" in expected or "integer" in expected) and re.fullmatch(
            r"[-+]?[0-9.]+[eE][-+]?[0-9]+", value.strip()):
        return (f"write {value.strip()} without quotes: fmnist-spec reads YAML 1.2, where an unquoted "
                f"{value.strip()} is a number (PyYAML's YAML 1.1 would need 1.0e-3 style)")
    if "number" in expected or "integer" in expected:
        try:
            float(value.replace("_", ""))
        except ValueError:
            return "write a plain number without quotes"
        return "write the number without quotes (or separators) so YAML reads it as a number"
    return ""


def message_of(error: ValidationError) -> str:
    """jsonschema's message with the received value as YAML spells it and shortened (jsonschema
    writes Python's ``repr``: ``None is not of type 'string'``)."""
    full = repr(error.instance)
    if error.message.startswith(full):
        return spelled(error.instance) + error.message[len(full):]
    return error.message.replace(full, spelled(error.instance)) if len(full) > 60 else error.message


_FIT_VALIDATION_DATA = (
    "fmnist-spec already validates on data.validation, the test_size share of the training images "
    "(0.2: 12,000 of 60,000) split off with train_test_split, after every epoch (fit.validation_freq: 1); "
    "remove validation_data, and change data.validation or fit.validation_freq to change that")


def _unknown_keys(source: Source, path, instance: dict, extras, allowed) -> list[Problem]:
    owner = instance.get("type") if isinstance(instance.get("type"), str) else None
    where = f" for {owner}" if owner else ""
    if path == ("fit",) and "validation_data" in extras:
        extras = [k for k in extras if k != "validation_data"]
        return [source.problem(path + ("validation_data",),
                               "fit.validation_data is not a spec key: the validation data are the spec's "
                               "own split, not an argument", _FIT_VALIDATION_DATA, at_key=True)] + \
            _unknown_keys(source, path, instance, extras, allowed)
    return [source.problem(
        path + (key,),
        f"unknown key '{key}'{where}; expected one of: {_list(allowed)}",
        did_you_mean(key, allowed) or "remove it; keys are spelt as Keras spells its arguments",
        at_key=True) for key in extras]


def _misplaced_optimizer_argument(source: Source, compile_: dict, key: str) -> Problem:
    """``learning_rate: 0.1`` written next to ``optimizer: sgd`` instead of inside it."""
    given = compile_.get("optimizer", default_optimizer())
    name = given if isinstance(given, str) else given.get("type") if isinstance(given, dict) else None
    kind = registry.OPTIMIZER_CLASSES.get(str(name).lower(), name if isinstance(name, str) else "SGD")
    right = "learning_rate" if key == "lr" else key
    value = compile_[key]
    shown = str(value).lower() if isinstance(value, bool) else value
    return source.problem(
        ("compile", key),
        f"'{key}' is an argument of the optimizer, not of compile: next to 'optimizer: {name}' "
        f"it would configure nothing and {kind} would run with its default {right}",
        f"move it inside the optimizer: optimizer: {{type: {kind}, {right}: {shown}}}", at_key=True)


def _from_error(source: Source, error: ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        if path == ("compile",):
            misplaced = [k for k in extras if k in _OPTIMIZER_ARGUMENTS]
            problems = [_misplaced_optimizer_argument(source, error.instance, key) for key in misplaced]
            extras = [k for k in extras if k not in misplaced]
            if not extras:
                return problems
            return problems + _unknown_keys(source, path, error.instance, extras, allowed)
        return _unknown_keys(source, path, error.instance, extras, allowed)
    if kind in ("anyOf", "oneOf"):
        enum_errors = [e for e in error.context if e.validator in ("enum", "const")]
        numbers = [e.validator_value for e in error.context
                   if e.validator == "type" and e.validator_value in ("integer", "number")]
        own = [e for e in enum_errors if not e.relative_path]  # not a nested key's enum
        if own and numbers and not isinstance(error.instance, str):
            # {anyOf: [{type: integer, minimum: 0}, {const: auto}]}: a number out of range says so;
            # anything else (1.5, true, null, {}) is neither alternative
            ranged = [e for e in error.context if e.validator not in ("type", "enum", "const")]
            if ranged:
                return _from_error(source, ranged[0])
            words = " or ".join(repr(v) for e in own
                                for v in (e.validator_value if e.validator == "enum" else [e.validator_value]))
            shown = {True: "true", False: "false", None: "null"}.get(error.instance, None) \
                if isinstance(error.instance, (bool, type(None))) else spelled(error.instance)
            return [source.problem(path, f"{shown} is not allowed here; expected {words} "
                                   f"or an {numbers[0]}", _described(own[0]))]
        if enum_errors and isinstance(error.instance, str):
            found = _from_error(source, enum_errors[0])
            if numbers:  # {anyOf: [{type: integer, ...}, {const: auto}]}: say both
                found = [source.problem(path, f"{found[0].message} or an {numbers[0]}", found[0].hint)]
            if error.instance in ("None", "none", "Null", "NULL") and any(
                    e.validator == "type" and e.validator_value == "null" for e in error.context):
                found = [source.problem(path, found[0].message.split(";")[0] + "; YAML reads None as the "
                                        "text 'None'", "write null (YAML's empty value) for no value")]
            return found
        types = [e for e in error.context if e.validator == "type"]
        if types and len(types) == len(error.context):
            expected = " or ".join(str(e.validator_value) for e in types)
            msg = f"{spelled(error.instance)} is not of type {expected}"
            return [source.problem(path, msg, _type_hint(types[0]))]
        ranged = [e for e in error.context if e.validator != "type"]
        if ranged:
            return _from_error(source, ranged[0])
    if kind == "enum":
        choices = error.validator_value
        noun = _noun(path)
        shown = [json.dumps(c) if isinstance(c, bool) else c for c in choices]
        hint = did_you_mean(error.instance, choices)
        if isinstance(error.instance, list) and len(error.instance) == 1 and error.instance[0] in choices:
            hint = f"write it without the brackets: {path[-1]}: {error.instance[0]}"
        elif not hint and len(_described(error)) <= 160:
            hint = _described(error)
        if any(isinstance(c, bool) for c in choices) and error.instance in _YAML11_BOOLS:
            hint = (f"YAML 1.2 (which specs use) reads '{error.instance}' as text, not a boolean; "
                    "write true or false")
        return [source.problem(
            path, f"{spelled(error.instance)} is not a known {noun}; expected one of: {_list(shown)}", hint)]
    if kind == "const":
        return [source.problem(path, f"{spelled(error.instance)} is not allowed here; "
                               f"expected {error.validator_value!r}",
                               did_you_mean(error.instance, [error.validator_value]))]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [source.problem(path, f"missing required key '{missing}'",
                               f"add '{missing}:' to this mapping")]
    if kind == "type":
        return [source.problem(path, message_of(error), _type_hint(error))]
    if kind == "pattern" and path == ("name",):
        return [source.problem(path, "the model's name holds the NUL character (\\0), which Keras "
                               "cannot save in a .keras file", "remove the \\0 from the name")]
    if kind == "pattern" and path and path[-1] == "name":
        return [source.problem(
            path, f"{spelled(error.instance)} is not a valid layer name",
            "use letters A-Z/a-z, digits, '_', '.' or '-' (no spaces or non-ASCII letters): "
            "TensorFlow rejects other characters when it trains the model")]
    if path == ("data", "validation", "test_size") and kind in ("exclusiveMaximum", "maximum") \
            and isinstance(error.instance, (int, float)) and error.instance >= 1:
        n = error.instance
        percent = f"{n / 100:g}" if n < 100 else "0.2"
        return [source.problem(
            path, f"test_size {n!r} is not a fraction: scikit-learn's train_test_split reads a whole "
            f"number as a count of samples ({n:,} images for validation, not {n} %)",
            f"write a fraction between 0 and 1: test_size: {percent} "
            f"(0.2 holds out 12,000 of the 60,000 images: 48,000 / 12,000)")]
    if kind == "maxItems" and path == ("layers",):
        return [source.problem(path, f"{len(error.instance):,} layers is more than the limit of "
                               f"{error.validator_value:,}", "split the model or remove layers")]
    return [source.problem(path, message_of(error), _described(error))]


def _described(error: ValidationError) -> str:
    """The first sentence of the failing key's schema description, as a hint."""
    text = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
    if not text and error.parent is not None and isinstance(error.parent.schema, dict):
        text = error.parent.schema.get("description", "")
    return text.split(". ")[0].rstrip(".") if text else ""


def _errors_under(data, prefix: tuple) -> tuple:
    """The schema errors of the value at ``prefix`` (a top-level key, or an item of a top-level
    list: ``("layers", 2)``) against its part of the schema, their paths from the document's root."""
    value = data[prefix[0]] if len(prefix) == 1 else data[prefix[0]][prefix[1]]
    return _part_errors(prefix, json.dumps(value, sort_keys=True))


@functools.lru_cache(maxsize=512)
def _part_errors(prefix: tuple, text: str) -> tuple:
    """:func:`_errors_under` of the value whose JSON is ``text`` (the points of a search share
    most of their parts' values, so each is checked once)."""
    node = _validator().schema["properties"][prefix[0]]
    if len(prefix) > 1:
        node = node["items"]
    errors = list(_validator().descend(json.loads(text), node))
    for error in errors:
        error.path.extendleft(reversed(prefix))
    return tuple(errors)


def schema_problems(source: Source, parts=None) -> list[Problem]:
    """Every schema error of ``source.data`` as a Problem (empty when valid).

    Args:
        source: The parsed spec.
        parts: Only check these parts, each a top-level key or an item of a top-level list
            (``("layers", 2)``): a search point differs from its checked base only there
            (a whole document takes about 10 ms, one layer a fraction of it). None: the whole.
    """
    problems: list[Problem] = []
    errors = (_validator().iter_errors(source.data) if parts is None else
              (e for prefix in parts for e in _errors_under(source.data, prefix)))
    for error in errors:
        problems.extend(_from_error(source, error))
    unique = {(p.line, p.column, p.path, p.message): p for p in problems}
    return list(unique.values())
