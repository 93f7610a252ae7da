"""Text -> checked spec: the front half of the pipeline, without TensorFlow.

``parse -> schema problems -> defaults filled in -> check problems -> Spec``
(:mod:`fmnist_spec.language.checking`), then the ``search`` section's checks
(:mod:`fmnist_spec.language.search_checks`) when the spec has one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import ERROR, Problem, Problems, SpecError, sort_problems
from ..source.compose import NamedClasses, compose, compose_text
from ..source.yaml_source import Source, parse_text
from . import registry
from .checking import plain_spec
from .schema import default_optimizer, schema
from .search_checks import search_problems
from .spec import Spec

NAMED_CLASSES = (NamedClasses(("compile", "optimizer"), registry.OPTIMIZER_CLASSES, default_optimizer()),)
"""Values a ``--set`` of one of their arguments turns from a name into a mapping."""


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


def check_source(source: Source) -> tuple[Spec | None, list[Problem]]:
    """(spec or None, every problem found, sorted by position).

    A spec with a ``search`` section gets its checks too
    (:mod:`fmnist_spec.language.search_checks`), and its space as ``spec.search``.
    """
    spec, problems, filled = plain_spec(source)
    if filled is None or "search" not in source.data:
        return spec, problems
    space, search = search_problems(source, filled, base_ok=spec is not None)
    problems = sort_problems(problems + search)
    if spec is None or any(p.severity == ERROR for p in problems):
        return None, problems
    return replace(spec, search=space), problems


def parse_spec(text: str, file: str = "<string>", overrides=()) -> Spec:
    """Check YAML text and return its :class:`Spec` (warnings in ``spec.warnings``).

    Args:
        text: The spec as YAML.
        file: The name problems are located at (``<string>``, ``<cell>``).
        overrides: ``KEY=VALUE`` strings applied to the text, as ``load_spec``'s.

    Raises:
        SpecError: with every error found (warnings do not raise).
    """
    if overrides:
        spec, problems = check_text(text, file, overrides)
        if spec is None:
            raise SpecError([p for p in problems if p.severity == ERROR])
        return spec
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


def check_text(text: str, file: str = "<string>", overrides=()) -> tuple[Spec | None, list[Problem]]:
    """(spec or None, every problem) of the spec ``text`` (a notebook cell) with ``overrides``;
    positions are in ``text``. Never raises :class:`SpecError` (see :func:`check_file`)."""
    try:
        source = compose_text(text, file, overrides, NAMED_CLASSES)
    except SpecError as exc:
        return None, exc.problems
    return check_source(source)


def validate(path: str | Path, overrides=()) -> Problems:
    """Every problem of the spec file at ``path`` with ``overrides`` (empty list: valid).

    Never raises :class:`SpecError`; see :func:`check_file`.

    Returns:
        A :class:`fmnist_spec.errors.Problems`: a list of :class:`Problem` that shows
        itself as a table in a notebook.
    """
    return Problems(check_file(path, overrides)[1])
