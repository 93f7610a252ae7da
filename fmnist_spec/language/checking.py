"""The checks of a plain spec (no ``search`` section), in order: schema, defaults, checks, warnings.

``parse -> schema problems -> defaults filled in -> check problems -> Spec``. The schema runs
first; its defaults are then filled in once (:func:`fmnist_spec.language.schema.with_defaults`),
and the cross-field checks, the warnings and :func:`fmnist_spec.language.spec.from_data` read
that filled-in data, since they rely on its types. :mod:`fmnist_spec.language.validation` adds
the ``search`` section's checks on top; :mod:`fmnist_spec.language.search_space` runs these on
each point of a search.
"""

from __future__ import annotations

from ..errors import ERROR, Problem, sort_problems
from ..source.yaml_source import Source
from . import callback_checks, checks, spec_warnings
from .checks import run_checks
from .schema import with_defaults
from .schema_errors import schema_problems
from .spec import Spec, from_data
from .spec_warnings import run_warnings


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


def spec_problems(source: Source, warnings: bool = True, parts=None) -> tuple[list[Problem], dict | None]:
    """(every problem, the data with defaults filled in, or None when the schema check failed).

    Args:
        source: The parsed (or composed) spec.
        warnings: Also run the warnings (False: errors only, as a search point's check needs).
        parts: The parts the schema checks (see :func:`~fmnist_spec.language.schema_errors.schema_problems`);
            None: the whole document.
    """
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__
        kind = {"NoneType": "null", "str": "a string", "list": "a list", "int": "a number",
                "float": "a number", "bool": "a boolean"}.get(kind, kind)
        return [source.problem((), f"the document is {kind}; a spec is a mapping of keys to values",
                               "start the file with 'spec_version: 1' and a 'layers:' list")], None
    problems = schema_problems(source, parts)
    if any(p.severity == ERROR for p in problems):
        return problems, None
    if source.data.get("extends") is not None:  # text never composed (parse_spec): no file to resolve it
        return problems + [source.problem(
            ("extends",), "extends names a base file, which only a spec read from a file can resolve",
            "use load_spec(path) or validate(path), or write the whole spec without extends", at_key=True)], None
    filled = with_defaults(source.data)
    build_only = "compile" not in source.data  # what is about training has nothing to check
    problems = problems + run_checks(source, filled, BUILD_CHECKS if build_only else checks.CHECKS)
    if warnings:
        problems += run_warnings(source, filled, BUILD_WARNINGS if build_only else spec_warnings.WARNINGS)
    return problems, filled


def plain_spec(source: Source, warnings: bool = True, parts=None) -> tuple[Spec | None, list[Problem], dict | None]:
    """(spec or None, every problem sorted by position, the filled-in data or None) of ``source``
    (``warnings`` and ``parts`` as :func:`spec_problems` takes them)."""
    problems, filled = spec_problems(source, warnings, parts)
    problems = sort_problems(problems)
    if any(p.severity == ERROR for p in problems):
        return None, problems, filled
    found = tuple(p for p in problems if p.severity != ERROR)
    return from_data(source.data, source.file, found, filled), problems, filled
