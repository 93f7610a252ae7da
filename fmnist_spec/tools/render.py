"""The fully resolved spec, every value marked with where it came from.

``fmnist-spec render SPEC [--set KEY=VALUE ...]`` prints :meth:`Spec.resolved`
(every default filled in) as YAML, one value per line, each followed by a
comment naming its origin:

* ``file specs/x.yaml:7:12``: written in the spec file,
* ``extends specs/base.yaml:4:5``: taken from a base spec,
* ``--set fit.epochs=10``: from a command-line override,
* ``default``: not written anywhere; the schema's default applies.

The ``dtype_policy`` line also says what ``auto`` gives on this machine's CPU
(:func:`fmnist_spec.to_keras.precision.resolve_dtype_policy`) and on a GPU.
Without the comments the text is a valid spec equal to the resolved one.
No TensorFlow is imported (so no GPU is looked for).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..source.compose import DEFAULT, FILE, ComposedSource, Origin
from ..errors import ERROR, SpecError
from ..language.spec import Spec
from ..language.validation import check_source, compose_spec
from ..source.yaml_source import Source
from ..to_keras.precision import resolve_dtype_policy

COMMENT_COLUMN = 44
"""Column (0-based) where provenance comments start when the value is shorter."""


def origin_of(source: Source, path: tuple) -> Origin | None:
    """Where the value at ``path`` was written, or None when it was not (a default)."""
    if isinstance(source, ComposedSource):
        return source.origins.get(path)
    if path in source.positions:
        line, column = source.positions[path]
        return Origin(FILE, source.file, line, column)
    return None


def provenance(source: Source, path: tuple) -> str:
    """``file x.yaml:7:12``, ``extends base.yaml:4:5``, ``--set fit.epochs=10`` or ``default``."""
    origin = origin_of(source, path)
    return origin.describe() if origin is not None else DEFAULT


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False,
                          width=10_000).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def _is_leaf(value) -> bool:
    return not isinstance(value, (dict, list)) or (
        isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value))


def _lines(value, path: tuple, indent: str, source: Source, first_prefix: str | None = None) -> list:
    """(text, comment) pairs for ``value`` at ``path``; ``first_prefix`` replaces the first line's indent."""
    out = []
    if isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            lead = first_prefix if (i == 0 and first_prefix is not None) else indent
            if _is_leaf(item) or (isinstance(item, dict) and not item):
                out.append((f"{lead}{key}: {_flow(item)}", provenance(source, path + (key,))))
            else:
                out.append((f"{lead}{key}:", provenance(source, path + (key,))))
                out += _lines(item, path + (key,), indent + "  ", source)
    else:
        for i, item in enumerate(value):
            if isinstance(item, dict) and item:
                out += _lines(item, path + (i,), indent + "  ", source, first_prefix=indent + "- ")
            else:
                out.append((f"{indent}- {_flow(item)}", provenance(source, path + (i,))))
    return out


def policy_note(spec: Spec) -> str:
    """What ``dtype_policy: auto`` resolves to here, found without TensorFlow: on this machine's
    CPU, and (for a Conv2D model) on a GPU; ``""`` for a policy written out."""
    if spec.dtype_policy != "auto":
        return ""
    here = resolve_dtype_policy(spec, gpus=[])
    note = f"auto gives {here.policy} on this machine's CPU ({here.why})"
    if spec.convolutional:
        note += "; on an NVIDIA GPU of compute capability >= 7.0: mixed_float16"
    return note


def thread_notes(spec: Spec) -> dict:
    """What each ``threading`` key written ``auto`` resolves to (:meth:`Spec.thread_counts`),
    by the line's text start: ``{"  intra_op_parallelism_threads:": "auto gives 0 ..."}``."""
    counts = dict(zip(("intra_op_parallelism_threads", "inter_op_parallelism_threads"), spec.thread_counts()))
    why = "a model with Conv2D" if spec.convolutional else "a model without Conv2D"
    return {f"  {key}:": f"auto gives {n}{' (TensorFlow chooses)' if n == 0 else ''} for {why}"
            for key, n in counts.items() if getattr(spec, key) == "auto"}


def search_notes(spec: Spec, source: Source) -> dict:
    """What the ``search`` section's lines resolve to: each parameter's kind and size, the
    direction and trial budget a spec left out, the grid's size."""
    space = spec.search
    if space is None:
        return {}
    written = source.data.get("search", {})
    grid = space.grid_size()
    notes = {"search:": f"{space.sampler} search of {space.n_trials} trials"
             + (f" over a grid of {grid:,} points" if grid is not None else "")
             + "; train trains the base spec (fmnist-spec search runs the study)"}
    if "direction" not in written:
        notes["  direction:"] = f"follows the objective {space.objective}"
    if "n_trials" not in written:
        notes["  n_trials:"] = "the grid's size" if space.sampler == "grid" else "the default for " + space.sampler
    for parameter in space.parameters:
        notes[f"    {parameter.path}:"] = space.describe(parameter)
    return notes


def render_resolved(spec: Spec, source: Source) -> str:
    """The resolved spec as YAML with a provenance comment on every line (the ``search``
    section, if any, last, with its kinds and sizes)."""
    resolved = spec.resolved()
    if spec.search is not None:
        resolved["search"] = spec.search.section()
    pairs = _lines(resolved, (), "", source)
    notes = {"dtype_policy:": policy_note(spec), **thread_notes(spec), **search_notes(spec, source)}
    pairs = [(text, next((f"{comment} | {note}" for start, note in notes.items()
                          if note and text.startswith(start)), comment))
             for text, comment in pairs]
    width = max(COMMENT_COLUMN, max(len(text) for text, _ in pairs) + 2)
    body = "\n".join(f"{text.ljust(width)}# {comment}" for text, comment in pairs)
    header = (f"# {spec.file}, resolved: every value with where it came from "
              "(file, extends, --set or default)\n")
    return header + body + "\n"


def render(path: str | Path, overrides=()) -> str:
    """Compose, check and render the spec at ``path`` with ``overrides``.

    Raises:
        SpecError: the spec (with its bases and overrides) is invalid.
    """
    source = compose_spec(path, overrides)
    spec, problems = check_source(source)
    if spec is None:
        raise SpecError([p for p in problems if p.severity == ERROR])
    return render_resolved(spec, source)
