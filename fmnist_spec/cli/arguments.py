"""The argument parser of ``fmnist-spec``.

argparse only reads text here: a flag that sets a spec value (``--epochs``,
``--seed``, ``--style``, ``--distribute``, ``--workers``, ``--worker-index``,
``--timeout``) keeps its text, which :mod:`.overrides` turns into a spec
override checked by the schema; output paths are checked by :mod:`.outputs`.
A usage error raises :class:`UsageError` (exit status 2 in
:func:`fmnist_spec.cli.main.main`) instead of leaving the process.
"""

from __future__ import annotations

import argparse
import difflib

from . import commands

DATA_DIR_HELP = "directory with the four Fashion-MNIST IDX files"
SET_HELP = ("override a value of the spec, e.g. fit.epochs=10, compile.optimizer.learning_rate=0.01, "
            "layers[0].activation=relu (VALUE is YAML; repeatable; checked like the file; "
            "the flags that set spec values are applied after every --set)")


class UsageError(Exception):
    """The command line itself is wrong (unknown command or flag, missing argument).

    Attributes:
        usage: The usage line of the (sub)command.
        hint: "did you mean …?" or where to look.
    """

    def __init__(self, message: str, usage: str, hint: str):
        super().__init__(message)
        self.usage, self.hint = usage, hint


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of exiting."""

    def error(self, message: str):
        hint = f"try '{self.prog} --help'"
        if "invalid choice:" in message and "'" in message:
            wrong = message.split("'")[1]
            choices = [a for action in self._actions if action.choices for a in action.choices]
            close = difflib.get_close_matches(wrong, choices, n=1)
            if close:
                hint = f"did you mean '{close[0]}'? ({hint})"
        raise UsageError(message, self.format_usage().strip(), hint)


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)


def _add_format(p, what: str) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help=f"json prints {what} in the JSON shape of docs/cli.md")


def _add_overwrite(p, what: str) -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what} if it exists already")


def _add_spec_flags(p, *, train: bool) -> None:
    """The flags that set spec values (see :mod:`fmnist_spec.cli.overrides`)."""
    p.add_argument("--style", metavar="{list,add}", help="set style (how keras.Sequential is built)")
    if not train:
        return
    _add_epochs_seed(p)
    p.add_argument("--distribute", metavar="{default,mirrored,multi_worker_mirrored}",
                   help="set distribute.strategy (tf.distribute strategy)")
    p.add_argument("--workers", metavar="HOST:PORT,...",
                   help="set distribute.workers, every worker's address, the same list on every worker, "
                        "and distribute.strategy=multi_worker_mirrored (without workers, "
                        "multi_worker_mirrored reads TF_CONFIG)")
    p.add_argument("--worker-index", metavar="I",
                   help="set distribute.worker_index: this worker's position in the workers; "
                        "worker 0 is the chief and writes the run folder")
    p.add_argument("--timeout", metavar="SECONDS",
                   help="set distribute.timeout_seconds: the longest wait for the other workers")


def _add_epochs_seed(p) -> None:
    """``--epochs`` and ``--seed`` (spec values, see :mod:`fmnist_spec.cli.overrides`)."""
    p.add_argument("--epochs", metavar="N", help="set fit.epochs")
    p.add_argument("--seed", metavar="N",
                   help="set seed: Keras's random seed and deterministic TensorFlow ops")


def _add_search(sub) -> None:
    """``search``: its flags besides --set, --epochs and --seed, which are train's."""
    p = _command(sub, "search", commands.search)
    p.add_argument("spec", metavar="SPEC", help="a spec with a search section (docs/search.md)")
    p.add_argument("--out", type=path, metavar="DIR",
                   help="the search folder: the study, trials/<number> run folders, best.yaml, study.json, "
                        "pictures (default runs/<spec file name>-search); the same DIR again continues the study")
    p.add_argument("--trials", type=_whole(1, MAX_TRIALS, "the schema's search.n_trials"), metavar="N",
                   help="total of trials of the study (default search.n_trials; a grid stops at its size)")
    p.add_argument("--workers", type=_whole(1, MAX_WORKERS, "worker processes on one machine"), default=1,
                   dest="processes", metavar="N",
                   help="worker processes on this machine sharing the study (default 1); each loads the data "
                        "once, and their TensorFlow threads are limited so that workers x threads <= cores")
    p.add_argument("--storage", metavar="URL",
                   help="keep the study in a PostgreSQL database (postgresql://USER:PASSWORD@HOST/DB) that "
                        "workers on other machines join with --study; default DIR/study.journal")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: from the spec's name)")
    p.add_argument("--data-dir", type=path, metavar="DIR", help=DATA_DIR_HELP)
    _add_epochs_seed(p)
    _add_format(p, "the leaderboard and the best trial (trial lines go to stderr)")
    _add_set(p)


def _add_class_names(p) -> None:
    p.add_argument("--class-names", choices=("en", "ko"), default="en",
                   help="name the classes in English (Fashion-MNIST's names) or Korean (the textbook's: "
                        "티셔츠, 바지, ...; pictures need the NanumGothic font, docs/workflow.md)")


MAX_TRIALS = 10_000
"""Most trials ``search --trials`` takes: the schema's ``search.n_trials`` maximum."""
MAX_WORKERS = 64
"""Most worker processes ``search --workers`` starts on one machine (each imports TensorFlow)."""


def path(text: str) -> str:
    """An argparse type: a path that is not empty (``--out ''`` would name the current folder,
    which the user did not)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path. Received: '' (an empty string)")
    return text


def _whole(low: int, high: int, what: str):
    """An argparse type: a whole number from ``low`` to ``high`` (``what`` says why)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high:,} ({what}). "
                                             f"Received: {text!r}")
        return value
    return parse


def _count(text: str) -> int:
    """``--count``: an int from 1 to ``pictures.MAX_MISTAKES``."""
    from ..tools.pictures import MAX_MISTAKES

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_MISTAKES:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_MISTAKES} (one picture; "
                                         f"docs/limits.md). Received: {text!r}")
    return value


def _command(sub, name: str, function):
    """A subcommand whose help is the first line of ``function``'s docstring."""
    doc = function.__doc__.strip()
    p = sub.add_parser(name, help=doc.splitlines()[0], description=doc, allow_abbrev=False)
    p.set_defaults(run=function, command=name)
    return p


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``fmnist-spec``."""
    top = Parser(prog="fmnist-spec", allow_abbrev=False,
                 description="Declarative Keras model specs for Fashion-MNIST: validate, build, train, "
                             "compare, evaluate, predict, inspect.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = _command(sub, "validate", commands.validate)
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (.yaml)")
    _add_format(p, "every file's facts and every problem")
    p.add_argument("--summary", action="store_true",
                   help="print each layer's inferred output shape and parameter count")
    _add_set(p)

    p = _command(sub, "schema", commands.schema)
    p.add_argument("--install", nargs="?", const="", metavar="DIR",
                   help="write model-spec.schema.json to DIR (default ~/.local/share/fmnist-spec) "
                        "and print the modeline that points a spec at it")

    p = _command(sub, "build", commands.build)
    p.add_argument("spec", metavar="SPEC")
    _add_spec_flags(p, train=False)
    p.add_argument("--summary", action="store_true", help="print Keras's model.summary()")
    _add_format(p, "the model's name, parameters and layers")
    p.add_argument("--save", type=path, metavar="PATH.keras", help="save the built model")
    p.add_argument("--plot", type=path, metavar="PATH.png", help="draw the model with keras.utils.plot_model (needs Graphviz)")
    _add_overwrite(p, "the --save and --plot files")
    _add_set(p)

    p = _command(sub, "train", commands.train)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--out", type=path, metavar="DIR", help="run folder (default runs/<spec file name>)")
    p.add_argument("--data-dir", type=path, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--tensorboard", type=path, metavar="DIR",
                   help="also write TensorBoard logs there (keras.callbacks.TensorBoard)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in the run folder from its last finished epoch")
    _add_overwrite(p, "a finished run in the run folder (once the new run has finished)")
    _add_spec_flags(p, train=True)
    _add_set(p)

    _add_search(sub)

    p = _command(sub, "codegen", commands.codegen)
    p.add_argument("spec", metavar="SPEC")
    _add_spec_flags(p, train=False)
    p.add_argument("-o", "--output", type=path, metavar="FILE.py", help="write the script here (default: print it)")
    _add_overwrite(p, "the --output file")
    _add_set(p)

    p = _command(sub, "render", commands.render)
    p.add_argument("spec", metavar="SPEC")
    _add_set(p)

    p = _command(sub, "export", commands.export)
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("-o", "--output", type=path, metavar="SPEC.yaml", help="write the spec here (default: print it)")
    _add_overwrite(p, "the --output file")

    p = _command(sub, "compare", commands.compare)
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="spec files (.yaml), or run folders (a search's DIR/trials/*), read back as they are")
    p.add_argument("--epochs", metavar="N", help="set fit.epochs of every spec")
    p.add_argument("--out", type=path, metavar="DIR", help="tables, curves and run folders (default runs/compare)")
    p.add_argument("--overwrite", action="store_true",
                   help="train every spec again, replacing its ended run once the new one has ended")
    p.add_argument("--data-dir", type=path, metavar="DIR", help=DATA_DIR_HELP)
    _add_format(p, "the table's rows (progress goes to stderr)")
    _add_set(p)

    p = _command(sub, "evaluate", commands.evaluate)
    p.add_argument("target", metavar="RUN_DIR|MODEL.keras|SPEC",
                   help="a run folder (its spec.yaml says how to prepare the data), a .keras file (one inside "
                        "a run folder, such as a ModelCheckpoint's, takes the folder's spec.yaml), or with "
                        "--weights a spec")
    p.add_argument("--weights", type=path, metavar="FILE.weights.h5",
                   help="build the spec's model and load these weights (model.save_weights; a run folder's "
                        "model.weights.h5)")
    p.add_argument("--split", choices=("test", "validation"), default="test",
                   help="the 10,000 test images (default) or the validation split the spec's data settings make")
    p.add_argument("--data-dir", type=path, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--confusion", type=path, metavar="PATH.png", help="also draw the split's confusion matrix")
    _add_overwrite(p, "the --confusion file")
    _add_class_names(p)

    p = _command(sub, "predict", commands.predict)
    p.add_argument("model", metavar="MODEL.keras", help="a .keras file or a run folder")
    p.add_argument("images", nargs="+", metavar="IMAGE.png", help="28x28 grayscale (mode L) images")
    _add_class_names(p)

    p = _command(sub, "inspect", commands.inspect)
    p.add_argument("target", metavar="RUN_DIR|MODEL.keras|SPEC.yaml",
                   help="a run folder, a .keras file, or (with --filters) a spec, built untrained")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filters", metavar="LAYER",
                      help="draw the kernel of this Conv2D layer (name, or index as in 'build --summary')")
    what.add_argument("--feature-maps", metavar="LAYER",
                      help="draw the feature maps --image produces in this layer (name or index)")
    what.add_argument("--mistakes", action="store_true",
                      help="draw the test images the model classifies wrongly, with true and predicted class")
    p.add_argument("--image", metavar="N|IMAGE.png",
                   help="for --feature-maps: a test-set index (0..9999) or a 28x28 grayscale PNG")
    p.add_argument("--count", type=_count, default=25, metavar="N",
                   help="for --mistakes: draw the first N (default 25)")
    p.add_argument("-o", "--output", required=True, type=path, metavar="PATH.png",
                   help="the picture; .png or .svg")
    p.add_argument("--data-dir", type=path, metavar="DIR", help=DATA_DIR_HELP)
    _add_class_names(p)
    _add_overwrite(p, "the --output file")
    return top
