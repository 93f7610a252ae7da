"""Spec problems and their rendering.

A :class:`Problem` is one thing wrong with (or worth a warning about) a spec,
located at a 1-based line and column of the file it came from. A
:class:`SpecError` carries one or more problems and is the single exception
type for bad user input; bugs in fmnist-spec stay ordinary exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One problem in a spec.

    Attributes:
        file: Path of the spec file as given by the user, or a pseudo-name
            such as ``<string>`` or ``--set fit.epochs=0``.
        line: 1-based line number, or None when the problem concerns the
            whole file (missing file, unreadable bytes before any line).
        column: 1-based column number, or None together with ``line``.
        path: The JSON path inside the spec, as ``layers[1].units``; ``""``
            for the document itself.
        message: What is wrong: what was received and what was expected.
        hint: How to fix it (may be ``""``), e.g. "did you mean 'sigmoid'?".
        severity: ``"error"`` or ``"warning"``.
        code: For warnings, a stable name such as ``high-dropout`` that
            ``warnings: {ignore: [...]}`` in a spec silences; ``""`` for errors.
    """

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str = ""
    severity: str = ERROR
    code: str = ""

    def location(self) -> str:
        """``file:line:column`` (or just ``file`` when no position is known)."""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        """The text form: ``file:line:col: path: message`` and a ``hint:`` line."""
        where = f"{self.path}: " if self.path else ""
        label = "warning: " if self.severity == WARNING else ""
        text = f"{self.location()}: {label}{where}{self.message}"
        if self.code:
            text += f" [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        """The same fields as a JSON-ready dict (for ``--format json``)."""
        return asdict(self)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems ordered by file, then position (file-level ones first)."""
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.path, p.message))


class SpecError(Exception):
    """The spec is invalid. Raised by :func:`fmnist_spec.load_spec`.

    The first problem's fields are available directly (``err.file``,
    ``err.line``, ``err.column``, ``err.path``, ``err.message``,
    ``err.hint``); ``err.problems`` lists every error found in one run,
    sorted by position.
    """

    def __init__(self, problems: Sequence[Problem]):
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.problems = sort_problems(problems)
        first = self.problems[0]
        self.file, self.line, self.column = first.file, first.line, first.column
        self.path, self.message, self.hint = first.path, first.message, first.hint
        super().__init__("\n".join(p.render() for p in self.problems))


class HintedError(Exception):
    """An error outside a spec, with a one-line ``hint`` on how to fix it (the CLI prints
    ``error: <message>`` and ``  hint: <hint>``).

    Attributes:
        hint: How to fix it ("" when there is nothing to add).
    """

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def spelled(value, limit: int = 60) -> str:
    """A received value as YAML spells it (``null``, ``true``, ``[1, null]``; text quoted as Python
    does: ``'adamm'``), cut to ``limit`` characters so a 200 KB string does not fill the terminal."""
    import json

    if value is None or isinstance(value, (bool, list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=repr)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def caret_excerpt(line: str, column: int | None, indent: str = "    ") -> str:
    """The offending source ``line`` and a caret under its 1-based ``column`` (two lines).

    Wide characters (Korean, East Asian full width) take two cells in a monospace font, so
    the caret is shifted by their width (:func:`unicodedata.east_asian_width`); a tab
    keeps its place as a tab.
    """
    import unicodedata

    line = line.rstrip("\r\n")
    pad = "".join("\t" if ch == "\t" else "  " if unicodedata.east_asian_width(ch) in "WF" else " "
                  for ch in line[:max((column or 1) - 1, 0)])
    return f"{indent}{line}\n{indent}{pad}^"


class Problems(list):
    """A list of :class:`Problem` (what :func:`fmnist_spec.validate` returns) that shows itself.

    It is an ordinary list (``problems == []`` when the spec is valid); in a notebook it is a
    table of where, what and hint (``_repr_html_``), with the offending line and a caret
    when the text of the spec is known, and the CLI's text form as its plain-text fallback.

    Attributes:
        texts: File name -> the spec's text (a notebook cell's body), for the source lines;
            a file not listed is read when shown (bounded by the spec size limit).
    """

    def __init__(self, problems=(), texts: dict | None = None):
        super().__init__(problems)
        self.texts = dict(texts or {})

    def source_line(self, problem: Problem) -> str | None:
        """The text of ``problem``'s line in its spec, or None (no position, file unreadable)."""
        if problem.line is None:
            return None
        text = self.texts.get(problem.file)
        if text is None and not problem.file.startswith(("<", "--")):
            text = _read_small(problem.file)
        lines = (text or "").splitlines()
        return lines[problem.line - 1] if 0 < problem.line <= len(lines) else None

    def excerpt(self, problem: Problem, indent: str = "") -> str | None:
        """``problem``'s source line with a caret under its column, or None when the line is unknown."""
        line = self.source_line(problem)
        return caret_excerpt(line, problem.column, indent) if line is not None else None

    def render(self) -> str:
        """Every problem's text form, each with its source line and caret when known."""
        if not self:
            return "no problems"
        out = []
        for problem in self:
            first, *rest = problem.render().split("\n")
            line = self.source_line(problem)
            out.append("\n".join([first] + ([caret_excerpt(line, problem.column)] if line is not None else [])
                                 + rest))
        return "\n".join(out)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.render())

    def _repr_html_(self) -> str:
        from .notebook.html import problems_table

        return problems_table(self)


SHOWN_BYTES = 256 * 1024
"""Largest file a problem's source line is read from for display (the size of the largest spec
file accepted, :data:`fmnist_spec.source.limits.MAX_BYTES`; not imported, since ``source/``
imports this module)."""


def _read_small(path: str) -> str | None:
    """The text of a small regular file, or None."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(SHOWN_BYTES + 1)
    except OSError:
        return None
    return raw.decode("utf-8", "replace") if len(raw) <= SHOWN_BYTES else None
