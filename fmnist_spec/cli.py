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
        problems = validate(path)
        everything.extend(problems)
        failed = any(p.severity == ERROR for p in problems)
        status = BAD_INPUT if failed else status
        if args.format == "json":
            continue
        _print_problems(problems)
        if not failed:
            spec = load_spec(path)
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
    spec = load_spec(args.spec)
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
    spec = load_spec(args.spec)
    _quiet_tensorflow()
    from .data import DataError
    from .train import train

    try:
        result = train(spec, epochs=args.epochs, out=args.out, data_dir=args.data_dir,
                       style=args.style, seed=args.seed)
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


def _keras_path(text: str) -> str:
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .keras (Keras's native format)")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 4294967295, got {value}")
    return value


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
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("schema", help=cmd_schema.__doc__, description=cmd_schema.__doc__)
    p.set_defaults(run=cmd_schema)

    p = sub.add_parser("build", help=cmd_build.__doc__, description=cmd_build.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("--summary", action="store_true", help="print Keras's model.summary()")
    p.add_argument("--save", type=_keras_path, metavar="PATH.keras", help="save the built model")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--epochs", type=_positive, metavar="N", help="override fit.epochs")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<spec file name>)")
    p.add_argument("--data-dir", metavar="DIR", help="directory with the four Fashion-MNIST IDX files")
    p.add_argument("--style", choices=("list", "add"), help="override the spec's style")
    p.add_argument("--seed", type=_seed, metavar="N",
                   help="override the spec's seed: Keras's random seed and deterministic TensorFlow ops")
    p.set_defaults(run=cmd_train)
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
