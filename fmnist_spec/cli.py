"""The ``fmnist-spec`` command: parse arguments, call one public function,
render errors, return the exit status.

Exit status: 0 success; 1 the work failed (missing data, training error);
2 the input was bad (invalid spec, wrong arguments).
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import ERROR, SpecError, render_json
from .validation import load_spec, validate

OK, FAILED, BAD_INPUT = 0, 1, 2


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _print_problems(problems) -> None:
    for problem in problems:
        print(problem.render(), file=sys.stderr)


def cmd_validate(args) -> int:
    """Check specs against the schema and the cross-field rules; no TensorFlow."""
    from .shapes import infer, summary_table

    status = OK
    everything = []
    for path in args.specs:
        problems = validate(path, args.set)
        everything.extend(problems)
        failed = any(p.severity == ERROR for p in problems)
        status = BAD_INPUT if failed else status
        if args.format == "json":
            continue
        _print_problems(problems)
        if not failed:
            spec = load_spec(path, args.set)
            rows = infer(spec.data["layers"], spec.input_shape)
            print(f"{path}: valid ({len(rows)} layers, {sum(r.params for r in rows):,} parameters)")
            if args.summary:
                print(summary_table(rows, spec.name))
    if args.format == "json":
        print(render_json(everything))
    return status


def cmd_schema(args) -> int:
    """Print the spec language's JSON Schema."""
    from .schema import schema_text

    sys.stdout.write(schema_text())
    return OK


def cmd_build(args) -> int:
    """Build the Keras model of a spec; print its summary or save it."""
    spec = load_spec(args.spec, args.set)
    _quiet_tensorflow()
    from .builder import build_model
    from .files import save_model

    model = build_model(spec, args.style)
    if args.summary:
        model.summary()
    else:
        print(f"built {model.name!r}: {len(model.layers)} layers, {model.count_params():,} parameters "
              f"({args.style or spec.style} style)")
    if args.save:
        save_model(model, args.save)
        print(f"saved {args.save}")
    return OK


def cmd_train(args) -> int:
    """Train a spec on Fashion-MNIST and write the run folder."""
    spec = load_spec(args.spec, args.set)
    _quiet_tensorflow()
    from .data import DataError
    from .train import train

    try:
        result = train(spec, epochs=args.epochs, out=args.out, data_dir=args.data_dir,
                       style=args.style)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    m = result.metrics
    train_acc = m["train"].get("accuracy")
    print(f"\n{spec.name}: {m['epochs']} epochs in {m['fit_seconds']:.1f} s "
          f"on {m['samples']['train']:,} images ({m['data_source']})")
    for split in ("train", "validation", "test"):
        figures = ", ".join(f"{k} {v:.4f}" for k, v in m[split].items())
        print(f"  {split:<10} {figures}")
    if train_acc is None:
        print("  (add 'metrics: [accuracy]' to compile to see accuracy)")
    print(f"run folder: {result.out_dir}")
    return OK


def cmd_codegen(args) -> int:
    """Write the spec as a standalone Keras script (keras.Sequential, compile, fit)."""
    from .codegen import generate

    spec = load_spec(args.spec, args.set)
    text = generate(spec, args.style)
    if args.output:
        from .files import write_text

        try:
            write_text(args.output, text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return FAILED
        print(f"wrote {args.output} ({args.style or spec.style} style)")
    else:
        sys.stdout.write(text)
    return OK


def cmd_render(args) -> int:
    """Print the resolved spec (defaults filled in), each value marked file, extends, --set or default."""
    from .render import render

    sys.stdout.write(render(args.spec, args.set))
    return OK


def cmd_export(args) -> int:
    """Write the spec of a saved keras.Sequential (.keras file): layers, compile settings, name."""
    _quiet_tensorflow()
    from .export import export_text

    text, notes = export_text(args.model)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output:
        from .files import write_text

        try:
            write_text(args.output, text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return FAILED
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return OK


def _yaml_path(text: str) -> str:
    if not text.endswith((".yaml", ".yml")):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .yaml or .yml")
    return text


def _keras_path(text: str) -> str:
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .keras (Keras's native format)")
    return text


def _python_path(text: str) -> str:
    if not text.endswith(".py"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .py")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the spec, e.g. fit.epochs=10, compile.optimizer.learning_rate=0.01, "
                        "layers[0].activation=relu (VALUE is YAML; repeatable; checked like the file)")


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``fmnist-spec``."""
    top = argparse.ArgumentParser(
        prog="fmnist-spec",
        description="Declarative Keras model specs for Fashion-MNIST: validate, build, train.")
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
    p.set_defaults(run=cmd_schema)

    p = sub.add_parser("build", help=cmd_build.__doc__, description=cmd_build.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("--summary", action="store_true", help="print Keras's model.summary()")
    p.add_argument("--save", type=_keras_path, metavar="PATH.keras", help="save the built model")
    _add_set(p)
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--epochs", type=_positive, metavar="N", help="override fit.epochs")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<spec file name>)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four Fashion-MNIST IDX files")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    _add_set(p)
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
        return 130


if __name__ == "__main__":
    sys.exit(main())
