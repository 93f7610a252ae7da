"""The ``fmnist-spec`` command: parse arguments, call one public function,
render errors, return the exit status.

Exit status: 0 success; 1 the work failed (missing data, training error, the
loss became NaN); 2 the input was bad (invalid spec, wrong arguments, a run
folder that does not fit --resume); 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from ..errors import SpecError, render_json
from ..language.validation import check_file, load_spec

OK, FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _print_problems(problems) -> None:
    for problem in problems:
        print(problem.render(), file=sys.stderr)


def cmd_validate(args) -> int:
    """Check specs against the schema and the cross-field rules; no TensorFlow."""
    from ..language.checks import split_sizes
    from ..language.shapes import infer, summary_table

    status = OK
    everything = []
    for path in args.specs:
        spec, problems = check_file(path, args.set)
        everything.extend(problems)
        if spec is None:
            status = BAD_INPUT
        if args.format == "json":
            continue
        _print_problems(problems)
        if spec is not None:
            rows = infer(spec.data["layers"], spec.input_shape)
            n_train, n_val, n_test = split_sizes(spec.data)
            print(f"{path}: valid ({len(rows)} layers, {sum(r.params for r in rows):,} parameters; "
                  f"data split {n_train:,} training / {n_val:,} validation / {n_test:,} test images)")
            if args.summary:
                print(summary_table(rows, spec.name))
    if args.format == "json":
        print(render_json(everything))
    return status


def cmd_schema(args) -> int:
    """Print the spec language's JSON Schema, or install it for editors (--install)."""
    from ..language.schema import install_schema, modeline, schema_text

    if args.install is None:
        sys.stdout.write(schema_text())
        return OK
    try:
        path = install_schema(args.install or None)
    except OSError as exc:
        print(f"fmnist-spec schema: cannot install the schema: {exc}", file=sys.stderr)
        return FAILED
    print(f"installed {path}; make this the first line of a spec (docs/editors.md):", file=sys.stderr)
    print(modeline(path))
    return OK


def _load(path, overrides=()):
    """load_spec (with ``--set`` overrides), printing the spec's warnings to stderr."""
    spec = load_spec(path, overrides)
    _print_problems(spec.warnings)
    return spec


def cmd_build(args) -> int:
    """Build the Keras model of a spec; print its summary or save it."""
    from ..files import check_writable_dir, save_model

    spec = _load(args.spec, args.set)
    if args.save:
        try:
            check_writable_dir(os.path.dirname(os.path.abspath(args.save)))
        except OSError as exc:
            print(f"error: --save {args.save}: {exc}", file=sys.stderr)
            return BAD_INPUT
    _quiet_tensorflow()
    from ..to_keras.builder import build_model

    if args.plot:
        from ..running.plots import INSTALL_GRAPHVIZ, GraphvizMissing, check_graphviz, draw_model

        try:
            check_graphviz()
        except GraphvizMissing as exc:
            print(f"error: cannot draw the model: {exc}\n  hint: {INSTALL_GRAPHVIZ}", file=sys.stderr)
            return FAILED
    model = build_model(spec, args.style)
    if args.save:
        save_model(model, args.save)
    if args.plot:
        draw_model(model, args.plot)
    if args.format == "json":
        import json

        print(json.dumps(_model_facts(model, args.style or spec.style, args.save, args.plot),
                         ensure_ascii=False, indent=2))
        return OK
    if args.summary:
        model.summary()
    else:
        print(f"built {model.name!r}: {len(model.layers)} layers, {model.count_params():,} parameters "
              f"({args.style or spec.style} style)")
    if args.save:
        print(f"saved {args.save}")
    if args.plot:
        print(f"drew {args.plot} (keras.utils.plot_model)")
    return OK


def _model_facts(model, style: str, saved, plotted) -> dict:
    """What ``build --format json`` prints: the model's name, style, parameters and its layers
    (name, Keras class, output shape with null for the batch axis, parameters)."""
    return {
        "name": model.name, "style": style, "parameters": int(model.count_params()),
        "layers": [{"name": layer.name, "type": type(layer).__name__,
                    "output_shape": list(layer.output.shape), "parameters": int(layer.count_params())}
                   for layer in model.layers],
        "saved": saved, "plotted": plotted,
    }


def _where(spec, args):
    """The spec with --distribute/--timeout/--workers/--worker-index applied; ValueError for bad arguments."""
    from ..running.distributed.cluster import cluster_from_args, cluster_from_env

    settings = spec.distribute
    strategy = args.distribute or settings.strategy
    if args.workers is not None or args.worker_index is not None:
        if args.workers is None or args.worker_index is None:
            raise ValueError("--workers and --worker-index go together: --workers HOST:PORT,HOST:PORT "
                             "--worker-index I (I = this worker's position in the list, 0 is the chief)")
        cluster = cluster_from_args(args.workers, args.worker_index)
        if args.distribute not in (None, "multi_worker_mirrored"):
            raise ValueError(f"--workers starts a multi-worker run, but --distribute is {args.distribute}")
        strategy = "multi_worker_mirrored"
        settings = dataclasses.replace(settings, workers=tuple(cluster.workers), worker_index=cluster.index)
    elif strategy == "multi_worker_mirrored" and settings.workers is None:
        cluster_from_env()  # a malformed TF_CONFIG is bad input
    if strategy != "mirrored" and settings.devices is not None:
        settings = dataclasses.replace(settings, devices=None)
    settings = dataclasses.replace(settings, strategy=strategy)
    if args.timeout is not None:
        settings = dataclasses.replace(settings, timeout_seconds=args.timeout)
    return dataclasses.replace(spec, distribute=settings)


def cmd_train(args) -> int:
    """Train a spec on Fashion-MNIST and write the run folder; with --workers, start one
    worker of a multi-worker cluster (MultiWorkerMirroredStrategy)."""
    from ..running.train import default_out_dir

    spec = _load(args.spec, args.set)
    try:
        spec = _where(spec, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    spec = dataclasses.replace(spec, epochs=args.epochs or spec.epochs, style=args.style or spec.style,
                               seed=args.seed if args.seed is not None else spec.seed)
    out = args.out or str(default_out_dir(spec))
    _quiet_tensorflow()
    from ..running.train import (DataError, DistributeError, RunFolderError, RunWriteError, TrainingInterrupted,
                                 train)

    if args.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            print("error: --tensorboard needs the tensorboard package\n  hint: pip install tensorboard",
                  file=sys.stderr)
            return FAILED

    # Keras's progress bar is for terminals; in a log file one line per epoch reads better.
    verbose = 2 if spec.verbose == "auto" and not sys.stdout.isatty() else None
    try:
        result = train(spec, out=out, overwrite=args.overwrite, resume=args.resume, data_dir=args.data_dir,
                       verbose=verbose, tensorboard=args.tensorboard)
    except (DataError, DistributeError, RunWriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except TrainingInterrupted as exc:
        if not exc.resumable:
            print(f"\ninterrupted before the first epoch finished; nothing was kept", file=sys.stderr)
            return INTERRUPTED
        again = ["fmnist-spec", "train", args.spec, "--out", out, "--resume"]
        again += ["--epochs", str(args.epochs)] if args.epochs else []
        again += ["--data-dir", args.data_dir] if args.data_dir else []
        print(f"\ninterrupted: {exc.epochs_finished} of {exc.epochs} epochs finished and kept in {exc.partial_dir} "
              f"(backup/, log.csv, history.json)\nresume with: {' '.join(again)}", file=sys.stderr)
        return INTERRUPTED
    m = result.metrics
    if not result.is_chief:
        print(f"\n{spec.name}: this worker finished {m.epochs} epochs; the chief writes the run folder "
              f"(validation accuracy {m.validation.get('accuracy', float('nan')):.4f})")
        print(f"log: {result.out_dir}")
        return FAILED if result.output_lost else OK
    if m.status == "nan_loss":
        print(f"error: {m.message}\n  hint: lower the learning rate, check data.scale, or use a "
              f"bounded activation; the run folder {result.out_dir} records status nan_loss", file=sys.stderr)
        return FAILED
    train_acc = m.train.get("accuracy", m.train.get("sparse_categorical_accuracy"))
    epochs = f"{m.epochs} epoch" + ("s" if m.epochs != 1 else "")
    print(f"\n{spec.name}: {epochs} in {m.fit_seconds:.1f} s "
          f"on {m.samples['train']:,} images ({m.data_source})")
    for split in ("train", "validation", "test"):
        figures = ", ".join(f"{k} {v:.4f}" for k, v in getattr(m, split).items())
        print(f"  {split:<10} {figures}")
    if train_acc is None:
        print("  (add 'metrics: [accuracy]' to compile to see accuracy)")
    print(f"run folder: {result.out_dir} (learning curves: {result.out_dir / 'learning_curves.png'}, "
          f"epoch log: {result.out_dir / 'log.csv'})")
    if args.tensorboard:
        print(f"TensorBoard logs: {args.tensorboard} (view with: tensorboard --logdir {args.tensorboard})")
    if result.output_lost:
        print(f"error: writing progress to stdout failed; the run finished and is in {result.out_dir}",
              file=sys.stderr)
        return FAILED
    return OK


def cmd_codegen(args) -> int:
    """Write the spec as a standalone Keras script (keras.Sequential, compile, fit)."""
    from ..tools.codegen import generate

    spec = load_spec(args.spec, args.set)
    text = generate(spec, args.style)
    return _write_or_print(text, args.output, f"wrote {args.output} ({args.style or spec.style} style)")


def _write_or_print(text: str, output: str | None, done: str) -> int:
    """Write ``text`` atomically to ``output`` (then print ``done``), or print it when no output is given."""
    if not output:
        sys.stdout.write(text)
        return OK
    from ..files import write_text

    try:
        write_text(output, text)
    except OSError as exc:
        print(f"error: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return FAILED
    print(done)
    return OK


def cmd_render(args) -> int:
    """Print the resolved spec (defaults filled in), each value marked file, extends, --set or default."""
    from ..tools.render import render

    sys.stdout.write(render(args.spec, args.set))
    return OK


def cmd_export(args) -> int:
    """Write the spec of a saved keras.Sequential (.keras file): layers, compile settings, name."""
    _quiet_tensorflow()
    from ..tools.export import export_text

    text, notes = export_text(args.model)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return _write_or_print(text, args.output, f"wrote {args.output}")


def _yaml_path(text: str) -> str:
    if not text.endswith((".yaml", ".yml")):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .yaml or .yml")
    return text


def _keras_path(text: str) -> str:
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .keras (Keras's native format)")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"the directory {os.path.dirname(text) or '.'!r} does not exist")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    return text


def _python_path(text: str) -> str:
    if not text.endswith(".py"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .py")
    return text


def _picture_path(text: str) -> str:
    if not text.lower().endswith((".png", ".svg", ".pdf")):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .png (or .svg, .pdf)")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"the directory {os.path.dirname(text) or '.'!r} does not exist")
    return text


def _out_dir(text: str) -> str:
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    return text


def _integer(low: int, high: int | None = None, note: str = ""):
    """An argparse type: an integer from ``low`` to ``high`` (no upper bound when None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}{note}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


_epochs = _integer(1, 10_000, " (as fit.epochs)")
_index = _integer(0)
_seed = _integer(0, 2**32 - 1)


def cmd_compare(args) -> int:
    """Train several specs (reusing finished runs) and print one table of their figures."""
    specs = [load_spec(path) for path in args.specs]
    specs = [dataclasses.replace(spec, epochs=args.epochs or spec.epochs) for spec in specs]
    _quiet_tensorflow()
    from ..running.run_folder import RunFolderError
    from ..tools import compare as cmp

    as_json = args.format == "json"
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if as_json else None
    # Keras's progress bar is for terminals; in a log file one line per epoch reads better.
    verbose = None
    if as_json:
        verbose = 0
    elif not sys.stdout.isatty() and all(spec.verbose == "auto" for spec in specs):
        verbose = 2
    try:
        result = cmp.compare(specs, out=args.out, data_dir=args.data_dir, verbose=verbose, log=progress)
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except cmp.CompareInterrupted as exc:
        result = exc.result
        print(f"\ninterrupted: {len(result.rows) - 1} of {len(specs)} run(s) done; tables in {result.out_dir}; "
              "run the same command again to continue", file=sys.stderr)
        return INTERRUPTED
    if as_json:
        sys.stdout.write(cmp.to_json(result.rows))
        return OK if result.ok else FAILED
    print()
    sys.stdout.write(cmp.to_text(result.rows))
    out = result.out_dir
    print(f"tables: {out / 'comparison.csv'}, {out / 'comparison.md'}; curves: {out / 'learning_curves.png'}")
    return OK if result.ok else FAILED


def add_compare_parser(sub) -> None:
    """The ``compare`` subcommand's arguments."""
    p = sub.add_parser("compare", help=cmd_compare.__doc__, description=cmd_compare.__doc__)
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (.yaml)")
    p.add_argument("--epochs", type=_epochs, metavar="N", help="override fit.epochs of every spec")
    p.add_argument("--out", type=_out_dir, metavar="DIR",
                   help="tables, curves and run folders (default runs/compare)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four Fashion-MNIST IDX files")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json prints the table as a JSON array (progress goes to stderr)")
    p.set_defaults(run=cmd_compare)


def cmd_evaluate(args) -> int:
    """Evaluate a run folder or a .keras model on the test set, overall and per class."""
    _quiet_tensorflow()
    from ..running.data import DataError
    from ..tools.evaluate import InputError, evaluate, report

    try:
        result = evaluate(args.target, data_dir=args.data_dir)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    sys.stdout.write(report(result))
    if args.confusion:
        from ..running.plots import confusion_png

        confusion_png(result.confusion, args.confusion,
                      title=f"Confusion matrix, test set (accuracy {result.accuracy:.4f})")
        print(f"confusion matrix: {args.confusion}")
    return OK


def add_evaluate_parser(sub) -> None:
    """The ``evaluate`` subcommand's arguments."""
    p = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    p.add_argument("target", metavar="RUN_DIR|MODEL.keras",
                   help="a run folder (its spec.yaml says how to prepare the data) or a .keras file")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four Fashion-MNIST IDX files")
    p.add_argument("--confusion", type=_picture_path, metavar="PATH.png",
                   help="also draw the test set's confusion matrix")
    p.set_defaults(run=cmd_evaluate)


def cmd_predict(args) -> int:
    """Print the predicted class and its probability for 28x28 grayscale images."""
    _quiet_tensorflow()
    from ..tools.evaluate import InputError, predict

    try:
        predictions = predict(args.model, args.images)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    for p in predictions:
        print(f"{p.path}: {p.name} ({p.probability:.3f})")
    return OK


def add_predict_parser(sub) -> None:
    """The ``predict`` subcommand's arguments."""
    p = sub.add_parser("predict", help=cmd_predict.__doc__, description=cmd_predict.__doc__)
    p.add_argument("model", metavar="MODEL.keras", help="a .keras file or a run folder")
    p.add_argument("images", nargs="+", metavar="IMAGE.png", help="28x28 grayscale (mode L) images")
    p.set_defaults(run=cmd_predict)


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the spec, e.g. fit.epochs=10, compile.optimizer.learning_rate=0.01, "
                        "layers[0].activation=relu (VALUE is YAML; repeatable; checked like the file)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400 seconds, got {value:g}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``fmnist-spec``."""
    top = argparse.ArgumentParser(
        prog="fmnist-spec",
        description="Declarative Keras model specs for Fashion-MNIST: validate, build, train, compare, evaluate, predict.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help=cmd_validate.__doc__, description=cmd_validate.__doc__)
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (.yaml)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json prints the problems as a JSON array")
    p.add_argument("--summary", action="store_true",
                   help="print each layer's inferred output shape and parameter count")
    _add_set(p)
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("schema", help=cmd_schema.__doc__, description=cmd_schema.__doc__)
    p.add_argument("--install", nargs="?", const="", type=_out_dir, metavar="DIR",
                   help="write model-spec.schema.json to DIR (default ~/.local/share/fmnist-spec) "
                        "and print the modeline that points a spec at it")
    p.set_defaults(run=cmd_schema)

    p = sub.add_parser("build", help=cmd_build.__doc__, description=cmd_build.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("--summary", action="store_true", help="print Keras's model.summary()")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json prints the model's name, parameters and layers as one JSON object")
    p.add_argument("--save", type=_keras_path, metavar="PATH.keras", help="save the built model")
    p.add_argument("--plot", type=_picture_path, metavar="PATH.png",
                   help="draw the model with keras.utils.plot_model (needs Graphviz)")
    _add_set(p)
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--epochs", type=_epochs, metavar="N", help="override fit.epochs")
    p.add_argument("--out", type=_out_dir, metavar="DIR", help="run folder (default runs/<spec file name>)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four Fashion-MNIST IDX files")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("--tensorboard", type=_out_dir, metavar="DIR",
                   help="also write TensorBoard logs there (keras.callbacks.TensorBoard)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in the run folder from its last finished epoch")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the run folder (only once the new run has finished)")
    _add_set(p)
    p.add_argument("--distribute", choices=("default", "mirrored", "multi_worker_mirrored"),
                   help="override distribute.strategy (tf.distribute strategy)")
    p.add_argument("--workers", metavar="HOST:PORT,...",
                   help="every worker's address, the same list on every worker; implies multi_worker_mirrored "
                        "(without it, multi_worker_mirrored reads TF_CONFIG)")
    p.add_argument("--worker-index", type=_index, metavar="I",
                   help="this worker's position in --workers; worker 0 is the chief and writes the run folder")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                   help="override distribute.timeout_seconds: the longest wait for the other workers")
    p.add_argument("--seed", type=_seed, metavar="N",
                   help="override the spec's seed: Keras's random seed and deterministic TensorFlow ops")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("codegen", help=cmd_codegen.__doc__, description=cmd_codegen.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("-o", "--output", type=_python_path, metavar="FILE.py",
                   help="write the script here (default: print it)")
    _add_set(p)
    p.set_defaults(run=cmd_codegen)

    p = sub.add_parser("render", help=cmd_render.__doc__, description=cmd_render.__doc__)
    p.add_argument("spec", metavar="SPEC")
    _add_set(p)
    p.set_defaults(run=cmd_render)

    p = sub.add_parser("export", help=cmd_export.__doc__, description=cmd_export.__doc__)
    p.add_argument("model", type=_keras_path, metavar="MODEL.keras")
    p.add_argument("-o", "--output", type=_yaml_path, metavar="SPEC.yaml",
                   help="write the spec here (default: print it)")
    p.set_defaults(run=cmd_export)

    add_compare_parser(sub)
    add_evaluate_parser(sub)
    add_predict_parser(sub)
    return top


def main(argv=None) -> int:
    """Run ``fmnist-spec`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SpecError as exc:
        _print_problems(exc.problems)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


def run() -> None:
    """The ``fmnist-spec`` console command: :func:`main`, then exit with its status.

    Once a command has imported TensorFlow, Python's own teardown of the
    interpreter (clearing TensorFlow's thousands of modules and objects) takes
    0.5 s in ``train`` and 1.1 s in a bare script with TensorFlow 2.21 on this
    project's 2-core machine (``benchmarks/RESULTS.md``), after the work is
    done and every file is written and closed. So such a process runs the
    ``atexit`` handlers, flushes stdout and stderr and leaves with
    ``os._exit``. A command that never imported TensorFlow, or one that ended
    with an uncaught exception, exits the usual way. When the reader of stdout
    has gone away (``| head``), the status is 1 and no traceback is printed.
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader of stdout went away (``| head``); as in Python's "Note on SIGPIPE"
        # (docs of the signal module), point stdout at devnull so the exit flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = FAILED
    if "tensorflow" in sys.modules:
        import atexit

        atexit._run_exitfuncs()  # what the interpreter would run first on exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
