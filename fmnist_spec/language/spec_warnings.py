"""Warnings: choices that are legal but probably unintended.

Each warning has a stable code. ``validate`` and ``train`` show them (they
never stop a run); a spec silences the ones it means with a top-level
``warnings: {ignore: [code, ...]}``. Like :mod:`fmnist_spec.language.checks`, each rule
is a small generator over the schema-valid spec with every default filled in
(:func:`fmnist_spec.language.schema.with_defaults`) that yields
``(code, path, message, hint)`` and does not know about positions;
:func:`run_warnings` attaches them. The one rule about how a value was written
(a leading zero) reads the parsed :class:`Source` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import WARNING, Problem
from ..source.yaml_source import Source
from . import registry
from .checks import split_sizes
from .schema import default, with_defaults

DROPOUT_RATE = 0.8
"""Dropout rates from this one up drop most of the signal.

Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
Overfitting", JMLR 15 (2014), use 0.5 for hidden units."""
LEARNING_RATES = {"SGD": 1.0, "Adagrad": 1.0, "RMSprop": 0.1, "Adam": 0.1}
"""Learning rates above these are warned about (Keras's defaults, the schema's, are 0.01 for
SGD and 0.001 for the others); keyed by the registry's optimizer class names."""
EPOCHS = 100
"""More epochs than this are warned about (the notes train for 5)."""
MIN_PIXEL_RANGE = 0.1
"""Largest pixel value after scaling (255 / scale) below which inputs are nearly all zero."""

CODES = {
    "leading-zero-integer": "an integer written with a leading zero (010); YAML 1.1 tools read it as octal",
    "hidden-softmax": "softmax on a layer other than the last",
    "hidden-linear": "a Dense layer without activation followed by another Dense layer",
    "high-dropout": f"a Dropout rate of {DROPOUT_RATE} or more",
    "high-learning-rate": "a learning rate far above the optimizer's usual range",
    "many-epochs": f"more than {EPOCHS} epochs",
    "batch-larger-than-data": "a batch size larger than the training split",
    "large-validation-split": "a validation split larger than the training split",
    "tiny-pixels": f"a scale that leaves every pixel below {MIN_PIXEL_RANGE}",
    "sigmoid-output": "a sigmoid output layer with a categorical cross-entropy loss",
    "early-stopping-keeps-last": "EarlyStopping without restore_best_weights",
    "checkpoint-every-epoch": "ModelCheckpoint without save_best_only",
    "early-stopping-never-starts": "EarlyStopping whose start_from_epoch is not below the epochs",
    "reduce-lr-never-reduces": "ReduceLROnPlateau whose min_lr is not below the learning rate",
}
"""Warning code -> what it is about (the schema's ``warnings.ignore`` lists the same codes)."""

Finding = tuple


def _silence(code: str) -> str:
    return f"if this is intended, add 'warnings: {{ignore: [{code}]}}' to the spec"


def warn_leading_zero_integers(source: Source) -> Iterator[Finding]:
    """``010`` is 10 to fmnist-spec (YAML 1.2) but 8 to PyYAML's ``yaml.safe_load`` (YAML 1.1)."""
    for path, written in source.leading_zeros:
        value = int(written, 10)
        octal = ""
        if all(c in "01234567" for c in written.lstrip("+-")):
            octal = (
                f" but YAML 1.1 tools such as PyYAML's yaml.safe_load read it as the octal {int(written, 8)}"
            )
        yield (
            "leading-zero-integer",
            path,
            f"{written} has a leading zero: fmnist-spec (YAML 1.2) reads it as {value}{octal}",
            f"write {value} (or 0o{written.lstrip('+-0') or '0'} if octal is meant); "
            + _silence("leading-zero-integer"),
        )


def _layers(spec: dict):
    return list(enumerate(spec["layers"]))


def warn_hidden_softmax(spec: dict) -> Iterator[Finding]:
    """softmax squashes a hidden layer's outputs to sum to 1, which starves the next layer."""
    for i, layer in _layers(spec)[:-1]:
        if layer.get("activation") == "softmax":
            yield (
                "hidden-softmax",
                ("layers", i, "activation"),
                f"layers[{i}] is a hidden layer with activation softmax: its {layer.get('units')} outputs "
                "always sum to 1, so the next layer sees tiny, dependent values",
                "use relu or sigmoid on hidden layers; keep softmax for the output layer",
            )


def warn_sigmoid_output(spec: dict) -> Iterator[Finding]:
    """sigmoid outputs do not sum to 1; Keras's categorical cross-entropy rescales them to.

    It trains (a fresh-user test measured 0.73 accuracy after 1 epoch on 6,000
    images, against 0.30 for a relu output), but it is not the softmax
    classifier the notes build."""
    i, last = _layers(spec)[-1]
    loss = spec["compile"]["loss"]
    from_logits = isinstance(loss, dict) and loss["from_logits"]
    if last["type"] == "Dense" and last["activation"] == "sigmoid" and not from_logits:
        yield (
            "sigmoid-output",
            ("layers", i, "activation"),
            "the output layer's activation is sigmoid: its 10 outputs do not sum to 1, and the "
            "cross-entropy loss rescales them to do so, which is not what a softmax classifier computes",
            "set activation: softmax (the usual choice for one label per image)",
        )


def warn_hidden_linear(spec: dict) -> Iterator[Finding]:
    """Two Dense layers with nothing non-linear between them equal one Dense layer."""
    layers = _layers(spec)
    for i, layer in layers[:-1]:
        if layer["type"] != "Dense" or layer["activation"] not in (None, "linear"):
            continue
        follows = [entry for _, entry in layers[i + 1 :] if entry["type"] != "Dropout"]
        if follows and follows[0]["type"] == "Dense":
            yield (
                "hidden-linear",
                ("layers", i),
                f"layers[{i}] is a Dense layer without activation followed by another Dense layer: "
                "two linear maps in a row are one linear map, so the extra layer adds parameters "
                "but no power",
                "add 'activation: relu' (or sigmoid, as in the notes) to the hidden layer",
            )


def warn_high_dropout(spec: dict) -> Iterator[Finding]:
    """Dropout rate of 0.8 or more keeps at most a fifth of the signal."""
    for i, layer in _layers(spec):
        if layer["type"] == "Dropout" and layer["rate"] >= DROPOUT_RATE:
            rate = layer["rate"]
            yield (
                "high-dropout",
                ("layers", i, "rate"),
                f"Dropout rate {rate} drops {rate:.0%} of the inputs during training (rate is the "
                f"fraction dropped, not kept)",
                f"did you mean rate: {round(1 - rate, 4)}? 0.2-0.5 is usual; " + _silence("high-dropout"),
            )


def warn_high_learning_rate(spec: dict) -> Iterator[Finding]:
    """Learning rates far above the usual range make the loss diverge."""
    optimizer = spec["compile"]["optimizer"]
    if not isinstance(optimizer, dict):  # a name string: Keras's default learning rate
        return
    kind, rate = optimizer["type"], optimizer["learning_rate"]
    keras_default = default("$defs", kind, "learning_rate")
    path = ("compile", "optimizer", "learning_rate")
    name = "learning_rate"
    if isinstance(rate, dict):  # a schedule: its largest rate, at the key that sets it
        if rate["type"] == "PiecewiseConstantDecay":
            name, rate = "values", max(rate["values"])
        elif (rate.get("warmup_target") or 0) > rate["initial_learning_rate"]:
            name, rate = "warmup_target", rate["warmup_target"]
        else:
            name, rate = "initial_learning_rate", rate["initial_learning_rate"]
        path += (name,)
    if rate > LEARNING_RATES[kind]:
        yield (
            "high-learning-rate",
            path,
            f"{name} {rate} is high for {kind} (Keras's default learning_rate is "
            f"{keras_default}); the loss is likely to diverge or become NaN",
            f"try {0.1 if kind == 'SGD' else keras_default}; " + _silence("high-learning-rate"),
        )


def warn_many_epochs(spec: dict) -> Iterator[Finding]:
    """Hundreds of epochs without early stopping mostly overfit."""
    epochs = spec["fit"]["epochs"]
    stops = any(c["type"] == "EarlyStopping" for c in spec["fit"]["callbacks"])
    if epochs > EPOCHS and not stops:
        yield (
            "many-epochs",
            ("fit", "epochs"),
            f"{epochs} epochs is a long run with no early stopping: training loss keeps falling while "
            "validation loss usually turns upward long before (the notes train for 5)",
            "start with 5-20 epochs and compare the validation curve; " + _silence("many-epochs"),
        )


def warn_batch_larger_than_data(spec: dict) -> Iterator[Finding]:
    """A batch larger than the training split means one gradient step per epoch."""
    batch = spec["fit"]["batch_size"]
    n_train = split_sizes(spec)[0]
    if batch > n_train:
        yield (
            "batch-larger-than-data",
            ("fit", "batch_size"),
            f"batch_size {batch:,} is larger than the {n_train:,} training images, so each epoch is a "
            "single gradient step",
            "use a batch size such as 32 (Keras's default)",
        )


def warn_large_validation_split(spec: dict) -> Iterator[Finding]:
    """A validation split over half the data leaves less to train on than to validate on."""
    n_train, n_val, _ = split_sizes(spec)
    if n_val > n_train:
        test_size = spec["data"]["validation"]["test_size"]
        yield (
            "large-validation-split",
            ("data", "validation", "test_size"),
            f"test_size {test_size} holds out {n_val:,} images for validation and trains on only {n_train:,}",
            "test_size is the validation fraction: the notes use 0.2 (48,000 / 12,000)",
        )


def warn_tiny_pixels(spec: dict) -> Iterator[Finding]:
    """A very large scale leaves every pixel near 0."""
    scale = spec["data"]["scale"]
    if 255 / scale < MIN_PIXEL_RANGE:
        yield (
            "tiny-pixels",
            ("data", "scale"),
            f"dividing by scale {scale:g} leaves pixels in 0..{255 / scale:.2g}; the inputs are nearly "
            "all zero",
            "write scale: 255.0, which maps the pixels to 0..1",
        )


def _callbacks(spec: dict, kind: str):
    return [(i, c) for i, c in enumerate(spec["fit"]["callbacks"]) if c["type"] == kind]


def warn_early_stopping_keeps_last(spec: dict) -> Iterator[Finding]:
    """Without restore_best_weights the stopped model is the last epoch's, ``patience`` epochs past the best."""
    for i, callback in _callbacks(spec, "EarlyStopping"):
        if callback["restore_best_weights"]:
            continue
        patience = callback["patience"]
        yield (
            "early-stopping-keeps-last",
            ("fit", "callbacks", i),
            f"EarlyStopping without restore_best_weights: the run saves the model of the last epoch, "
            f"{patience} epoch{'s' if patience != 1 else ''} after the best one, not the best one",
            "add restore_best_weights: true, as the textbook does; " + _silence("early-stopping-keeps-last"),
        )


def warn_checkpoint_every_epoch(spec: dict) -> Iterator[Finding]:
    """Without save_best_only a checkpoint is overwritten every epoch and ends as the final model
    (unless its filepath names the epoch or a figure: then each epoch writes a file of its own)."""
    for i, callback in _callbacks(spec, "ModelCheckpoint"):
        if not callback["save_best_only"] and "{" not in callback["filepath"]:
            yield (
                "checkpoint-every-epoch",
                ("fit", "callbacks", i),
                f"ModelCheckpoint without save_best_only overwrites {callback['filepath']} every epoch, so "
                "it ends as the last epoch's model, which the run saves anyway",
                "add save_best_only: true to keep the best epoch's model; "
                + _silence("checkpoint-every-epoch"),
            )


def warn_early_stopping_never_starts(spec: dict) -> Iterator[Finding]:
    """Keras's EarlyStopping ignores the epochs before ``start_from_epoch`` (0-based): from
    ``fit.epochs`` on, it never watches an epoch, so it neither stops the run nor restores weights."""
    epochs = spec["fit"]["epochs"]
    for i, callback in _callbacks(spec, "EarlyStopping"):
        start = callback["start_from_epoch"]
        if start >= epochs:
            yield (
                "early-stopping-never-starts",
                ("fit", "callbacks", i, "start_from_epoch"),
                (f"EarlyStopping waits {start:,} epoch{'s' if start != 1 else ''} before it watches "
                 f"{callback['monitor']} (start_from_epoch), but the run has "
                 f"{epochs:,} epoch{'s' if epochs != 1 else ''}: it never watches one, so it neither stops "
                 "the run nor restores the best weights"),
                (f"set start_from_epoch below {epochs} (0 watches from the first epoch), or remove the "
                 "callback; " + _silence("early-stopping-never-starts")),
            )


def _learning_rate(spec: dict) -> float | None:
    """The optimizer's fixed learning rate (Keras's default for a name), or None for a schedule."""
    optimizer = spec["compile"]["optimizer"]
    if isinstance(optimizer, str):
        return default("$defs", registry.OPTIMIZER_CLASSES[optimizer.lower()], "learning_rate")
    rate = optimizer["learning_rate"]
    return None if isinstance(rate, dict) else rate


def warn_reduce_lr_never_reduces(spec: dict) -> Iterator[Finding]:
    """Keras's ReduceLROnPlateau lowers the rate only while it is above ``min_lr``
    (``if old_lr > min_lr``), so a ``min_lr`` at or above the learning rate makes it do nothing."""
    rate = _learning_rate(spec)
    if rate is None:  # a schedule: check_reduce_lr_has_a_fixed_rate reports it
        return
    for i, callback in _callbacks(spec, "ReduceLROnPlateau"):
        min_lr = callback["min_lr"]
        if min_lr >= rate:
            yield (
                "reduce-lr-never-reduces",
                ("fit", "callbacks", i, "min_lr"),
                (f"ReduceLROnPlateau's min_lr {min_lr:g} is not below the learning rate {rate:g}: Keras "
                 "lowers the rate only while it is above min_lr, so the callback never changes it"),
                (f"set min_lr below {rate:g} (e.g. {rate / 100:g}), or remove the callback; "
                 + _silence("reduce-lr-never-reduces")),
            )


SOURCE_WARNINGS: list[Callable[[Source], Iterator[Finding]]] = [warn_leading_zero_integers]
"""Rules about how values were written; they read the parsed :class:`Source`."""

WARNINGS: list[Callable[[dict], Iterator[Finding]]] = [
    warn_hidden_softmax,
    warn_hidden_linear,
    warn_high_dropout,
    warn_high_learning_rate,
    warn_many_epochs,
    warn_batch_larger_than_data,
    warn_large_validation_split,
    warn_tiny_pixels,
    warn_sigmoid_output,
    warn_early_stopping_keeps_last,
    warn_checkpoint_every_epoch,
    warn_early_stopping_never_starts,
    warn_reduce_lr_never_reduces,
]
"""Every rule about the filled-in spec, in the order they run (after :data:`SOURCE_WARNINGS`)."""


def run_warnings(source: Source, filled: dict | None = None, rules=None) -> list[Problem]:
    """Every warning of a schema-valid ``source`` not silenced by the spec, located.

    Args:
        source: The parsed spec, for positions and how values were written.
        filled: ``with_defaults(source.data)`` when the caller has it already.
        rules: The rules about the filled-in spec to run (default :data:`WARNINGS`).
    """
    filled = filled if filled is not None else with_defaults(source.data)
    silenced = set(filled["warnings"]["ignore"])
    findings = [f for rule in SOURCE_WARNINGS for f in rule(source)]
    findings += [f for rule in (WARNINGS if rules is None else rules) for f in rule(filled)]
    problems = []
    for code, path, message, hint in findings:
        if code in silenced:
            continue
        where = source.problem(path, message, hint, WARNING)
        problems.append(Problem(where.file, where.line, where.column, where.path, where.message,
                                where.hint, WARNING, code))
    return problems
