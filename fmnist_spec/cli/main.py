"""The ``fmnist-spec`` command: parse the arguments, run one command, hand its
result to a reporter, and map what went wrong to an exit status in ONE place.

Exit status (docs/cli.md): 0 success; 1 the work failed (missing data, a
training error, the loss became NaN, a missing program, the command's
output on stdout was lost); 2 the input was bad (invalid spec or flag value,
wrong arguments, an output path that cannot be written, a run folder that
does not fit); 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import shlex
import sys

from . import reporters
from .arguments import parser
from .overrides import resume_argv
from ..to_keras.compat import filtered_stderr
from .streams import safe_streams

OK, FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130

EXIT_STATUS = {
    # bad input
    "SpecError": BAD_INPUT,          # fmnist_spec.errors: the spec, a --set or a flag value
    "UsageError": BAD_INPUT,         # cli.arguments: the command line itself
    "OutputPathError": BAD_INPUT,    # cli.outputs: an output path that cannot be written
    "BadEnvironment": BAD_INPUT,     # cli.commands: a malformed TF_CONFIG
    "RunFolderError": BAD_INPUT,     # running: nothing to resume, a changed spec, a finished run (RunFolderBusy too)
    "InputError": BAD_INPUT,         # tools.evaluate: not a model, not an image
    "UnwritableSearch": BAD_INPUT,   # tools.codegen_search: a searched key codegen cannot write
    "SearchError": BAD_INPUT,        # search.run: no search section, an --out that is not a search folder
    "StorageError": BAD_INPUT,       # search.storage: a --storage URL that cannot be used
    "StudyMismatch": BAD_INPUT,      # search.study: the study searches another spec or space
    "DatabaseSettingError": BAD_INPUT,  # search.database: a --storage URL or heartbeat setting that cannot work
    # the work failed
    "DataError": FAILED,             # running.data: Fashion-MNIST missing or damaged
    "DistributeError": FAILED,       # running.distributed: devices, collectives, other workers
    "RunWriteError": FAILED,         # running: the run folder could not be written (disk full)
    "GraphvizMissing": FAILED,       # running.plots
    "MissingTool": FAILED,           # cli.commands: Graphviz, tensorboard
    "OutputWriteError": FAILED,      # cli.commands: an output file could not be written
    "SearchFailed": FAILED,          # search.run: a worker process failed
    "DatabaseError": FAILED,         # search.database: the study's database unreachable, refused, gone away
    "JournalWriteError": FAILED,     # search.storage: DIR/study.journal could not be written (disk full)
    # interrupted
    "TrainingInterrupted": INTERRUPTED,
    "CompareInterrupted": INTERRUPTED,
    "SearchInterrupted": INTERRUPTED,
    "KeyboardInterrupt": INTERRUPTED,
}
"""The one map from exception class names to exit statuses. A class matches
when it or a class it derives from (``RunFolderBusy`` from
``RunFolderError``) is named here and defined in fmnist_spec (or is
``KeyboardInterrupt``); names, not imports, so ``validate`` never imports
the training stage. Any other exception is a bug and keeps its traceback."""


def exit_status_of(exc: BaseException) -> int | None:
    """The exit status :data:`EXIT_STATUS` gives ``exc``, or None when it is not ours to map."""
    for cls in type(exc).__mro__:
        ours = cls.__module__.startswith("fmnist_spec.") or cls is KeyboardInterrupt
        if ours and cls.__name__ in EXIT_STATUS:
            return EXIT_STATUS[cls.__name__]
    return None


def _render(exc: BaseException, argv: list, args) -> str:
    """The stderr text of a mapped exception."""
    name = type(exc).__name__
    if hasattr(exc, "problems"):  # SpecError
        return "\n".join(p.render() for p in exc.problems)
    if name == "UsageError":
        return f"{exc.usage}\nerror: {exc}\n  hint: {exc.hint}"
    if name == "TrainingInterrupted":
        if not exc.resumable:
            return "\ninterrupted before the first epoch finished; nothing was kept"
        return (f"\ninterrupted: {exc.epochs_finished} of {exc.epochs} epochs finished and kept in "
                f"{exc.partial_dir} (backup/, log.csv, history.json)"
                f"\nresume with: {shlex.join(resume_argv(argv, exc.out_dir, args.out is not None))}")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if name == "CompareInterrupted":
        result = exc.result
        return (f"\ninterrupted: {len(result.rows)} row(s) written to {result.out_dir} (the last one interrupted)"
                "\n  hint: run the same command again to continue: finished runs are reused and the "
                "interrupted one resumes")
    if name == "SearchInterrupted":
        result = exc.result
        return (f"\ninterrupted: {result.settled} of {result.n_trials} trials finished and kept in {result.out_dir} "
                f"(study.json, best.yaml); what was in training will be trained again"
                "\n  hint: run the same command again to continue the study to its total")
    hint = getattr(exc, "hint", "")
    return f"error: {exc}" + (f"\n  hint: {hint}" if hint else "")


def _json_error(exc: BaseException, args, status: int) -> str:
    """The JSON envelope of a mapped exception under ``--format json``."""
    problems = getattr(exc, "problems", ())
    error = None if problems else {"message": str(exc) or type(exc).__name__, "hint": getattr(exc, "hint", "")}
    return reporters.envelope(args.command, status, problems, None, error)


def _run(argv: list) -> int:
    """Parse, run and report; exceptions of :data:`EXIT_STATUS` become statuses here."""
    args = None
    try:
        try:
            args = parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return exc.code or OK
        result = args.run(args)
        reporters.report(args.command, result, args)
        return result.exit_status
    except BaseException as exc:
        status = exit_status_of(exc)
        if status is None:
            raise
        if args is not None and getattr(args, "format", "text") == "json":
            sys.stdout.write(_json_error(exc, args, status))
            problems = getattr(exc, "problems", ())
            if problems:  # also readable on the terminal
                reporters.print_problems(problems)
        else:
            print(_render(exc, argv, args), file=sys.stderr)
        return status


def main(argv=None) -> int:
    """Run ``fmnist-spec`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    stdout and stderr are :class:`fmnist_spec.cli.streams.SafeStream` wrappers
    meanwhile: writing to a closed or broken channel never raises. When the
    command's output on stdout was lost (closed stdout, the reader of a pipe
    went away, a full device) a status of 0 becomes 1, since what was asked
    for did not arrive; the files the command wrote are kept. Text the
    channel's encoding cannot show is escaped (``\\ud328``), which loses
    nothing.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    with safe_streams() as (out, err), filtered_stderr():
        status = _run(argv)
        out.flush()
        if status == OK and out.lost is not None:
            if not isinstance(out.lost, BrokenPipeError):  # a closed pipe's reader wanted no more
                print(f"error: the output could not be written to stdout ({out.lost})", file=sys.stderr)
            status = FAILED
        err.flush()
    return status


def run() -> None:
    """The ``fmnist-spec`` console command: :func:`main`, then exit with its status.

    Once a command has imported TensorFlow, Python's own teardown of the
    interpreter (clearing TensorFlow's thousands of modules and objects) takes
    0.5 s in ``train`` and 1.1 s in a bare script with TensorFlow 2.21 on this
    project's 2-core machine (``benchmarks/RESULTS.md``), after the work is
    done and every file is written and closed. So such a process runs the
    ``atexit`` handlers, flushes stdout and stderr and leaves with
    ``os._exit``. A command that never imported TensorFlow, or one that ended
    with an uncaught exception, exits the usual way. Output channels never
    raise (see :func:`main`).
    """
    from ..to_keras.compat import fast_exit

    fast_exit(main())


if __name__ == "__main__":
    run()
