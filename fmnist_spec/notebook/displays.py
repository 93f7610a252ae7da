"""What the library's results look like in a notebook, and the two result types of the magic.

The result types keep their displays as methods (``Spec._repr_html_``,
``TrainResult._repr_html_``, ``CompareResult._repr_html_``,
:class:`fmnist_spec.errors.Problems`); each calls one function here, which builds its HTML
from :mod:`.html` and its plain text from the same words the CLI prints (the figure
lines of ``train``, :func:`fmnist_spec.tools.compare.to_text`, ``Problem.render``).
:class:`BuiltModel` (``build``: Keras's summary) and :class:`Picture` (``inspect``) are the
magic's own results. Nothing here imports TensorFlow or IPython.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import html as H

SPLITS = ("train", "validation", "test")


# --- a spec ------------------------------------------------------------------------------------

def spec_text(spec) -> str:
    """The resolved spec (every default filled in) as YAML, as ``render`` shows it without the
    provenance comments."""
    import yaml

    header = f"# {spec.file}, resolved: every default filled in\n"
    return header + yaml.safe_dump(spec.resolved(), allow_unicode=True, sort_keys=False,
                                   default_flow_style=None, width=100)


def spec_html(spec) -> str:
    warnings = ""
    if spec.warnings:
        from ..errors import Problems

        warnings = H.problems_table(Problems(spec.warnings))
    return H.block(H.heading(f"spec {spec.name!r}: {len(spec.layers)} layers, {spec.epochs} epochs"),
                   H.pre(spec_text(spec)), warnings)


# --- a run -------------------------------------------------------------------------------------

def _headline(result) -> str:
    m = result.metrics
    done = m.epochs_finished or m.epochs
    text = f"{result.out_dir.name}: {m.status}, {done} of {m.epochs} epoch" + ("s" if m.epochs != 1 else "")
    if m.fit_seconds:
        text += f" in {m.fit_seconds:.1f} s"
    if m.samples.get("train"):
        text += f" on {m.samples['train']:,} images"
    return text


def _notes(result) -> list:
    m = result.metrics
    notes = []
    if m.message:
        notes.append(m.message)
    if m.stopped_epoch is not None:
        notes.append(f"early stopping after epoch {m.stopped_epoch} of {m.epochs}")
    if m.best_epoch is not None and m.best is not None:
        notes.append(f"best epoch {m.best_epoch}: {m.monitor} {m.best:.4f}")
    notes.append(f"run folder: {result.out_dir}")
    return notes


def run_text(result) -> str:
    """A finished run as the lines ``fmnist-spec train`` ends with: the figures of each split."""
    lines = [_headline(result)] + result.metrics.figure_lines()
    return "\n".join(lines + [f"  {note}" for note in _notes(result)])


def run_html(result) -> str:
    """The run's headline, its figures table (split x loss and metrics) and the learning curves."""
    m = result.metrics
    names = list(dict.fromkeys(k for split in SPLITS for k in getattr(m, split)))
    rows = [[split] + [f"{getattr(m, split)[k]:.4f}" if k in getattr(m, split) else "" for k in names]
            for split in SPLITS if getattr(m, split)]
    figures = H.table(["split"] + names, rows, align_right=range(1, len(names) + 1)) if rows else ""
    curves = Path(result.out_dir) / "learning_curves.png"
    picture = H.png(curves.read_bytes(), "learning curves", 640) if curves.is_file() else ""
    notes = "".join(f"<div>{H.esc(note)}</div>" for note in _notes(result))
    return H.block(H.heading(_headline(result)), figures, picture, notes)


# --- a comparison ------------------------------------------------------------------------------

def compare_text(result, to_text) -> str:
    """``result``'s table as ``to_text`` (:func:`fmnist_spec.tools.compare.to_text`) writes it."""
    return to_text(result.rows) + f"tables and curves: {result.out_dir}"


def compare_html(result, columns, cell) -> str:
    """``result``'s table (``columns`` but the last, each value as ``cell(column, value)`` writes it,
    as in :mod:`fmnist_spec.tools.compare`) and the learning curves of every run."""
    columns = columns[:-1]
    rows = [[cell(c, r[c]) for c in columns] for r in result.rows]
    curves = Path(result.out_dir) / "learning_curves.png"
    picture = H.png(curves.read_bytes(), "learning curves of every run", 640) if curves.is_file() else ""
    return H.block(H.table(columns, rows, align_right=range(1, len(columns) - 2)), picture,
                   f"<div>{H.esc(f'tables and curves: {result.out_dir}')}</div>")


# --- a search ----------------------------------------------------------------------------------

LEADERBOARD_ROWS = 20
"""Leaderboard rows a notebook shows; the rest are in ``study.json``."""


def _search_lines(result) -> list:
    """The lines ``fmnist-spec search`` ends with after its leaderboard (study, best, files)."""
    lines = [result.status()]
    if result.best_number is None:
        lines.append("no trial completed: no best.yaml")
    else:
        values = " ".join(f"{path}={text}" for path, text in result.best_values.items())
        lines.append(f"best: trial {result.best_number}, {result.objective} {result.best_value:.4f}: {values}")
        if result.best_yaml:
            lines.append(f"best.yaml: {result.best_yaml}")
    lines.append(f"study.json: {result.study_json}; trials: {Path(result.out_dir) / 'trials'}")
    return lines + [f"note: {note}" for note in result.notes]


def search_text(result, leaderboard: str) -> str:
    """A :class:`fmnist_spec.search.SearchResult` as text: ``leaderboard`` (the text table of
    :func:`fmnist_spec.search.report.leaderboard_text`), then the study, the best trial and the files."""
    return leaderboard + "\n".join(_search_lines(result))


def search_html(result) -> str:
    """The leaderboard (values as written, the objective to 4 decimals, state, epochs, seconds), the best
    trial's values and ``best.yaml``, and ``optimization_history.png`` inline when it was drawn."""
    rows, objective = result.rows, result.objective
    if rows:
        paths = list(rows[0]["values"])
        headers = ["#", "trial", *paths, objective, "state", "epochs", "seconds"]
        body = [[i + 1, r["number"], *(r["values"].get(p, "") for p in paths),
                 "" if r[objective] is None else f"{r[objective]:.4f}", r["state"], r["epochs"] or "",
                 "" if r["seconds"] is None else f"{r['seconds']:.1f}"] for i, r in enumerate(rows[:LEADERBOARD_ROWS])]
        numbers = (0, 1, len(paths) + 2, len(paths) + 4, len(paths) + 5)
        board = H.table(headers, body, caption=f"leaderboard ({result.direction} {objective})", align_right=numbers)
        if len(rows) > LEADERBOARD_ROWS:
            board += f"<div>{H.esc(f'... and {len(rows) - LEADERBOARD_ROWS} more (study.json)')}</div>"
    else:
        board = H.heading("no trial completed or was pruned yet")
    best = ""
    if result.best_number is not None:
        best = H.table(["best", *result.best_values], [[f"trial {result.best_number}", *result.best_values.values()]],
                       caption=f"best: {objective} {result.best_value:.4f}")
    history = Path(result.out_dir) / "optimization_history.png"
    picture = H.png(history.read_bytes(), "optimization history", 640) \
        if any(Path(p) == history for p in result.pictures) and history.is_file() else ""
    notes = "".join(f"<div>{H.esc(line)}</div>" for line in _search_lines(result))
    return H.block(board, best, picture, notes)


# --- the magic's own results -------------------------------------------------------------------

@dataclass
class BuiltModel:
    """What ``%%fmnist_spec build`` made: the Keras model and its spec; shows Keras's summary.

    Attributes:
        model: The ``keras.Sequential``.
        spec: The :class:`fmnist_spec.Spec` it was built from.
        summary: ``model.summary()``'s lines (plain text, no colours).
        notes: What was written (``--save``, ``--plot``).
    """

    model: object = field(repr=False)
    spec: object = field(repr=False)
    summary: list = field(default_factory=list, repr=False)
    notes: list = field(default_factory=list)
    facts: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, model, spec, notes=(), facts=None) -> BuiltModel:
        lines: list = []
        model.summary(print_fn=lambda line, **_: lines.append(line))
        lines = "\n".join(lines).splitlines()  # Keras hands the whole summary over in one call
        return cls(model, spec, lines, list(notes), dict(facts or {}))

    def __repr__(self) -> str:
        return "\n".join(self.summary + self.notes)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        plot = ""
        for note in self.notes:
            if note.endswith(".png") and Path(note.split()[-1]).is_file():
                plot = H.png(Path(note.split()[-1]).read_bytes(), "the model (keras.utils.plot_model)")
        facts = self.facts
        rows = [(f"{layer['name']} ({layer['type']})", str(tuple(layer["output_shape"])),
                 f"{layer['parameters']:,}") for layer in facts["layers"]]
        totals = [line.strip() for line in self.summary if line.strip().startswith(("Total", "Trainable",
                                                                                   "Non-trainable"))]
        return H.block(H.table(["Layer (type)", "Output Shape", "Param #"], rows,
                               caption=f'Model: "{facts["name"]}" ({facts["style"]} style)', align_right=(2,)),
                       "".join(f"<div>{H.esc(t)}</div>" for t in totals), plot,
                       "".join(f"<div>{H.esc(n)}</div>" for n in self.notes))


@dataclass
class Picture:
    """A PNG a command drew (``inspect``, ``evaluate --confusion``), shown inline.

    Attributes:
        data: The PNG's bytes (read when the command ended: the file may be a temporary one).
        caption: What it shows (the command's closing line).
    """

    data: bytes = field(repr=False)
    caption: str = ""

    def __repr__(self) -> str:
        return self.caption

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return H.block(H.png(self.data, self.caption), f"<div>{H.esc(self.caption)}</div>")


@dataclass
class Text:
    """Plain text a command printed (``validate --summary``, ``render``), shown as ``<pre>``."""

    text: str

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        return H.block(H.pre(self.text))
