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
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import Problem, SpecError

MAX_BYTES = 256 * 1024
"""Largest spec file accepted, in bytes (a 1,000-layer spec is about 60 KB)."""
MAX_DEPTH = 20
"""Deepest nesting of mappings and sequences accepted."""
MAX_ITEMS = 1_000
"""Longest list accepted (the schema's limit on ``layers``)."""
MAX_NODES = 20_000
"""Most nodes a document may expand to, counting each use of an alias."""

Path_ = tuple  # a JSON path as a tuple of str keys and int indices

_TAG = "tag:yaml.org,2002:"


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader whose implicit scalar types follow the YAML 1.2 core schema."""


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
]:
    _Yaml12Loader.add_implicit_resolver(_TAG + _tag, re.compile(_regexp), _first)


_LEADING_ZERO = re.compile(r"^[-+]?0[0-9]+$")


def _scalar_value(node: yaml.ScalarNode):
    """The Python value of a resolved core-schema scalar node."""
    text, kind = node.value, node.tag[len(_TAG):]
    if kind == "str":
        return text
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)
    if kind == "float":
        low = text.lower().lstrip("+")
        if low in (".inf", "-.inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return math.nan
        return float(text)
    raise AssertionError(kind)  # unreachable: tags are checked before


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
            :mod:`fmnist_spec.spec_warnings`.
    """

    file: str
    data: object
    positions: dict = field(default_factory=dict)
    key_positions: dict = field(default_factory=dict)
    text: str = ""
    leading_zeros: list = field(default_factory=list)

    def locate(self, path: Path_, at_key: bool = False) -> tuple[int | None, int | None]:
        """(line, column) of ``path``, or of its nearest located ancestor."""
        path = tuple(path)
        while True:
            if at_key and path in self.key_positions:
                return self.key_positions[path]
            if path in self.positions:
                return self.positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

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
            if not node.tag.startswith(_TAG) or node.tag[len(_TAG):] not in (
                    "str", "null", "bool", "int", "float"):
                self._fail(node, f"the tag {node.tag!r} is not allowed",
                           "specs hold plain values only; remove the '!' tag")
            if node.tag == _TAG + "int" and _LEADING_ZERO.match(node.value):
                self.leading_zeros.append((path, node.value))
            try:
                return _scalar_value(node)
            except ValueError:
                self._fail(node, f"{node.value!r} is not a valid {node.tag[len(_TAG):]}")
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                self._fail(node, f"the tag {node.tag!r} is not allowed",
                           "specs hold plain values only; remove the '!' tag")
            return [self.walk(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if node.tag != _TAG + "map":
            self._fail(node, f"the tag {node.tag!r} is not allowed",
                       "specs hold plain values only; remove the '!' tag")
        return self._mapping(node, path, depth)

    def _key(self, node: yaml.ScalarNode):
        if not node.tag.startswith(_TAG) or node.tag[len(_TAG):] not in (
                "str", "null", "bool", "int", "float"):
            self._fail(node, f"the tag {node.tag!r} is not allowed",
                       "specs hold plain values only; remove the '!' tag")
        return _scalar_value(node)

    def _mapping(self, node, path: Path_, depth: int) -> dict:
        out: dict = {}
        first_seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge" or (key_node.value == "<<" and key_node.style is None):
                self._fail(key_node, "merge keys ('<<') are not supported",
                           "write the keys out in this mapping")
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, "a mapping key must be a plain string")
            key = self._key(key_node)
            if not isinstance(key, str):
                key = str(key) if not isinstance(key, bool) else str(key).lower()
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


def _check_structure(text: str, file: str) -> None:
    """Refuse deep nesting and overlong lists while streaming parser events.

    Runs before PyYAML's (recursive) composer builds anything, so that
    ``[[[[...]]]]`` ten thousand levels deep or a list of 50,000 layers is an
    error at its position within a fraction of a second, not a RecursionError
    or a long wait: parsing stops at the first item past a limit.
    """
    loader = _Yaml12Loader(text)
    stack: list = []  # [is_mapping, children seen, key of the value being read]
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if not isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)):
                continue
            if stack:
                _count_child(stack, event, file)
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), 0, None])
                if len(stack) > MAX_DEPTH + 1:
                    raise SpecError([_event_problem(
                        file, event, "", f"nesting deeper than {MAX_DEPTH} levels",
                        "a spec nests a few levels at most: layers -> layer -> input_shape")])
    finally:
        loader.dispose()


def _count_child(stack: list, event, file: str) -> None:
    top = stack[-1]
    top[1] += 1
    if top[0]:
        if top[1] % 2 == 1:  # a key
            top[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
        return
    if top[1] <= MAX_ITEMS:
        return
    is_layers = len(stack) == 2 and stack[0][0] and stack[0][2] == "layers"
    what = "layers" if is_layers else "items in one list"
    raise SpecError([_event_problem(
        file, event, "layers" if is_layers else "",
        f"more than {MAX_ITEMS:,} {what}; the limit is {MAX_ITEMS:,}",
        "split the model or remove layers" if is_layers else "a spec's lists are short")])


def _event_problem(file: str, event, path: str, message: str, hint: str) -> Problem:
    mark = event.start_mark
    return Problem(file, mark.line + 1, mark.column + 1, path, message, hint)


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A Problem at the character PyYAML's reader refused (control characters)."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    return Problem(file, line, column, "", f"the character #x{exc.character:04x} is not allowed in YAML "
                   "(control characters other than tab and newline)",
                   "remove it; a spec is plain text")


def _expanded_sizes(root) -> dict:
    """id(node) -> number of nodes it expands to, each alias use counted (iterative, memoised)."""
    sizes: dict = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = [] if isinstance(node, yaml.ScalarNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value])
        if done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes


def _check_size(root, file: str) -> None:
    """Refuse documents that expand beyond MAX_NODES ("billion laughs"), before expanding them.

    The error points at the smallest mapping or sequence that is too large on
    its own, which is where the aliases multiply.
    """
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= MAX_NODES:
        return
    node = root
    while True:
        children = [] if isinstance(node, yaml.ScalarNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value])
        big = [c for c in children if sizes[id(c)] > MAX_NODES]
        if not big:
            break
        node = big[0]
    mark = node.start_mark
    raise SpecError([Problem(
        file, mark.line + 1, mark.column + 1, "",
        f"this value expands to {sizes[id(node)]:,} nodes, more than the limit of {MAX_NODES:,} "
        "(anchors and aliases multiply it)",
        "a spec is small; write the values out instead of nesting aliases")])


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
        _check_structure(text, file)
        loader = _Yaml12Loader(text)
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
    _check_size(node, file)
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
