"""YAML text -> plain data plus the position of every node.

PyYAML is used with its safe loader's scanner and parser, but with the YAML
1.2 core schema for plain scalars instead of YAML 1.1's: ``1e-3`` is a float,
``yes``/``no``/``on``/``off`` stay strings, ``010`` is the decimal 10. Only
the core tags (str, int, float, bool, null, map, seq) are accepted; ``!!python/...``
and other tags are rejected, so no code from a spec ever runs. Duplicate keys,
merge keys, several documents, deep nesting and alias bombs are reported as
:class:`~fmnist_spec.errors.Problem` s with 1-based positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import Problem, SpecError
from ..input_files import not_a_regular_file
from .yaml12 import LEADING_ZERO, TAG, Yaml12Loader, scalar_value
from .limits import MAX_BYTES, MAX_DEPTH, MAX_ITEMS, MAX_NODES, check_size, check_structure

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_ITEMS", "MAX_NODES", "Source", "decode", "format_path",
           "parse_text", "read_source"]


Path_ = tuple  # a JSON path as a tuple of str keys and int indices


def nearest(path: Path_, values: dict, keys: dict | None, fallback):
    """What ``keys`` (the entry of a mapping key, when given) or else ``values`` hold for
    ``path`` or, failing that, for its nearest ancestor; ``fallback`` for none."""
    path = tuple(path)
    while True:
        if keys is not None and path in keys:
            return keys[path]
        if path in values:
            return values[path]
        if not path:
            return fallback
        path = path[:-1]


@dataclass
class Source:
    """A parsed spec document.

    Attributes:
        file: The file name used in problem locations.
        data: The document as plain dicts, lists, str, int, float, bool, None.
        positions: JSON path -> (line, column) of each value node, 1-based.
        key_positions: JSON path -> (line, column) of the key naming it.
        text: The decoded text.
        leading_zeros: (JSON path, text as written) of each integer written
            with a leading zero (``010``), which YAML 1.1 tools read as octal; see
            :mod:`fmnist_spec.language.spec_warnings`.
    """

    file: str
    data: object
    positions: dict = field(default_factory=dict)
    key_positions: dict = field(default_factory=dict)
    text: str = ""
    leading_zeros: list = field(default_factory=list)

    def locate(self, path: Path_, at_key: bool = False) -> tuple[int | None, int | None]:
        """(line, column) of ``path``, or of its nearest located ancestor."""
        return nearest(path, self.positions, self.key_positions if at_key else None, (1, 1))

    def problem(self, path: Path_, message: str, hint: str = "", severity: str = "error",
                at_key: bool = False) -> Problem:
        """A Problem at ``path`` of this document."""
        line, column = self.locate(path, at_key)
        return Problem(self.file, line, column, format_path(path), message, hint, severity)


def format_path(path: Path_) -> str:
    """``('layers', 1, 'units')`` -> ``layers[1].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark_problem(file: str, mark, message: str, hint: str = "") -> Problem:
    if mark is None:
        return Problem(file, None, None, "", message, hint)
    return Problem(file, mark.line + 1, mark.column + 1, "", message, hint)


class _Walker:
    """Turns a composed node tree into plain data, recording positions."""

    def __init__(self, file: str):
        self.file = file
        self.positions: dict = {}
        self.key_positions: dict = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.leading_zeros: list = []

    def _at(self, node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _fail(self, node, message: str, hint: str = "") -> None:
        line, col = self._at(node)
        raise SpecError([Problem(self.file, line, col, "", message, hint)])

    def walk(self, node, path: Path_, depth: int):
        self.count += 1
        if self.count > MAX_NODES:
            self._fail(node, f"the document expands to more than {MAX_NODES:,} nodes",
                       "a spec is small; remove the anchors and aliases that multiply it")
        if depth > MAX_DEPTH:
            self._fail(node, f"nesting deeper than {MAX_DEPTH} levels",
                       "a spec nests a few levels at most: layers -> layer -> input_shape")
        self.positions.setdefault(path, self._at(node))
        if isinstance(node, yaml.ScalarNode):
            if not node.tag.startswith(TAG) or node.tag[len(TAG):] not in (
                    "str", "null", "bool", "int", "float"):
                self._fail(node, f"the tag {node.tag!r} is not allowed",
                           "specs hold plain values only; remove the '!' tag")
            if node.tag == TAG + "int" and LEADING_ZERO.match(node.value):
                self.leading_zeros.append((path, node.value))
            try:
                value = scalar_value(node)
            except ValueError:
                self._fail(node, f"{node.value!r} is not a valid {node.tag[len(TAG):]}")
            if isinstance(value, float) and not math.isfinite(value):
                what = ("not a number" if math.isnan(value) else "infinite" if "inf" in node.value.lower()
                        else "beyond the largest float (about 1.8e308), so it reads as infinity")
                self._fail(node, f"{node.value} is {what}; a spec takes finite numbers only",
                           "write a finite number such as 0.001, or quote it ('.nan') if you mean text")
            return value
        if isinstance(node, yaml.SequenceNode):
            if node.tag != TAG + "seq":
                self._fail(node, f"the tag {node.tag!r} is not allowed",
                           "specs hold plain values only; remove the '!' tag")
            return [self.walk(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if node.tag != TAG + "map":
            self._fail(node, f"the tag {node.tag!r} is not allowed",
                       "specs hold plain values only; remove the '!' tag")
        return self._mapping(node, path, depth)

    def _key(self, node: yaml.ScalarNode):
        if not node.tag.startswith(TAG) or node.tag[len(TAG):] not in (
                "str", "null", "bool", "int", "float"):
            self._fail(node, f"the tag {node.tag!r} is not allowed",
                       "specs hold plain values only; remove the '!' tag")
        return scalar_value(node)

    def _mapping(self, node, path: Path_, depth: int) -> dict:
        out: dict = {}
        first_seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == TAG + "merge" or (key_node.value == "<<" and key_node.style is None):
                self._fail(key_node, "merge keys ('<<') are not supported",
                           "write the keys out in this mapping")
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, "a mapping key must be a plain string")
            key = self._key(key_node)
            if not isinstance(key, str):
                key = "null" if key is None else str(key) if not isinstance(key, bool) else str(key).lower()
            at = self._at(key_node)
            if key in first_seen:
                line, col = first_seen[key]
                self.problems.append(Problem(
                    self.file, at[0], at[1], format_path(path + (key,)),
                    f"duplicate key '{key}' (first given at line {line}, column {col})",
                    "YAML would silently keep only the last value; keep one of them"))
                continue
            first_seen[key] = at
            self.key_positions[path + (key,)] = at
            out[key] = self.walk(value_node, path + (key,), depth + 1)
        return out


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    """A Problem at the mark of a PyYAML scanner, parser or composer error."""
    problem = exc.problem or str(exc)
    mark = exc.problem_mark or exc.context_mark
    hint = ""
    if "'\\t'" in problem or "tab" in problem.lower():
        problem = "a tab character where YAML expects spaces"
        hint = "YAML indents with spaces only; replace the tab characters"
    if "expected a single document" in (exc.context or ""):
        problem = "the file holds more than one YAML document"
        hint = "a spec is one document; remove the '---' separators"
    if not hint:
        if "block end" in problem or "mapping values are not allowed" in problem:
            hint = "check the indentation: keys of one mapping start in the same column, indented with spaces"
        elif "end of stream" in problem or "<stream end>" in problem:
            hint = "a quote or bracket opened earlier is not closed"
        else:
            hint = "check the YAML syntax here and on the line before"
    context = exc.context_mark
    if exc.context and context is not None and context is not mark and (
            context.line, context.column) != (mark.line, mark.column):
        problem += f" ({exc.context} that starts at line {context.line + 1}, column {context.column + 1})"
    found = _mark_problem(file, mark, problem, hint)
    if found.line is None:
        found = Problem(file, 1, 1, "", problem, hint)
    return found


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A Problem at the character PyYAML's reader refused (control characters)."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    return Problem(file, line, column, "", f"the character #x{exc.character:04x} is not allowed in YAML "
                   "(control characters other than tab and newline)",
                   "remove it; a spec is plain text")


def decode(raw: bytes, file: str) -> str:
    """Bytes -> text, as UTF-8 (a BOM is dropped). Raises SpecError for other encodings."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError([Problem(
            file, line, column, "",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
            "save the spec as UTF-8 text")]) from None


def parse_text(text: str, file: str = "<string>") -> Source:
    """Parse YAML text into a :class:`Source`.

    Raises:
        SpecError: syntax errors, tabs used for indentation, empty documents,
            several documents, tags other than the core ones, duplicate keys,
            merge keys, nesting deeper than MAX_DEPTH or more than MAX_NODES
            nodes.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([Problem(file, None, None, "",
                                 f"the file is larger than {MAX_BYTES:,} bytes",
                                 "a spec is a short YAML file; is this the right file?")])
    try:
        check_structure(text, file)
        loader = Yaml12Loader(text)
    except yaml.reader.ReaderError as exc:
        raise SpecError([_reader_problem(file, text, exc)]) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(file, exc)]) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(file, exc)]) from None
    except yaml.reader.ReaderError as exc:  # control characters
        raise SpecError([_reader_problem(file, text, exc)]) from None
    except yaml.YAMLError as exc:  # no other kinds are known; keep a position anyway
        raise SpecError([Problem(file, 1, 1, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        raise SpecError([Problem(file, 1, 1, "", "the file holds no YAML document",
                                 "a spec is a mapping that starts with 'spec_version: 1'")])
    check_size(node, file)
    walker = _Walker(file)
    data = walker.walk(node, (), 0)
    if walker.problems:
        raise SpecError(walker.problems)
    return Source(file, data, walker.positions, walker.key_positions, text, walker.leading_zeros)


def read_source(path: str | Path) -> Source:
    """Read and parse the spec file at ``path``.

    Raises:
        SpecError: the file is missing, a directory, unreadable, too large,
            not UTF-8, or not valid YAML (see :func:`parse_text`).
    """
    file = str(path)
    p = Path(path)
    if p.is_dir():
        raise SpecError([Problem(file, None, None, "", "is a directory, not a spec file",
                                 "give the path of a .yaml file")])
    problem = not_a_regular_file(p)
    if problem and problem != "no such file":  # a device or a pipe: reading could block or never end
        raise SpecError([Problem(file, None, None, "", f"is {problem}", "give the path of a .yaml file")])
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError([Problem(file, None, None, "", "no such file",
                                 "check the path; shipped specs are in specs/")]) from None
    except OSError as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read the file: {exc.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError([Problem(file, None, None, "", f"the file is larger than {MAX_BYTES:,} bytes",
                                 "a spec is a short YAML file; is this the right file?")])
    return parse_text(decode(raw, file), file)
