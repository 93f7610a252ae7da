"""One short function per command: check the outputs, call one library
function, return its result for a reporter (:mod:`.reporters`).

A command never prints and never picks an exit status for an exception:
problems are raised (:class:`fmnist_spec.errors.SpecError`,
:class:`.outputs.OutputPathError`, the library's own errors) and
:func:`fmnist_spec.cli.main.main` maps them. Each docstring is the
command's ``--help``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path

from ..errors import HintedError
from ..language.search_space import train_note
from ..language.validation import check_file, load_spec
from ..language.validation import check_file, load_spec, require_compile
from ..to_keras.compat import import_tensorflow_quietly
from . import outputs
from .overrides import flag_overrides
from .results import (
    Checked,
    CompareOutcome,
    EvaluateOutcome,
    ModelResult,
    PredictOutcome,
    SearchOutcome,
    TextResult,
    TrainOutcome,
    ValidateResult,
)


class MissingTool(HintedError):
    """A program or package the command needs is not installed (the work failed, exit 1);
    the hint says how to install it."""


class BadEnvironment(HintedError):
    """The environment describes the work wrongly, e.g. a malformed ``TF_CONFIG`` (bad input, exit 2)."""


class OutputWriteError(Exception):
    """An output file could not be written after the work (exit 1)."""


# --- commands ----------------------------------------------------------------------------------


def validate(args) -> ValidateResult:
    """Check specs against the schema and the cross-field rules; no TensorFlow."""
    from ..language.checks import split_sizes
    from ..language.shapes import infer

    checked, problems = [], []
    for path in args.specs:
        spec, found = check_file(path, flag_overrides(args))
        problems.extend(found)
        if spec is None:
            checked.append(Checked(path, False, found))
            continue
        rows = infer(spec.data["layers"], spec.input_shape)
        checked.append(Checked(path, True, found, rows, split_sizes(spec.data), spec.name))
    return ValidateResult(checked, problems)


def schema(args) -> TextResult:
    """Print the spec language's JSON Schema, or install it for editors (--install [DIR])."""
    from ..language.schema import install_schema, modeline, schema_text

    if args.install is None:
        return TextResult(schema_text())
    outputs.check_dir(args.install or None, "--install")
    try:
        path = install_schema(args.install or None)
    except OSError as exc:
        raise OutputWriteError(f"cannot install the schema: {exc}") from None
    print(f"installed {path}; make this the first line of a spec (docs/editors.md):", file=sys.stderr)
    return TextResult(modeline(path) + "\n")


def build(args) -> ModelResult:
    """Build the Keras model of a spec; print its summary or save it."""
    outputs.check_file(args.save, "--save", (".keras",), args.overwrite)
    outputs.check_file(args.plot, "--plot", (".png", ".svg", ".pdf"), args.overwrite)
    spec = load_spec(args.spec, flag_overrides(args))
    import_tensorflow_quietly()
    from ..files import save_model
    from ..to_keras.builder import build_model

    if args.plot:
        from ..running.plots import INSTALL_GRAPHVIZ, GraphvizMissing, check_graphviz

        try:
            check_graphviz()
        except GraphvizMissing as exc:
            raise MissingTool(f"cannot draw the model: {exc}", INSTALL_GRAPHVIZ) from None
    model = build_model(spec)
    summary: list = []
    if args.summary and args.format == "text":
        model.summary(print_fn=lambda line, **_: summary.append(line))
    if args.save:
        _written(args.save, save_model, model, args.save)
    if args.plot:
        from ..running.plots import draw_model

        _written(args.plot, draw_model, model, args.plot)
    return ModelResult(model_facts(model, spec.style), summary, spec.warnings, args.save, args.plot)


def model_facts(model, style: str) -> dict:
    """The model's ``name``, ``style``, ``parameters`` and ``layers`` (each ``name``, Keras
    ``type``, ``output_shape`` with null for the batch axis, ``parameters``)."""
    return {
        "name": model.name, "style": style, "parameters": int(model.count_params()),
        "layers": [{"name": layer.name, "type": type(layer).__name__,
                    "output_shape": list(layer.output.shape), "parameters": int(layer.count_params())}
                   for layer in model.layers],
    }


def _written(path: str, write, *args) -> None:
    """``write(*args)`` and its result; an OSError becomes :class:`OutputWriteError` naming ``path``."""
    try:
        return write(*args)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_tf_config(spec) -> None:
    """A multi-worker spec without workers reads TF_CONFIG: a malformed one is bad input. So does
    TensorFlow's MirroredStrategy (``json.loads`` of a set TF_CONFIG, ``''`` included)."""
    settings = spec.distribute
    text = os.environ.get("TF_CONFIG")
    read_by_tensorflow = settings.strategy == "mirrored" or (
        settings.strategy == "multi_worker_mirrored" and settings.workers is None)
    if text is not None and read_by_tensorflow:
        try:
            json.loads(text)
        except ValueError:
            what = "empty" if not text.strip() else f"not JSON ({text[:60]!r})"
            raise BadEnvironment(f"TF_CONFIG is set but {what}; TensorFlow reads it as JSON when it makes the "
                                 f"{settings.strategy} strategy",
                                 "unset it (unset TF_CONFIG), or set it to TensorFlow's cluster description, "
                                 "e.g. {\"cluster\": {\"worker\": [\"host:port\", ...]}, \"task\": {\"type\": "
                                 "\"worker\", \"index\": 0}}") from None
    if settings.strategy == "multi_worker_mirrored" and settings.workers is None:
        from ..running.distributed.cluster import cluster_from_env

        try:
            cluster_from_env()
        except ValueError as exc:
            raise BadEnvironment(str(exc), "fix TF_CONFIG, or give the cluster with --workers "
                                 "HOST:PORT,HOST:PORT --worker-index I") from None


def train(args) -> TrainOutcome:
    """Train a spec on Fashion-MNIST and write the run folder; with --workers, start one
    worker of a multi-worker cluster (MultiWorkerMirroredStrategy)."""
    outputs.check_dir(args.out, "--out")
    outputs.check_dir(args.tensorboard, "--tensorboard")
    spec = require_compile(load_spec(args.spec, flag_overrides(args)), "train")
    _check_tf_config(spec)
    if spec.search is not None:  # the base point is trained; the section is never silently ignored
        print(f"note: {train_note(spec)}", file=sys.stderr)
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise MissingTool("--tensorboard needs the tensorboard package", "pip install tensorboard")
    from ..running.placement import default_out_dir

    if args.out is None:
        outputs.check_dir(str(default_out_dir(spec)), "the default run folder")
    _refuse_before_tensorflow(spec, args)
    import_tensorflow_quietly()
    from ..running.train import train as run_training

    # Keras's progress bar is for terminals; in a log file one line per epoch reads better.
    verbose = 2 if spec.verbose == "auto" and not sys.stdout.isatty() else None
    with _precision_warnings_shown(args.spec):
        result = run_training(spec, out=args.out, overwrite=args.overwrite, resume=args.resume,
                             data_dir=args.data_dir, tensorboard=args.tensorboard, verbose=verbose)
    return TrainOutcome(spec, result, args.tensorboard)


def _refuse_before_tensorflow(spec, args) -> None:
    """What :func:`fmnist_spec.running.train.train` would refuse about the run folder (busy, finished,
    interrupted, a changed spec on --resume, TensorBoard logs inside a run), refused before
    TensorFlow is imported: in a fraction of a second instead of seconds."""
    from ..language.spec import run_spec
    from ..running.placement import (
        check_not_busy,
        check_placement,
        check_worker_target,
        default_out_dir,
        guard_output,
        guard_tensorboard,
    )

    target = guard_output(args.out if args.out is not None else default_out_dir(spec), spec.file)  # '' too
    guard_tensorboard(args.tensorboard, target)
    check_not_busy(target)
    if spec.distribute.strategy == "multi_worker_mirrored":
        check_worker_target(target, args.overwrite)
    else:
        check_placement(target, run_spec(spec), resume=args.resume, overwrite=args.overwrite)


@contextlib.contextmanager
def _precision_warnings_shown(spec_file: str):
    """A :class:`~fmnist_spec.to_keras.precision.PrecisionWarning` as ``SPEC: warning: ...`` on stderr
    when it happens (before training), without Python's ``file:line: UserWarning`` and source line."""
    from ..to_keras.precision import PrecisionWarning

    with warnings.catch_warnings():  # restores showwarning after
        shown = warnings.showwarning

        def show(message, category, *rest, **kwargs):
            if issubclass(category, PrecisionWarning):
                print(f"{spec_file}: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, *rest, **kwargs)

        warnings.showwarning = show
        yield


def search(args) -> SearchOutcome:
    """Search a spec's space on Optuna (its search section): each trial a run folder under
    DIR/trials, then a leaderboard, best.yaml, study.json and pictures; resumable, in parallel."""
    from ..search.run import default_out_dir, guard_search_dir, run_search
    from ..search.storage import check_url

    outputs.check_dir(args.out, "--out")
    spec = require_compile(load_spec(args.spec, flag_overrides(args)), "search")
    out = args.out if args.out is not None else default_out_dir(spec)
    guard_search_dir(out)  # before TensorFlow's import
    check_url(args.storage)
    stream = sys.stderr if args.format == "json" else sys.stdout
    result = run_search(spec, out=out, n_trials=args.trials, workers=args.processes, storage=args.storage,
                        study=args.study, data_dir=args.data_dir,
                        echo=lambda line: print(line, file=stream, flush=True), lines_to_stderr=args.format == "json")
    return SearchOutcome(spec, result)


def codegen(args) -> TextResult:
    """Write the spec as a standalone Keras script (keras.Sequential, compile, fit)."""
    outputs.check_file(args.output, "--output", (".py",), args.overwrite)
    from ..tools.codegen import generate
    from ..tools.codegen_search import generate_search

    spec = load_spec(args.spec, flag_overrides(args))
    if spec.search is not None:  # the same search in Keras + Optuna
        return _text_out(generate_search(spec), args.output,
                         f"wrote {args.output} ({spec.style} style, Optuna search of {spec.search.n_trials} trials)")
    return _text_out(generate(spec), args.output, f"wrote {args.output} ({spec.style} style)")


def _text_out(text: str, output: str | None, done: str, notes=()) -> TextResult:
    """Write ``text`` atomically to ``output`` when given; the result says what to print."""
    if output:
        from ..files import write_text

        _written(output, write_text, output, text)
        return TextResult(text, output, done, list(notes))
    return TextResult(text, notes=list(notes))


def render(args) -> TextResult:
    """Print the resolved spec (defaults filled in), each value marked file, extends, --set or default."""
    from ..tools.render import render as render_spec

    return TextResult(render_spec(args.spec, flag_overrides(args)))


def export(args) -> TextResult:
    """Write the spec of a saved keras.Sequential (.keras file): layers, compile settings, name."""
    outputs.check_file(args.output, "--output", (".yaml", ".yml"), args.overwrite)
    if not args.model.endswith(".keras"):
        raise outputs.OutputPathError(f"{args.model!r} must end in .keras (Keras's native format)",
                                      "export reads a model saved with model.save('name.keras')")
    from ..tools import preflight

    preflight.check_export(args.model)  # before TensorFlow: a refusal takes well under a second
    import_tensorflow_quietly()
    from ..tools.export import export_text

    text, notes = export_text(args.model)
    return _text_out(text, args.output, f"wrote {args.output}", notes)


def compare(args) -> CompareOutcome:
    """Train several specs (reusing finished runs) and print one table of their figures."""
    outputs.check_dir(args.out, "--out")
    overrides = flag_overrides(args)
    specs = [require_compile(load_spec(_spec_of(path), overrides), "compare") for path in args.specs]
    import_tensorflow_quietly()
    from ..tools.compare import compare as compare_runs

    as_json = args.format == "json"
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if as_json else None
    # Keras's progress bar is for terminals; in a log file one line per epoch reads better.
    verbose = None
    if as_json:
        verbose = 0
    elif not sys.stdout.isatty() and all(spec.verbose == "auto" for spec in specs):
        verbose = 2
    result = compare_runs(specs, out=args.out, overwrite=args.overwrite, data_dir=args.data_dir,
                          verbose=verbose, log=progress)
    return CompareOutcome(result, 0 if result.ok else 1)


def _spec_of(path: str) -> str:
    """A run folder's ``spec.yaml`` (``compare DIR/trials/*``), else ``path`` itself."""
    folder = Path(path)
    return str(folder / "spec.yaml") if folder.is_dir() and (folder / "spec.yaml").is_file() else path


def evaluate(args) -> EvaluateOutcome:
    """Evaluate a run folder, a .keras model or a spec with --weights on the test set (or
    --split validation), overall and per class."""
    outputs.check_file(args.confusion, "--confusion", (".png", ".svg", ".pdf"), args.overwrite)
    from ..tools import preflight

    if args.weights is None:  # before TensorFlow: a refusal takes well under a second
        preflight.check_model(args.target)
    else:
        preflight.check_weights(args.target, args.weights)
    import_tensorflow_quietly()
    from ..tools.class_names import class_names
    from ..tools.evaluate import evaluate as evaluate_model
    from ..tools.evaluate import report

    evaluation = evaluate_model(args.target, data_dir=args.data_dir, split=args.split, weights=args.weights)
    notes = []
    if args.confusion:
        from ..running.plots import confusion_png
        from ..tools.class_names import for_pictures

        names = for_pictures(args.class_names)
        notes = names.notes
        with names.fonts():
            _written(args.confusion, confusion_png, evaluation.confusion, args.confusion,
                     f"Confusion matrix, {evaluation.split} set (accuracy {evaluation.accuracy:.4f})", names.names)
    return EvaluateOutcome(evaluation, report(evaluation, class_names(args.class_names)), args.confusion, notes)


def predict(args) -> PredictOutcome:
    """Print the predicted class and its probability for 28x28 grayscale images."""
    from ..tools import preflight

    preflight.check_model(args.model)  # before TensorFlow: a refusal takes well under a second
    import_tensorflow_quietly()
    from ..tools.class_names import class_names
    from ..tools.evaluate import predict as predict_classes

    return PredictOutcome(predict_classes(args.model, args.images, class_names(args.class_names)))


def _count(n: int, noun: str) -> str:
    """``1 filter``, ``2,649 filters``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def inspect(args) -> TextResult:
    """Draw what a trained network learned: a Conv2D layer's filters, one image's feature maps
    in a layer, or the test images it gets wrong (PNG or SVG); a spec's untrained filters."""
    from ..tools import inspect as inspecting

    outputs.check_file(args.output, "-o/--output", (".png", ".svg"), args.overwrite)
    inspecting.check_image_flag(args.image, args.feature_maps)
    inspecting.check_spec_target(args.target, args.filters)
    if not inspecting.is_spec(args.target):
        from ..tools import preflight

        preflight.check_model(args.target)  # before TensorFlow: a refusal takes well under a second
    import_tensorflow_quietly()
    from ..tools import pictures
    from ..tools.class_names import for_pictures

    loaded = (inspecting.load_untrained(args.target) if inspecting.is_spec(args.target)
              else inspecting.load(args.target))
    names = for_pictures("en" if args.filters is not None else args.class_names)  # filters name no class
    notes = list(names.notes)
    with names.fonts():
        if args.filters is not None:
            found = inspecting.filters(loaded.model, args.filters)
            notes += _written(args.output, pictures.draw_filters, found, args.output)[1]
            done = f"drew {_count(found.kernel.shape[-1], 'filter')} of {found.layer} to {args.output}"
        elif args.feature_maps is not None:
            image, name, label = inspecting.image_from(args.image, data_dir=args.data_dir)
            found = inspecting.feature_maps(loaded, args.feature_maps, image, name, label)
            _written(args.output, pictures.draw_feature_maps, found, args.output, names.names)
            done = (f"drew {_count(min(found.maps.shape[-1], pictures.MAX_TILES), 'feature map')} of {name} in "
                    f"{found.layer} to {args.output}")
        else:
            from ..running.data import load_fashion_mnist

            found = inspecting.mistakes(loaded, load_fashion_mnist(args.data_dir))
            _written(args.output, pictures.draw_mistakes, found, args.output, args.count, names.names)
            shown, wrong = min(args.count, len(found.indices)), len(found.indices)
            done = (f"drew {'all ' if shown == wrong else f'{shown:,} of '}"
                    f"{_count(wrong, 'misclassified test image')} to {args.output}")
    return TextResult("", args.output, done, notes)
