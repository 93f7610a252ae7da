"""Composing a spec from layers: ``extends`` bases, the file, ``--set`` overrides.

The result is one document whose every value remembers where it came from
(:class:`Origin`): a base file named by ``extends``, the spec file itself, or
a ``--set KEY=VALUE`` argument. Schema and check problems are then located at
that origin, so an error in a value from ``--set fit.epochs=0`` reads
``--set fit.epochs=0:1:12: fit.epochs: 0 is less than the minimum of 1`` and
one from a base file points at the base file's line.

Rules:

* ``extends: base.yaml`` (a path relative to the spec's directory; bases may
  extend further, up to :data:`MAX_EXTENDS` deep, without cycles). A base is
  read only when it is a ``.yaml``/``.yml`` file (as named and as resolved), and
  its problems are reported only when it is a spec: a YAML mapping with at least
  one spec key at its top level. Any other file (``extends: /etc/shadow``, a
  YAML file of another tool) is "not a spec", and nothing of its text is quoted.
  Mappings
  are merged key by key, recursively; anything else (lists such as
  ``layers`` or ``metrics``, scalars) is replaced whole by the extending file.
* ``--set KEY=VALUE``, applied in order after the files. KEY is a dotted path
  with list indices, ``compile.optimizer.learning_rate`` or
  ``layers[0].activation``; VALUE is read as YAML 1.2 (``0.01``, ``relu``,
  ``[28, 28]``, ``{type: SGD, momentum: 0.9}``). Missing mappings on the way
  are created. Setting an argument of a value given by name turns it into the
  mapping of its class (``optimizer: adam`` becomes ``{type: Adam, ...}``).

Which values are given by name, and their classes, is the spec language's
vocabulary (:mod:`fmnist_spec.language.registry`); ``source/`` does not import
``language/``, so the caller passes it as :class:`NamedClasses` (see
:func:`fmnist_spec.language.validation.compose_spec`). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, SpecError
from ..input_files import not_a_regular_file
from .limits import MAX_BYTES
from .yaml_source import Source, format_path, nearest, parse_text, read_source

MAX_EXTENDS = 10
"""Longest chain of ``extends`` followed."""

FILE, EXTENDS, SET, DEFAULT = "file", "extends", "--set", "default"
"""The kinds of origin, as ``render`` names them."""

BASE_SUFFIXES = (".yaml", ".yml")
"""The file name endings a base named by ``extends`` must have."""

SPEC_MARKERS = frozenset({"spec_version", "extends"})
"""Top-level keys that make a mapping a spec when the caller names no spec keys."""

_KEY_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


@dataclass(frozen=True)
class NamedClasses:
    """A value written either as a name string or as its class's mapping.

    Attributes:
        path: Where the value is, e.g. ``("compile", "optimizer")``.
        classes: Name (lower case) -> class name, e.g. ``{"adam": "Adam"}``.
        default: The name meant when the key is left out (``"rmsprop"``), or None.
    """

    path: tuple
    classes: Mapping
    default: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where a value came from: ``kind`` (file, extends, --set), the file
    name used in messages (``specs/base.yaml`` or ``--set fit.epochs=0``) and
    the 1-based position there."""

    kind: str
    file: str
    line: int | None
    column: int | None

    def describe(self) -> str:
        """``file specs/x.yaml:7:3``, ``extends specs/base.yaml:4:5``, ``--set fit.epochs=10``."""
        if self.kind == SET:
            return self.file
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return f"{self.kind} {where}"


class ComposedSource(Source):
    """A :class:`Source` whose values come from several places.

    ``origins`` maps each JSON path to the :class:`Origin` of its value node,
    ``key_origins`` to that of its key; :meth:`problem` locates problems
    through them (a path without its own entry takes its nearest ancestor's).
    """

    def __init__(self, file: str, data, origins: dict, key_origins: dict):
        super().__init__(file, data)
        self.origins = origins
        self.key_origins = key_origins

    def origin(self, path, at_key: bool = False) -> Origin:
        """The origin of ``path``, or of its nearest ancestor that has one."""
        return nearest(path, self.origins, self.key_origins if at_key else None, Origin(FILE, self.file, 1, 1))

    def problem(self, path, message: str, hint: str = "", severity: str = "error",
                at_key: bool = False) -> Problem:
        """A Problem located where the value at ``path`` was written."""
        where = self.origin(path, at_key)
        return Problem(where.file, where.line, where.column, format_path(tuple(path)), message, hint,
                       severity)


def _index_hint(items: int) -> str:
    """How to index a list of ``items`` items ("use an index from 0 to -1" said nothing of an empty one)."""
    return f"use an index from 0 to {items - 1}" if items else "the list is empty: add its first item in the spec"


def _origins_of(source: Source, kind: str, prefix=(), shift: int = 0) -> tuple[dict, dict]:
    """(value origins, key origins) of a parsed document, under ``prefix``, columns on line 1 shifted."""
    def at(line, column):
        return Origin(kind, source.file, line, column + shift if line == 1 else column)

    values = {prefix + path: at(*pos) for path, pos in source.positions.items()}
    keys = {prefix + path: at(*pos) for path, pos in source.key_positions.items()}
    return values, keys


def _drop_under(origins: dict, path) -> None:
    for key in [k for k in origins if k[:len(path)] == tuple(path)]:
        del origins[key]


def _merge(base, top, path, origins: dict, key_origins: dict, top_origins, top_keys) -> object:
    """Deep-merge ``top`` over ``base`` (mappings recursively, the rest replaced); update origins."""
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for key, value in top.items():
            out[key] = _merge(base.get(key), value, path + (key,), origins, key_origins, top_origins, top_keys)
        if path in top_origins:
            origins[path] = top_origins[path]
        if path in top_keys:
            key_origins[path] = top_keys[path]
        return out
    _drop_under(origins, path)
    _drop_under(key_origins, path)
    origins.update({k: v for k, v in top_origins.items() if k[:len(path)] == path})
    key_origins.update({k: v for k, v in top_keys.items() if k[:len(path)] == path})
    return copy.deepcopy(top)


def _problem_at(source: Source, path, message: str, hint: str = "") -> SpecError:
    return SpecError([source.problem(path, message, hint)])


def _not_a_spec(source: Source, base_name: str, why: str) -> SpecError:
    """The error for a base that is not a spec: located at ``extends``, quoting nothing of the base."""
    return _problem_at(source, ("extends",), f"the base spec {base_name!r} is not a spec ({why})",
                       "extends takes a spec: a .yaml file with spec keys (spec_version, layers, "
                       "compile, ...) at its top level, relative to this spec's folder")


def _spec_key_lines(text: str, spec_keys) -> bool:
    """True when a line of ``text`` starts with a spec key and a colon (``layers:``), as a spec's
    top-level keys do: the sign that a base that does not parse is a spec worth reporting on."""
    return any(re.match(rf"[\"']?{re.escape(key)}[\"']?\s*:", line) for line in text.splitlines()
               for key in spec_keys)


def _read_base(source: Source, base_name: str, base_path: Path, spec_keys) -> Source:
    """The parsed base at ``base_path``, or "not a spec" (nothing of it quoted) when it is not a
    ``.yaml`` file or a YAML mapping with a spec key at its top level."""
    if (base_path.suffix.lower() not in BASE_SUFFIXES
            or base_path.resolve().suffix.lower() not in BASE_SUFFIXES):
        raise _not_a_spec(source, base_name, "not a .yaml or .yml file; it was not read")
    try:
        base = read_source(base_path)
    except SpecError as exc:
        text = ""
        try:
            with open(base_path, "rb") as fh:
                text = fh.read(MAX_BYTES).decode("utf-8", "replace")
        except OSError:
            pass
        if any(p.line is None for p in exc.problems) or _spec_key_lines(text, spec_keys):
            raise  # a whole-file problem (unreadable, too large), or a spec with an error
        raise _not_a_spec(source, base_name, "not readable as a YAML mapping") from None
    if not isinstance(base.data, dict):
        raise _not_a_spec(source, base_name, "not a YAML mapping")
    if not set(base.data) & set(spec_keys):
        raise _not_a_spec(source, base_name, "no spec key at its top level")
    return base


def _with_bases(path: Path, chain: tuple, spec_keys=SPEC_MARKERS,
                source: Source | None = None) -> tuple[object, dict, dict]:
    """(data, origins, key_origins) of the file at ``path`` merged over its ``extends`` chain."""
    source = source or read_source(path)
    kind = FILE if not chain else EXTENDS
    origins, key_origins = _origins_of(source, kind)
    data = source.data
    if not isinstance(data, dict) or "extends" not in data:
        return data, origins, key_origins
    base_name = data["extends"]
    if base_name is None:  # extends: null, the default: no base
        return {k: v for k, v in data.items() if k != "extends"}, origins, key_origins
    if not isinstance(base_name, str) or not base_name.strip():
        raise _problem_at(source, ("extends",), f"extends must be a file name, not {base_name!r}",
                          "write extends: base.yaml (a path relative to this spec)")
    base_path = (path.parent / base_name)
    if base_path.resolve() in chain + (path.resolve(),):
        raise _problem_at(source, ("extends",), f"extends {base_name!r} makes a cycle: "
                          + " -> ".join(str(p.name) for p in chain + (path.resolve(), base_path.resolve())),
                          "a spec cannot extend itself, directly or through its bases")
    if len(chain) >= MAX_EXTENDS:
        raise _problem_at(source, ("extends",), f"more than {MAX_EXTENDS} levels of extends",
                          "extend a complete spec instead of a long chain")
    problem = not_a_regular_file(base_path)
    if problem:
        what = "does not exist" if problem == "no such file" else f"is {problem}"
        raise _problem_at(source, ("extends",), f"the base spec {base_name!r} {what} "
                          f"(looked for {base_path})", "extends takes the path of a .yaml file, "
                          "relative to this spec's folder")
    base_source = _read_base(source, base_name, base_path, spec_keys)
    base, base_origins, base_keys = _with_bases(base_path, chain + (path.resolve(),), spec_keys, base_source)
    for origin_map in (base_origins, base_keys):
        for key, origin in origin_map.items():
            origin_map[key] = Origin(EXTENDS, origin.file, origin.line, origin.column)
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge(base, own, (), base_origins, base_keys, origins, key_origins)
    for origin_map in (base_origins, base_keys):
        _drop_under(origin_map, ("extends",))
    return merged, base_origins, base_keys


# --- --set KEY=VALUE


def parse_key(key: str, label: str) -> tuple:
    """``layers[0].activation`` -> ``('layers', 0, 'activation')``.

    Raises:
        SpecError: at ``label`` (the ``--set`` argument) when KEY is malformed.
    """
    path: list = []
    column = 1
    for part in key.split("."):
        match = _KEY_PART.fullmatch(part)
        if not match:
            raise SpecError([Problem(label, 1, column, "", f"{part!r} is not a key of a dotted path",
                                     "write KEY=VALUE with KEY such as fit.epochs, "
                                     "compile.optimizer.learning_rate or layers[0].activation")])
        path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
        column += len(part) + 1
    return tuple(path)


def _container_at(data: dict, path: tuple, label: str, origins: dict, here: Origin, named=()):
    """The mapping or list that holds ``path[-1]``, creating missing mappings on the way."""
    node = data
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        where = format_path(path[:depth + 1])
        if isinstance(node, dict):
            if not isinstance(part, str):
                raise SpecError([Problem(label, 1, 1, where, "is a mapping; use .key, not [index]")])
            if node.get(part) is None:
                node[part] = {} if isinstance(nxt, str) else []
                origins[path[:depth + 1]] = here
            node = _as_mapping(node, part, path[:depth + 1], nxt, label, origins, named)
        elif isinstance(node, list):
            if not isinstance(part, int):
                raise SpecError([Problem(label, 1, 1, where, "is a list; use [index], not .key")])
            if part >= len(node):
                raise SpecError([Problem(label, 1, 1, where, f"index {part} is out of range: "
                                         f"{format_path(path[:depth])} has {len(node)} items",
                                         _index_hint(len(node)))])
            node = node[part]
        else:
            raise SpecError([Problem(label, 1, 1, format_path(path[:depth]),
                                     f"is {node!r}, which has no keys or items to set")])
    return node


def _as_mapping(node: dict, part: str, path: tuple, nxt, label: str, origins: dict, named=()):
    """A name string at a :class:`NamedClasses` path becomes ``{type: Class}`` when an
    argument of it is set (``optimizer: adam`` -> ``{type: Adam}``)."""
    value = node[part]
    entry = next((e for e in named if e.path == path), None)
    if entry is not None and isinstance(value, str) and isinstance(nxt, str):
        noun = path[-1]
        if value.lower() not in entry.classes:
            raise SpecError([Problem(label, 1, 1, format_path(path),
                                     f"the {noun} {value!r} is not known, so its {nxt} cannot be set",
                                     "use one of: " + ", ".join(entry.classes))])
        node[part] = {"type": entry.classes[value.lower()]}
        if path in origins:  # the class comes from the name written there
            origins[path + ("type",)] = origins[path]
    return node[part]


def _fill_named_default(data: dict, path: tuple, named) -> None:
    """Write a :class:`NamedClasses` default (``optimizer: rmsprop``) that an override of one
    of its arguments needs, when the value's parent mapping exists but the value was left out."""
    for entry in named:
        size = len(entry.path)
        if entry.default is None or len(path) <= size or path[:size] != entry.path:
            continue
        parent = data
        for part in entry.path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and entry.path[-1] not in parent:
            parent[entry.path[-1]] = entry.default  # the default, made explicit to take arguments


@dataclass(frozen=True)
class Override:
    """A ``KEY=VALUE`` that came from a command-line flag rather than ``--set``.

    ``label`` is the flag as the user wrote it (``--epochs 0``), the file name
    that problems with the value are located at; ``column`` is the 1-based
    column of VALUE in it. With ``pinned`` every part of the value is located
    at that column (VALUE was rewritten from the flag's text, e.g. ``--workers
    a:1,b:2`` as a list, so positions inside it would not match the flag).
    """

    key: str
    value: str
    label: str
    column: int
    pinned: bool = False


def _split(argument) -> tuple[str, str, str, int, bool]:
    """(KEY, VALUE, label, 1-based column of VALUE in the label's text, pinned) of an override."""
    if isinstance(argument, Override):
        return argument.key, argument.value, argument.label, argument.column, argument.pinned
    label = f"--set {argument}"
    if "=" not in argument:
        raise SpecError([Problem(label, None, None, "", "expected KEY=VALUE",
                                 "for example --set fit.epochs=10 or --set layers[0].activation=relu")])
    key, text = argument.split("=", 1)
    return key, text, label, len(key) + 2, False


def apply_override(data: dict, argument, origins: dict, key_origins: dict, named=()) -> dict:
    """Apply one ``KEY=VALUE`` (a string, or an :class:`Override` from a flag) to ``data``
    (a copy is returned) and record its origins.

    ``named`` lists the :class:`NamedClasses` values an override may open into a mapping.
    """
    key, text, label, column, pinned = _split(argument)
    path = parse_key(key, label)
    if path[0] == "extends":
        raise SpecError([Problem(label, 1, 1, "extends", "extends cannot be set with --set; the bases are "
                                 "read before the overrides", "write extends: in the spec file")])
    if not text.strip():
        raise SpecError([Problem(label, 1, column, format_path(path), "no value after '='",
                                 "write the value as in YAML: 10, relu, [28, 28], null")])
    try:
        value_source = parse_text(text, label)
    except SpecError as exc:  # positions inside VALUE -> positions inside KEY=VALUE
        raise SpecError([Problem(p.file, p.line, p.column + column - 1 if p.line == 1 else p.column,
                                 format_path(path), p.message, p.hint) for p in exc.problems]) from None
    here = Origin(SET, label, 1, column)
    data = copy.deepcopy(data)
    _fill_named_default(data, path, named)
    container = _container_at(data, path, label, origins, here, named)
    last = path[-1]
    if isinstance(container, list):
        if not isinstance(last, int) or last >= len(container):
            raise SpecError([Problem(label, 1, 1, format_path(path),
                                     f"{format_path(path[:-1])} has {len(container)} items",
                                     _index_hint(len(container)))])
    elif not isinstance(container, dict):
        raise SpecError([Problem(label, 1, 1, format_path(path[:-1]),
                                 f"is {container!r}, which has no keys or items to set")])
    elif not isinstance(last, str):
        raise SpecError([Problem(label, 1, 1, format_path(path[:-1]), "is a mapping; use .key, not [index]")])
    container[last] = value_source.data
    _drop_under(origins, path)
    _drop_under(key_origins, path)
    values, keys = _origins_of(value_source, SET, path, shift=column - 1)
    if pinned:
        values, keys = {k: here for k in values}, {k: here for k in keys}
    origins.update(values)
    key_origins.update(keys)
    key_origins[path] = Origin(SET, label, 1, 1)
    return data


def compose(path: str | Path, overrides=(), named=(), spec_keys=SPEC_MARKERS) -> Source:
    """The spec at ``path`` with its ``extends`` bases and the ``overrides`` applied.

    Args:
        path: The spec file.
        overrides: ``KEY=VALUE`` strings (or :class:`Override` from flags), applied in order.
        named: The :class:`NamedClasses` of the spec language (values an override
            of one of their arguments turns from a name into a mapping).

    Returns:
        The plain :class:`Source` of the file when it has neither ``extends``
        nor overrides, else a :class:`ComposedSource`.

    Raises:
        SpecError: a file cannot be read or parsed, ``extends`` names a
            missing file or makes a cycle, or an override is malformed or
            points at a path that cannot be set.
    """
    source = read_source(path)
    has_extends = isinstance(source.data, dict) and "extends" in source.data
    if not has_extends and not overrides:
        return source
    if has_extends:
        data, origins, key_origins = _with_bases(Path(path), (), spec_keys, source)
    else:
        data = source.data
        origins, key_origins = _origins_of(source, FILE)
    for argument in overrides:
        if not isinstance(data, dict):
            break
        data = apply_override(data, argument, origins, key_origins, named)
    return ComposedSource(str(path), data, origins, key_origins)


def compose_text(text: str, file: str = "<string>", overrides=(), named=()) -> Source:
    """The spec ``text`` (a notebook cell's body) with the ``overrides`` applied, as :func:`compose`
    does for a file; positions are those of ``text`` (line 1 is its first line). A text has no
    folder to resolve ``extends`` from: the spec language reports it.

    Raises:
        SpecError: the text is not valid YAML, or an override is malformed (see :func:`compose`).
    """
    source = parse_text(text, file)
    if not overrides or not isinstance(source.data, dict):
        return source
    data = source.data
    origins, key_origins = _origins_of(source, FILE)
    for argument in overrides:
        data = apply_override(data, argument, origins, key_origins, named)
    return ComposedSource(file, data, origins, key_origins)
