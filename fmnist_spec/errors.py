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
