"""Warnings: choices that are legal but probably unintended.

Each warning has a stable code. ``validate`` and ``train`` show them (they
never stop a run); a spec silences the ones it means with a top-level
``warnings: {ignore: [code, ...]}``. Like :mod:`fmnist_spec.language.checks`, each rule
is a small generator over the schema-valid spec that yields
``(code, path, message, hint)`` and does not know about positions;
:func:`run_warnings` attaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import WARNING, Problem
from ..source.yaml_source import Source

DROPOUT_RATE = 0.8
"""Dropout rates from this one up drop most of the signal.

Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
Overfitting", JMLR 15 (2014), use 0.5 for hidden units."""
LEARNING_RATES = {"SGD": 1.0, "Adagrad": 1.0, "RMSprop": 0.1, "Adam": 0.1}
"""Learning rates above these are warned about; Keras's defaults are 0.01 (SGD) and 0.001 (the others)."""
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


def _layers(source: Source):
    return list(enumerate(source.data["layers"]))


def warn_hidden_softmax(source: Source) -> Iterator[Finding]:
    """softmax squashes a hidden layer's outputs to sum to 1, which starves the next layer."""
    for i, layer in _layers(source)[:-1]:
        if layer.get("activation") == "softmax":
            yield (
                "hidden-softmax",
                ("layers", i, "activation"),
                f"layers[{i}] is a hidden layer with activation softmax: its {layer.get('units')} outputs "
                "always sum to 1, so the next layer sees tiny, dependent values",
                "use relu or sigmoid on hidden layers; keep softmax for the output layer",
            )


def warn_sigmoid_output(source: Source) -> Iterator[Finding]:
    """sigmoid outputs do not sum to 1; Keras's categorical cross-entropy rescales them to.

    It trains (a fresh-user test measured 0.73 accuracy after 1 epoch on 6,000
    images, against 0.30 for a relu output), but it is not the softmax
    classifier the notes build."""
    layers = _layers(source)
    i, last = layers[-1]
    loss = source.data["compile"]["loss"]
    from_logits = isinstance(loss, dict) and loss.get("from_logits", False)
    if last.get("type", "Dense") == "Dense" and last.get("activation") == "sigmoid" and not from_logits:
        yield (
            "sigmoid-output",
            ("layers", i, "activation"),
            "the output layer's activation is sigmoid: its 10 outputs do not sum to 1, and the "
            "cross-entropy loss rescales them to do so, which is not what a softmax classifier computes",
            "set activation: softmax (the usual choice for one label per image)",
        )


def warn_hidden_linear(source: Source) -> Iterator[Finding]:
    """Two Dense layers with nothing non-linear between them equal one Dense layer."""
    layers = _layers(source)
    for i, layer in layers[:-1]:
        if layer.get("type", "Dense") != "Dense" or layer.get("activation") not in (None, "linear"):
            continue
        follows = [entry for _, entry in layers[i + 1 :] if entry.get("type") != "Dropout"]
        if follows and follows[0].get("type", "Dense") == "Dense":
            yield (
                "hidden-linear",
                ("layers", i),
                f"layers[{i}] is a Dense layer without activation followed by another Dense layer: "
                "two linear maps in a row are one linear map, so the extra layer adds parameters "
                "but no power",
                "add 'activation: relu' (or sigmoid, as in the notes) to the hidden layer",
            )


def warn_high_dropout(source: Source) -> Iterator[Finding]:
    """Dropout rate of 0.8 or more keeps at most a fifth of the signal."""
    for i, layer in _layers(source):
        rate = layer.get("rate")
        if layer.get("type") == "Dropout" and rate >= DROPOUT_RATE:
            yield (
                "high-dropout",
                ("layers", i, "rate"),
                f"Dropout rate {rate} drops {rate:.0%} of the inputs during training (rate is the "
                f"fraction dropped, not kept)",
                f"did you mean rate: {round(1 - rate, 4)}? 0.2-0.5 is usual; " + _silence("high-dropout"),
            )


def warn_high_learning_rate(source: Source) -> Iterator[Finding]:
    """Learning rates far above the usual range make the loss diverge."""
    optimizer = source.data["compile"].get("optimizer")
    if not isinstance(optimizer, dict) or "learning_rate" not in optimizer:
        return
    kind, rate = optimizer["type"], optimizer["learning_rate"]
    path = ("compile", "optimizer", "learning_rate")
    if isinstance(rate, dict):  # a schedule: its largest rate
        key = "values" if rate["type"] == "PiecewiseConstantDecay" else "initial_learning_rate"
        path += (key,)
        rate = max(rate[key]) if key == "values" else max(rate[key], rate.get("warmup_target") or 0)
    if rate > LEARNING_RATES[kind]:
        yield (
            "high-learning-rate",
            path,
            f"learning_rate {rate} is high for {kind} (Keras's default is "
            f"{0.01 if kind == 'SGD' else 0.001}); the loss is likely to diverge or become NaN",
            f"try {0.1 if kind == 'SGD' else 0.001}; " + _silence("high-learning-rate"),
        )


def warn_many_epochs(source: Source) -> Iterator[Finding]:
    """Hundreds of epochs without early stopping mostly overfit."""
    fit = source.data.get("fit", {})
    epochs = fit.get("epochs", 1)
    stops = any(c["type"] == "EarlyStopping" for c in fit.get("callbacks", []))
    if epochs > EPOCHS and not stops:
        yield (
            "many-epochs",
            ("fit", "epochs"),
            f"{epochs} epochs is a long run with no early stopping: training loss keeps falling while "
            "validation loss usually turns upward long before (the notes train for 5)",
            "start with 5-20 epochs and compare the validation curve; " + _silence("many-epochs"),
        )


def _split(source: Source) -> tuple[int, int, int]:
    from .checks import split_sizes

    return split_sizes(source.data)


def warn_batch_larger_than_data(source: Source) -> Iterator[Finding]:
    """A batch larger than the training split means one gradient step per epoch."""
    batch = source.data.get("fit", {}).get("batch_size", 32)
    n_train = _split(source)[0]
    if batch > n_train:
        yield (
            "batch-larger-than-data",
            ("fit", "batch_size"),
            f"batch_size {batch:,} is larger than the {n_train:,} training images, so each epoch is a "
            "single gradient step",
            "use a batch size such as 32 (Keras's default)",
        )


def warn_large_validation_split(source: Source) -> Iterator[Finding]:
    """A validation split over half the data leaves less to train on than to validate on."""
    n_train, n_val, _ = _split(source)
    if n_val > n_train:
        test_size = source.data["data"]["validation"]["test_size"]
        yield (
            "large-validation-split",
            ("data", "validation", "test_size"),
            f"test_size {test_size} holds out {n_val:,} images for validation and trains on only {n_train:,}",
            "test_size is the validation fraction: the notes use 0.2 (48,000 / 12,000)",
        )


def warn_tiny_pixels(source: Source) -> Iterator[Finding]:
    """A very large scale leaves every pixel near 0."""
    scale = source.data.get("data", {}).get("scale")
    if scale is not None and 255 / scale < MIN_PIXEL_RANGE:
        yield (
            "tiny-pixels",
            ("data", "scale"),
            f"dividing by scale {scale:g} leaves pixels in 0..{255 / scale:.2g}; the inputs are nearly "
            "all zero",
            "write scale: 255.0, which maps the pixels to 0..1",
        )


def _callbacks(source: Source, kind: str):
    return [(i, c) for i, c in enumerate(source.data.get("fit", {}).get("callbacks", [])) if c["type"] == kind]


def warn_early_stopping_keeps_last(source: Source) -> Iterator[Finding]:
    """Without restore_best_weights the stopped model is the last epoch's, ``patience`` epochs past the best."""
    for i, callback in _callbacks(source, "EarlyStopping"):
        if callback.get("restore_best_weights", False):
            continue
        patience = callback.get("patience", 0)
        yield (
            "early-stopping-keeps-last",
            ("fit", "callbacks", i),
            f"EarlyStopping without restore_best_weights: the run saves the model of the last epoch, "
            f"{patience} epoch{'s' if patience != 1 else ''} after the best one, not the best one",
            "add restore_best_weights: true, as the textbook does; " + _silence("early-stopping-keeps-last"),
        )


def warn_checkpoint_every_epoch(source: Source) -> Iterator[Finding]:
    """Without save_best_only a checkpoint is overwritten every epoch and ends as the final model."""
    for i, callback in _callbacks(source, "ModelCheckpoint"):
        if not callback.get("save_best_only", False):
            yield (
                "checkpoint-every-epoch",
                ("fit", "callbacks", i),
                f"ModelCheckpoint without save_best_only overwrites {callback['filepath']} every epoch, so "
                "it ends as the last epoch's model, which the run saves anyway",
                "add save_best_only: true to keep the best epoch's model; "
                + _silence("checkpoint-every-epoch"),
            )


WARNINGS: list[Callable[[Source], Iterator[Finding]]] = [
    warn_leading_zero_integers,
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
]
"""Every warning rule, in the order they run."""


def ignored(data: dict) -> set:
    """Codes the spec silences with ``warnings: {ignore: [...]}``."""
    return set(data.get("warnings", {}).get("ignore", []))


def run_warnings(source: Source) -> list[Problem]:
    """Every warning of a schema-valid ``source`` not silenced by the spec, located."""
    silenced = ignored(source.data)
    problems = []
    for rule in WARNINGS:
        for code, path, message, hint in rule(source):
            if code not in silenced:
                problem = source.problem(path, message, hint, WARNING)
                problems.append(
                    Problem(
                        problem.file,
                        problem.line,
                        problem.column,
                        problem.path,
                        problem.message,
                        problem.hint,
                        WARNING,
                        code,
                    )
                )
    return problems
