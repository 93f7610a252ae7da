"""Text -> checked spec: the front half of the pipeline, without TensorFlow.

``parse -> schema problems -> defaults filled in -> check problems -> Spec``.
The schema runs first; the schema's defaults are then filled in once
(:func:`fmnist_spec.language.schema.with_defaults`), and the cross-field checks,
the warnings and :func:`fmnist_spec.language.spec.from_data` read that filled-in
data, since they rely on its types.
"""

from __future__ import annotations

from pathlib import Path

from . import callback_checks, checks, spec_warnings
from .checks import run_checks
from ..errors import ERROR, Problem, SpecError, sort_problems
from . import registry
from .schema import default_optimizer, schema, with_defaults
from .schema_errors import schema_problems
from .spec import Spec, from_data
from ..source.compose import NamedClasses, compose
from .spec_warnings import run_warnings
from ..source.yaml_source import Source, parse_text


NAMED_CLASSES = (NamedClasses(("compile", "optimizer"), registry.OPTIMIZER_CLASSES, default_optimizer()),)
"""Values a ``--set`` of one of their arguments turns from a name into a mapping."""


TRAINING_CHECKS = (checks.check_output_is_ten_way, checks.check_loss_fits_labels,
                   checks.check_output_activation_fits_loss, checks.check_metrics_fit_labels,
                   *callback_checks.CHECKS)
"""Checks about training (the output a loss needs, metrics, callbacks): a build-only spec skips them."""
BUILD_CHECKS = tuple(check for check in checks.CHECKS if check not in TRAINING_CHECKS)
"""The checks of a build-only spec (no ``compile``): the model itself, the input and the data."""
BUILD_WARNINGS = tuple(rule for rule in spec_warnings.WARNINGS if rule not in (
    spec_warnings.warn_high_learning_rate, spec_warnings.warn_sigmoid_output,
    spec_warnings.warn_reduce_lr_never_reduces))
"""The warnings of a build-only spec: those that read no ``compile`` setting."""


def require_compile(spec: Spec, command: str) -> Spec:
    """``spec`` when it has a ``compile`` section; a build-only spec cannot be trained.

    Args:
        spec: A checked spec.
        command: What was asked (``train``, ``compare``, ``evaluate --weights``), for the message.

    Raises:
        SpecError: at the top of the spec's file, with a hint on what to add.
    """
    if spec.build_only:
        raise SpecError([Problem(
            spec.file, 1, 1, "", f"the spec has no compile section: it builds a model but has no loss to "
            f"{'train' if command == 'train' else command} it with",
            "add a compile section, e.g. 'compile: {optimizer: adam, loss: sparse_categorical_crossentropy, "
            "metrics: [accuracy]}' (without it, validate, build, render, codegen and inspect --filters take "
            "the spec)")])
    return spec


def compose_spec(path: str | Path, overrides=()) -> Source:
    """:func:`fmnist_spec.source.compose.compose` with the spec language's :data:`NAMED_CLASSES`
    and top-level keys (a base named by ``extends`` must have one of them to be read as a spec)."""
    return compose(path, overrides, NAMED_CLASSES, frozenset(schema()["properties"]))


def _problems(source: Source) -> tuple[list[Problem], dict | None]:
    """(every problem, the data with defaults filled in, or None when the schema check failed)."""
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__
        kind = {"NoneType": "null", "str": "a string", "list": "a list", "int": "a number",
                "float": "a number", "bool": "a boolean"}.get(kind, kind)
        return [source.problem((), f"the document is {kind}; a spec is a mapping of keys to values",
                               "start the file with 'spec_version: 1' and a 'layers:' list")], None
    problems = schema_problems(source)
    if any(p.severity == ERROR for p in problems):
        return problems, None
    if source.data.get("extends") is not None:  # text never composed (parse_spec): no file to resolve it
        return problems + [source.problem(
            ("extends",), "extends names a base file, which only a spec read from a file can resolve",
            "use load_spec(path) or validate(path), or write the whole spec without extends", at_key=True)], None
    filled = with_defaults(source.data)
    if "compile" not in source.data:  # build-only: what is about training has nothing to check
        return problems + run_checks(source, filled, BUILD_CHECKS) + run_warnings(
            source, filled, BUILD_WARNINGS), filled
    return problems + run_checks(source, filled) + run_warnings(source, filled), filled


def check_source(source: Source) -> tuple[Spec | None, list[Problem]]:
    """(spec or None, every problem found, sorted by position)."""
    problems, filled = _problems(source)
    problems = sort_problems(problems)
    if any(p.severity == ERROR for p in problems):
        return None, problems
    warnings = tuple(p for p in problems if p.severity != ERROR)
    return from_data(source.data, source.file, warnings, filled), problems


def parse_spec(text: str, file: str = "<string>") -> Spec:
    """Check YAML text and return its :class:`Spec` (warnings in ``spec.warnings``).

    Raises:
        SpecError: with every error found (warnings do not raise).
    """
    spec, problems = check_source(parse_text(text, file))
    if spec is None:
        raise SpecError([p for p in problems if p.severity == ERROR])
    return spec


def load_spec(path: str | Path, overrides=()) -> Spec:
    """Read, parse and check the spec file at ``path``.

    Args:
        path: The spec file; a spec with ``extends: base.yaml`` is merged over
            its base (see :mod:`fmnist_spec.source.compose`).
        overrides: ``KEY=VALUE`` strings (``fit.epochs=10``), applied after
            the files and checked as if they were written there.

    Returns:
        The checked :class:`Spec`; its ``warnings`` lists the warnings found.

    Raises:
        SpecError: the file is missing or unreadable, is not valid YAML, breaks
            the schema or a check; ``err.problems`` lists every error.
    """
    spec, problems = check_source(compose_spec(path, overrides))
    if spec is None:
        raise SpecError([p for p in problems if p.severity == ERROR])
    return spec


def check_file(path: str | Path, overrides=()) -> tuple[Spec | None, list[Problem]]:
    """(spec or None, every problem) of the spec file at ``path`` with ``overrides``.

    Never raises :class:`SpecError`; file, YAML, ``extends`` and ``--set``
    errors are returned as problems (and no spec).
    """
    try:
        source = compose_spec(path, overrides)
    except SpecError as exc:
        return None, exc.problems
    return check_source(source)


def validate(path: str | Path, overrides=()) -> list[Problem]:
    """Every problem of the spec file at ``path`` with ``overrides`` (empty list: valid).

    Never raises :class:`SpecError`; see :func:`check_file`.
    """
    return check_file(path, overrides)[1]
