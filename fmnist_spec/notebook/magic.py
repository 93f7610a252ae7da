"""``%%fmnist_spec`` and ``%fmnist_spec``: the CLI's commands in a notebook cell.

The model is jupysql's ``%%sql`` (``src/sql/magic.py``): the magic parses its line and
calls the library; results show themselves (``_repr_html_``). The line is parsed by the
CLI's own argparse definitions (:func:`fmnist_spec.cli.arguments.parser`), so every
option (``--set``, ``--epochs``, ``--seed``, ``--out``, ``--overwrite``, ...) means what
it means on the command line; the magic adds one option, ``--as NAME``, which binds the
result to a variable::

    %%fmnist_spec train --epochs 5 --as run      # the cell's body is the spec (YAML)
    spec_version: 1
    layers: ...

    %fmnist_spec train specs/relu_adam.yaml --epochs 1 --as run    # a spec file

In a cell, positions are the cell's: line 1 is the body's first line, whatever the
magic line says. Bad input (an invalid spec, a wrong option, a run folder that exists)
is shown as IPython's ``UsageError``, which a notebook prints without a traceback: the
problems with the offending line and a caret, and their hints. A bug stays an ordinary
exception with its traceback.

Commands are :data:`COMMANDS` (``search`` among them: ``%%fmnist_spec search`` runs the cell's
spec's ``search`` section); another stage adds its own with :func:`register`.

Every command runs inside :func:`fmnist_spec.to_keras.compat.filtered_stderr`, as the CLI's do:
TensorFlow's C++ writes lines such as a seeded fit's ``E0000 ... use_unbounded_threadpool`` straight
to file descriptor 2, which a kernel shows as red stderr output.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..errors import ERROR, Problems, SpecError
from .displays import BuiltModel, Picture, Text

CELL = "<cell>"
"""The file name of a spec written in a cell (problems read ``<cell>:3:12: ...``)."""

UNKEPT = "<not kept>.png"
"""The ``-o`` the magic gives ``inspect`` when the line has none: a temporary file."""

CELL_COMMANDS = ("validate", "render", "build", "train", "search")
"""The commands whose spec may be the cell's body."""


@dataclass
class Call:
    """One use of the magic: the parsed options, the cell's body (None for the line magic)."""

    args: object
    cell: str | None

    @property
    def texts(self) -> dict:
        return {CELL: self.cell} if self.cell is not None else {}


# --- the commands --------------------------------------------------------------------------------

def _overrides(call: Call) -> list:
    from ..cli.overrides import flag_overrides

    return flag_overrides(call.args)


def _spec(call: Call):
    """The checked spec of the cell or of the file; its warnings on stderr."""
    from ..language.validation import check_text, load_spec

    if call.cell is None:
        spec = load_spec(call.args.spec, _overrides(call))
    else:
        spec, problems = check_text(call.cell, CELL, _overrides(call))
        if spec is None:
            raise SpecError([p for p in problems if p.severity == ERROR])
    if spec.warnings:
        print(Problems(spec.warnings, call.texts).render(), file=sys.stderr)
    return spec


def validate(call: Call):
    """Every problem of the spec (a table; an empty list when it is valid), and with
    ``--summary`` each layer's output shape and parameters."""
    from ..language.shapes import infer, summary_table
    from ..language.validation import check_file, check_text

    found, summaries = [], []
    sources = [(CELL, None)] if call.cell is not None else [(None, path) for path in call.args.specs]
    for _, path in sources:
        if path is None:
            spec, problems = check_text(call.cell, CELL, _overrides(call))
        else:
            spec, problems = check_file(path, _overrides(call))
        found += problems
        if spec is not None and call.args.summary:
            summaries.append(summary_table(infer(spec.data["layers"], spec.input_shape), spec.name))
    if summaries:
        from IPython.display import display

        display(Text("\n".join(summaries)))
    return Problems(found, call.texts)


def render(call: Call):
    """The resolved spec: every default filled in, each value with where it came from."""
    from ..language.validation import NAMED_CLASSES, check_source, compose_spec
    from ..source.compose import compose_text
    from ..tools.render import render_resolved

    if call.cell is None:
        source = compose_spec(call.args.spec, _overrides(call))
    else:
        source = compose_text(call.cell, CELL, _overrides(call), NAMED_CLASSES)
    spec, problems = check_source(source)
    if spec is None:
        raise SpecError([p for p in problems if p.severity == ERROR])
    return Text(render_resolved(spec, source))


def build(call: Call):
    """The Keras model of the spec, shown as Keras's summary; ``--save``, ``--plot`` as in the CLI."""
    from ..cli import outputs
    from ..to_keras.compat import import_tensorflow_quietly

    args = call.args
    outputs.check_file(args.save, "--save", (".keras",), args.overwrite)
    outputs.check_file(args.plot, "--plot", (".png",), args.overwrite)
    spec = _spec(call)
    import_tensorflow_quietly()
    from ..files import save_model
    from ..running.train import set_threads
    from ..to_keras.builder import build_model

    set_threads(*spec.thread_counts())  # before TensorFlow's first op, as train would: its pools stay
    model = build_model(spec)
    notes = []
    if args.save:
        save_model(model, args.save)
        notes.append(f"saved {args.save}")
    if args.plot:
        from ..running.plots import draw_model

        draw_model(model, args.plot)
        notes.append(f"drew {args.plot}")
    # Keras writes the summary through a rich Console, which in a kernel also displays its (by then
    # empty) capture buffer: an empty output entry. IPython's capture keeps that display out.
    from IPython.utils.capture import capture_output

    from ..cli.commands import model_facts

    with capture_output(stdout=False, stderr=False, display=True):
        return BuiltModel.of(model, spec, notes, model_facts(model, spec.style))


def train(call: Call):
    """Train the spec and write its run folder; one live progress display in a kernel; the run
    (figures and learning curves) is the result."""
    import fmnist_spec

    from ..cli import outputs
    from ..cli.commands import _precision_warnings_shown
    from ..to_keras.compat import import_tensorflow_quietly

    args = call.args
    outputs.check_dir(args.out, "--out")
    outputs.check_dir(args.tensorboard, "--tensorboard")
    spec = _spec(call)
    import_tensorflow_quietly()
    with _precision_warnings_shown(CELL if call.cell is not None else args.spec):
        return fmnist_spec.train(spec, out=args.out, overwrite=args.overwrite, resume=args.resume,
                                 data_dir=args.data_dir, tensorboard=args.tensorboard)


def compare(call: Call):
    """Train several spec files (reusing finished runs): one line per run, then the table and curves."""
    from ..cli import outputs
    from ..language.validation import load_spec
    from ..to_keras.compat import import_tensorflow_quietly

    args = call.args
    outputs.check_dir(args.out, "--out")
    specs = [load_spec(path, _overrides(call)) for path in args.specs]
    import_tensorflow_quietly()
    from ..tools.compare import compare as compare_runs

    return compare_runs(specs, out=args.out, overwrite=args.overwrite, data_dir=args.data_dir, verbose=0,
                        log=lambda line: print(line, flush=True))


def _with_picture(call: Call, run, option: str = "-o") -> tuple:
    """Run a CLI command that writes a picture; without ``-o`` it goes to a temporary file.
    Returns (the command's result, the picture's bytes or None)."""
    args = call.args
    with tempfile.TemporaryDirectory(prefix="fmnist-spec-") as folder:
        if getattr(args, "output", None) == UNKEPT:
            args.output = str(Path(folder) / "picture.png")
        result = run(args)
        path = getattr(args, "output", None) or getattr(args, "confusion", None)
        data = Path(path).read_bytes() if path and Path(path).is_file() and path.endswith(".png") else None
    return result, data


def inspect(call: Call):
    """The CLI's ``inspect`` (filters, feature maps, mistakes), the picture shown inline
    (``-o`` optional: without it the picture is not kept)."""
    from ..cli import commands

    result, data = _with_picture(call, commands.inspect)
    return Picture(data, result.done) if data else Text(result.done)


def evaluate(call: Call):
    """The CLI's ``evaluate``: the report per class, and the ``--confusion`` picture inline."""
    from ..cli import commands

    outcome = commands.evaluate(call.args)
    if outcome.confusion and outcome.confusion.endswith(".png"):
        from IPython.display import display

        display(Text(outcome.report))
        return Picture(Path(outcome.confusion).read_bytes(), f"confusion matrix: {outcome.confusion}")
    return Text(outcome.report)


def search(call: Call):
    """Search the spec's space (its ``search`` section) on Optuna into the search folder; one display
    updated in place in a kernel; the result (leaderboard, best trial, ``best.yaml``) is shown."""
    import fmnist_spec

    from ..cli import outputs
    from ..search.run import default_out_dir, guard_search_dir
    from ..search.storage import check_url

    args = call.args
    outputs.check_dir(args.out, "--out")
    spec = _spec(call)
    out = args.out if args.out is not None else default_out_dir(spec)
    guard_search_dir(out)  # before TensorFlow's import, as the CLI
    check_url(args.storage)
    return fmnist_spec.search_spec(spec, out=out, n_trials=args.trials, workers=args.processes,
                                   storage=args.storage, study=args.study, data_dir=args.data_dir)


COMMANDS = {"validate": validate, "render": render, "build": build, "train": train, "compare": compare,
            "evaluate": evaluate, "inspect": inspect, "search": search}
"""Subcommand -> function(:class:`Call`) -> the result to show; each takes the CLI's options."""


def register(name: str, function, cell: bool = False) -> None:
    """Add the subcommand ``name`` (its CLI parser must know it); ``cell``: its spec may be the cell."""
    global CELL_COMMANDS
    COMMANDS[name] = function
    if cell and name not in CELL_COMMANDS:
        CELL_COMMANDS = CELL_COMMANDS + (name,)


# --- parsing and errors --------------------------------------------------------------------------

def split_line(line: str) -> tuple[list, str | None]:
    """(the CLI's arguments, the ``--as`` name or None) of the magic's line."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the line: {exc}\n  hint: close the quote") from None
    name = None
    for flag in ("--as",):
        while flag in tokens:
            i = tokens.index(flag)
            if i + 1 >= len(tokens) or not tokens[i + 1].isidentifier():
                raise UsageError("--as needs a Python variable name, e.g. --as run")
            name = tokens[i + 1]
            del tokens[i:i + 2]
    return tokens, name


def parse(tokens: list, cell: str | None):
    """The argparse namespace of the CLI's parser; in a cell the spec argument is the cell."""
    from ..cli.arguments import UsageError as CliUsageError
    from ..cli.arguments import parser

    usage = "usage: %%fmnist_spec {" + ",".join(CELL_COMMANDS) + "} [OPTIONS] [--as NAME]"
    if not tokens or tokens[0].startswith("-"):
        raise UsageError(f"{usage}\nerror: a command is needed first\n  hint: e.g. %%fmnist_spec train --as run")
    command = tokens[0]
    if command not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "the commands: " + ", ".join(COMMANDS)
        raise UsageError(f"unknown command {command!r}\n  hint: {hint}")
    if cell is not None:
        if command not in CELL_COMMANDS:
            raise UsageError(f"'{command}' takes files, not a spec in the cell\n"
                             f"  hint: use the line magic, %fmnist_spec {command} ...")
        tokens = [command, CELL] + tokens[1:]
    if command == "inspect" and not {"-o", "--output"} & set(tokens) and "--help" not in tokens:
        tokens = tokens + ["-o", UNKEPT]
    try:
        return parser().parse_args(tokens)
    except CliUsageError as exc:
        raise UsageError(f"{exc.usage}\nerror: {exc}\n  hint: {exc.hint}") from None


def short_error(exc: BaseException, call: Call | None) -> str | None:
    """The text of an exception that is the user's input or the work failing (the CLI's
    :data:`fmnist_spec.cli.main.EXIT_STATUS`), or None for a bug (it keeps its traceback)."""
    from ..cli.main import exit_status_of

    if isinstance(exc, SpecError):
        return Problems(exc.problems, call.texts if call else {}).render()
    if type(exc).__name__ == "TrainingInterrupted":
        if not exc.resumable:
            return "interrupted before the first epoch finished; nothing was kept"
        return (f"interrupted: {exc.epochs_finished} of {exc.epochs} epochs finished and kept in "
                f"{exc.partial_dir}\n  hint: run the cell again with --resume to continue")
    if isinstance(exc, KeyboardInterrupt) or exit_status_of(exc) is None:
        return None
    hint = getattr(exc, "hint", "")
    return f"{exc}" + (f"\n  hint: {hint}" if hint else "")


@magics_class
class SpecMagics(Magics):
    """The ``fmnist_spec`` line and cell magic."""

    @line_cell_magic
    def fmnist_spec(self, line: str, cell: str | None = None):
        """Run an fmnist-spec command on the cell's spec (``%%fmnist_spec``) or on spec files
        (``%fmnist_spec``): validate, render, build, train, search (cell or line), compare,
        evaluate, inspect (line). The options are the CLI's (``%fmnist_spec train --help``), plus
        ``--as NAME`` to bind the result to a variable. See docs/notebook.md."""
        tokens, name = split_line(line)
        call = None
        try:
            args = parse(tokens, cell)
        except SystemExit:  # --help printed the command's help
            return None
        call = Call(args, cell)
        from ..to_keras.compat import filtered_stderr

        try:
            with filtered_stderr():
                result = COMMANDS[args.command](call)
        except UsageError:
            raise
        except BaseException as exc:
            text = short_error(exc, call)
            if text is None:
                raise
            raise UsageError(text) from None
        if name is not None:
            self.shell.user_ns[name] = result
        return result


def load_ipython_extension(ipython) -> None:
    """Register :class:`SpecMagics` (``%load_ext fmnist_spec``); TensorFlow's retracing warnings,
    which a notebook's many models trigger, are dropped
    (:func:`fmnist_spec.to_keras.compat.silence_retracing_warnings`)."""
    from ..to_keras.compat import silence_retracing_warnings

    silence_retracing_warnings()
    ipython.register_magics(SpecMagics)
