"""Rules the JSON Schema cannot express, one small function each.

Each check takes the schema-valid spec as plain data with every default
filled in (:func:`fmnist_spec.language.schema.with_defaults`) and yields
``(path, message, hint)`` or ``(path, message, hint, severity)`` tuples; it
does not know about files or positions. :func:`run_checks` attaches those.
Names (losses, metrics, the labels they expect) come from
:mod:`fmnist_spec.language.registry`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

from . import callback_checks, facts, memory, registry
from ..errors import ERROR, Problem
from .names import INPUT_LAYER_NAME, layer_names, snake_case
from .schema import with_defaults
from .shapes import ShapeChainError, format_shape, infer, pair
from .spec import SAMPLE_SHAPES, declared_input_shape, sample_shape
from ..source.yaml_source import Source

_SPATIAL = ("Conv2D", "MaxPooling2D", "AveragePooling2D")

MAX_PARAMS = 50_000_000
"""Largest model accepted, in parameters (200 MB of float32 weights)."""

Finding = tuple


def _input_path(spec: dict) -> tuple:
    """Where the input shape is written: ``layers[0].shape`` (Input) or ``layers[0].input_shape``."""
    return ("layers", 0, "shape") if spec["layers"][0].get("type") == "Input" else ("layers", 0, "input_shape")


def split_sizes(spec: dict) -> tuple[int, int, int]:
    """(training, validation, test) image counts the spec's data settings give.

    As scikit-learn's ``train_test_split`` computes them for a fraction
    ``test_size`` of ``n`` samples: validation ``ceil(test_size * n)``,
    training the rest (``sklearn.model_selection._split._validate_shuffle_split``).
    The notes' ``test_size: 0.2`` of 60,000 gives (48,000, 12,000, 10,000).

    Args:
        spec: Spec data; the schema's defaults stand in for missing keys.
    """
    prep = with_defaults({"data": spec.get("data", {})})["data"]
    n = prep["train_samples"] or facts.TRAIN_SAMPLES
    n_val = math.ceil(prep["validation"]["test_size"] * n)
    return n - n_val, n_val, facts.TEST_SAMPLES


def _loss(spec: dict) -> tuple[str, bool]:
    """(loss name in snake_case, from_logits) of ``compile.loss``."""
    return registry.loss(spec["compile"]["loss"])


def check_layer_names_unique(spec: dict) -> Iterator[Finding]:
    """A given ``name`` is not the name of another layer, given or automatic (Keras refuses the model).

    Names are Keras's (:func:`fmnist_spec.language.names.layer_names`), so
    ``[{units: 100}, {name: dense, units: 10}]`` clashes: the unnamed Dense is ``dense``.
    The problem is shown at the given name, the one the user chose: the later one
    when both are given.
    """
    layers = spec["layers"]
    names = layer_names(layers)
    refusal = "Keras would refuse the model: \"All layers added to a Sequential model should have unique names\""
    for i, (layer, name) in enumerate(zip(layers, names)):
        if layer.get("name") is None or name is None:
            continue
        if name == INPUT_LAYER_NAME:
            yield (("layers", i, "name"),
                   (f"layer name '{name}' is the name Keras gives the model's input layer (the Input "
                    f"element or input_shape); {refusal}"), _name_hint(names, name))
            continue
        for j, other in enumerate(names):
            given = layers[j].get("name") is not None
            if j == i or other != name or (given and j > i):  # two given names: shown at the later one
                continue
            kind = layers[j].get("type", "Dense")
            what = (f"already used by layers[{j}]" if given else
                    f"the name Keras gives layers[{j}], an unnamed {kind} (Keras numbers the unnamed "
                    f"layers of a class only: {snake_case(kind)}, {snake_case(kind)}_1, ...)")
            yield (("layers", i, "name"), f"layer name '{name}' is {what}; {refusal}", _name_hint(names, name))
            break


def _name_hint(names: list, taken: str) -> str:
    """Suggest a free name built on ``taken`` (``dense`` -> ``dense_out``)."""
    free = next((f"{taken}_{suffix}" for suffix in ("out", "a", "b", "c", "x", "layer")
                 if f"{taken}_{suffix}" not in names), f"{taken}_{len(names)}")
    return f"give this layer another name, e.g. '{free}', or remove the name to let Keras pick one"


def check_activation_runs(spec: dict) -> Iterator[Finding]:
    """No ``glu`` or ``threshold`` activation: Keras builds the model (its shape inference never
    calls the activation) and then fails on the first batch (Keras 3.15).

    ``keras.activations.glu`` splits its input in two along the last axis, so
    ``Dense(units=100, activation="glu")`` is (None, 100) to Keras's shape inference and
    (n, 50) at run time, and the next layer's kernel, made for 100 inputs, refuses the 50;
    ``keras.activations.threshold(x, threshold, default_value)`` has two required arguments
    that a layer's ``activation=`` cannot give.
    """
    for i, layer in enumerate(spec["layers"]):
        activation = layer.get("activation")
        kind = layer.get("type", "Dense")
        if activation == "glu":
            width = layer.get("units", layer.get("filters"))
            yield (("layers", i, "activation"),
                   (f"glu splits its input in two along the last axis: this {kind} would give "
                    f"{width // 2} values per position when the model runs, while Keras builds the next "
                    f"layer for {width}, so the model fails on its first batch"),
                   "use another activation (relu, gelu, silu, ...)")
        elif activation == "threshold":
            yield (("layers", i, "activation"),
                   ("threshold needs two arguments (threshold, default_value) that a layer's activation "
                    "cannot give: Keras builds the model and it fails on its first batch"),
                   "use relu, whose threshold is 0, or another activation")


def check_input_declared_once(spec: dict) -> Iterator[Finding]:
    """The input shape is given once: a leading ``Input`` or ``input_shape`` on the first layer."""
    layers = spec["layers"]
    leading_input = layers[0].get("type") == "Input"
    first_layer = 1 if leading_input else 0
    for i, layer in enumerate(layers[1:], start=1):
        if layer.get("type") == "Input":
            yield (("layers", i, "type"),
                   f"Input is layers[{i}]; an Input gives the model's input and can only come first",
                   "move it to the top of the list, or remove it and give input_shape on the first layer")
    if leading_input and len(layers) == 1:
        yield (("layers", 0), "the list has an Input but no layers",
               "add the model's layers after it, ending with {units: 10, activation: softmax}")
        return
    if not leading_input and "input_shape" not in layers[0]:
        shape = list(sample_shape(spec))
        yield (("layers", 0), "the first layer has no input_shape",
               f"add 'input_shape: {shape}' to the first layer, or start the list with "
               f"'{{type: Input, shape: {shape}}}'")
    for i, layer in enumerate(layers[1:], start=1):
        if "input_shape" not in layer:
            continue
        if i == first_layer:
            yield (("layers", i, "input_shape"),
                   f"the input shape is given twice: by the Input (layers[0]) and by input_shape on layers[{i}]",
                   "keep one: remove input_shape here, or remove the Input")
        else:
            yield (("layers", i, "input_shape"),
                   f"input_shape on layers[{i}] would be silently ignored by Keras; only the first layer takes it",
                   "remove it here; give it on the first layer only")


def _shape_hint(given: tuple) -> str:
    if len(given) >= 2 and given[1:] in SAMPLE_SHAPES:
        return (f"the first number looks like a batch axis, which Keras's input shape leaves out "
                f"(it adds None itself): write {list(given[1:])}")
    if len(given) == 3 and given[:2] == facts.IMAGE_SHAPE:
        return ("Fashion-MNIST images are grayscale, one channel: write [28, 28, 1] "
                "(or [28, 28] without a channel axis)")
    return "write [784] (flattened), [28, 28] (as they are) or [28, 28, 1] (with a channel axis, for Conv2D)"


def check_input_shape_fits_images(spec: dict) -> Iterator[Finding]:
    """The input shape is one the 28x28 images can be given in, and ``data.flatten`` agrees with it."""
    given = declared_input_shape(spec)
    if given is None:
        return
    if given not in SAMPLE_SHAPES:
        yield (_input_path(spec),
               f"input shape {list(given)} cannot be taken by Fashion-MNIST's 28x28 grayscale images "
               f"(784 values each); they can be given as {', '.join(str(list(s)) for s in SAMPLE_SHAPES)}",
               _shape_hint(given))
        return
    prep = spec.get("data", {})
    if "flatten" not in prep:
        return
    flatten = prep["flatten"]
    if flatten != (len(given) == 1):
        other = "(784,)" if flatten else "(28, 28)"
        yield (("data", "flatten"),
               f"data.flatten: {str(flatten).lower()} contradicts the model's input shape {list(given)}: "
               f"the images are given in the model's input shape, not as {other}",
               f"remove data.flatten (the input shape decides), or write input_shape: "
               f"{[784] if flatten else [28, 28]}")


def _rows(spec: dict):
    """The inferred summary rows, or None when the chain breaks or the input shape is unusable."""
    given = declared_input_shape(spec)
    if given is not None and given not in SAMPLE_SHAPES:
        return None
    try:
        return infer(spec["layers"], given or sample_shape(spec))
    except ShapeChainError:
        return None


def check_shape_chain(spec: dict) -> Iterator[Finding]:
    """Each layer accepts what the one before gives (kernel and pool sizes, channel axes, target shapes)."""
    given = declared_input_shape(spec)
    if given is not None and given not in SAMPLE_SHAPES:
        return
    try:
        infer(spec["layers"], given or sample_shape(spec))
    except ShapeChainError as exc:
        path = ("layers", exc.index) + ((exc.key,) if exc.key else ())
        yield path, exc.message, exc.hint


def check_layer_count(spec: dict) -> Iterator[Finding]:
    """At most MAX_LAYERS layers, however the list was given (a file, ``--set layers=[...]``)."""
    from ..source.limits import LAYERS_HINT, MAX_LAYERS

    if len(spec["layers"]) > MAX_LAYERS:
        yield (("layers", MAX_LAYERS), f"more than {MAX_LAYERS:,} layers; the limit is {MAX_LAYERS:,}",
               LAYERS_HINT)


def check_model_size(spec: dict) -> Iterator[Finding]:
    """Refuse models too large to allocate, before TensorFlow is touched."""
    rows = _rows(spec)
    if not rows:
        return
    total = sum(r.params for r in rows)
    if total > MAX_PARAMS:
        biggest = max(rows, key=lambda r: r.params)
        key = {"Dense": "units", "Conv2D": "filters"}.get(biggest.type)
        yield (("layers", biggest.index) + ((key,) if key else ()),
               f"the model would have {total:,} parameters ({total * 4 / 2**30:.1f} GiB of float32 weights), "
               f"more than the limit of {MAX_PARAMS:,}; layers[{biggest.index}] alone has {biggest.params:,}",
               f"use fewer {key or 'units'}: layers[{biggest.index}] has {biggest.input_shape[-1]:,} inputs "
               f"per position, so each one adds at least {biggest.input_shape[-1] + 1:,} parameters")


_SIZE_KEY = {"Dense": "units", "Conv2D": "filters"}


def _batches(spec: dict) -> list[tuple[str, tuple, int, int]]:
    """(what, path of the key that sets it, samples in this process, samples per unit of that key)
    of each batch a run takes a step on."""
    fit, distribute = spec["fit"], spec["distribute"]
    per_replica = distribute["per_replica_batch_size"]
    replicas = len(distribute["devices"] or ()) or 1  # a mirrored strategy's replicas share this process
    training = (("distribute", "per_replica_batch_size"), per_replica * replicas, replicas) if per_replica \
        else (("fit", "batch_size"), fit["batch_size"], 1)
    evaluation = fit["validation_batch_size"] or fit["batch_size"]
    return [("a training batch", *training),
            ("an evaluation batch", ("fit", "validation_batch_size"), evaluation, 1)]


def check_activation_memory(spec: dict) -> Iterator[Finding]:
    """A training or evaluation batch's activations fit in memory.MAX_TRAINING_BYTES (the estimate of
    :mod:`fmnist_spec.language.memory`); reported at the layer that takes the most."""
    rows = _rows(spec)
    if not rows or sum(r.params for r in rows) > MAX_PARAMS:
        return  # check_model_size says why
    layers = spec["layers"]
    inputs = math.prod(rows[0].input_shape[1:])
    shares = memory.layer_memory(rows, layers)
    per_sample = {"a training batch": memory.per_sample_training(shares, inputs),
                  "an evaluation batch": memory.per_sample_inference(rows, inputs)}
    limit = memory.MAX_TRAINING_BYTES
    for what, key, batch, unit in _batches(spec):
        need = per_sample[what] * batch
        if need <= limit:
            continue
        worst = max(shares, key=lambda m: m.values * m.kept)
        row = next(r for r in rows if r.index == worst.index)
        size_key = _SIZE_KEY.get(row.type)
        fits = limit // per_sample[what] // unit
        fewer = f"use fewer {size_key or 'values per image'} in layers[{row.index}]"
        fix = f"set {'.'.join(key)}: {fits:,} or less, or {fewer}" if fits >= 1 else fewer
        yield (("layers", row.index) + ((size_key,) if size_key else ()),
               f"{what} of {batch:,} images would need about {memory.format_bytes(need)} of activations, "
               f"more than the limit of {memory.format_bytes(limit)}; layers[{row.index}] ({row.type}) "
               f"outputs {format_shape(row.output_shape)}, {worst.values:,} values per image",
               f"{fix} (one image takes {memory.format_bytes(per_sample[what])}; the estimate is in "
               "docs/limits.md)")
        return


def check_windows_meet_pixels(spec: dict) -> Iterator[Finding]:
    """A ``padding: same`` kernel or pool is at most 2n - 1 along an axis of n pixels
    (:func:`fmnist_spec.language.memory.largest_useful_kernel`)."""
    rows = _rows(spec)
    for row in rows or ():
        layer = spec["layers"][row.index]
        key = "kernel_size" if row.type == "Conv2D" else "pool_size"
        if row.type not in _SPATIAL or layer.get("padding", "valid") != "same" or key not in layer:
            continue
        window = pair(layer[key])
        sizes = row.input_shape[1:3]
        if all(w <= memory.largest_useful_kernel(n) for w, n in zip(window, sizes)):
            continue
        largest = [memory.largest_useful_kernel(n) for n in sizes]
        yield (("layers", row.index, key),
               f"{key} {list(window)} is larger than {largest} on a {sizes[0]}x{sizes[1]} feature map "
               f"(input {format_shape(row.input_shape)}): with padding: same, weights past 2 x size - 1 "
               "only ever meet the padding's zeros, and each output value still costs every weight",
               f"use {key}: {min(largest)} or less (docs/limits.md)")


def check_output_is_ten_way(spec: dict) -> Iterator[Finding]:
    """The model ends in one score per class: output shape (None, 10)."""
    rows = _rows(spec)
    if not rows:
        return  # check_input_shape_fits_images or check_shape_chain reports the cause
    last = rows[-1]
    n = len(spec["layers"]) - 1
    if len(last.output_shape) > 2:
        bad = next((r for r in rows if r.type == "Dense" and len(r.input_shape) > 2), last)
        convolved = any(r.type in _SPATIAL for r in rows if r.index < bad.index)
        hint = (f"add '{{type: Flatten}}' before layers[{bad.index}]"
                + (f" to turn the {format_shape(bad.input_shape)} feature maps into one vector per image"
                   if convolved else
                   f", or give the images flattened with input_shape: [{math.prod(facts.IMAGE_SHAPE)}]"))
        yield (("layers", bad.index),
               f"{bad.type} on input {format_shape(bad.input_shape)} acts on the last axis only and gives "
               f"{format_shape(bad.output_shape)}; the model would end in {format_shape(last.output_shape)}, "
               f"but a classifier needs one score per class: (None, {facts.NUM_CLASSES})", hint)
        return
    if last.type != "Dense":
        yield (("layers", n, "type"),
               f"the last layer is {last.type}; Fashion-MNIST needs a Dense output layer with "
               f"{facts.NUM_CLASSES} units", "end the list with {units: 10, activation: softmax}")
    elif last.output_shape[-1] != facts.NUM_CLASSES:
        yield (("layers", n, "units"),
               f"the output layer has {last.output_shape[-1]} units; {_loss(spec)[0]} on Fashion-MNIST "
               f"needs {facts.NUM_CLASSES}, one per class (labels 0-9)",
               f"set units: {facts.NUM_CLASSES} on the last layer")


def check_loss_fits_labels(spec: dict) -> Iterator[Finding]:
    """Fashion-MNIST labels are integers 0-9; categorical_crossentropy wants one-hot rows."""
    name, _ = _loss(spec)
    if registry.LOSSES[name].labels != registry.FASHION_MNIST_LABELS:
        yield (("compile", "loss"),
               f"{name} expects one-hot labels of shape (n, 10), but Fashion-MNIST's "
               "labels are integers 0-9 of shape (n,)",
               "use sparse_categorical_crossentropy, which takes integer labels")


def check_output_activation_fits_loss(spec: dict) -> Iterator[Finding]:
    """softmax output with from_logits false, or no activation with from_logits true."""
    last = spec["layers"][-1]
    if last["type"] != "Dense":
        return
    activation = last["activation"] or "linear"  # Keras's Dense(activation=None) is linear
    name, from_logits = _loss(spec)
    n = len(spec["layers"]) - 1
    if from_logits and activation == "softmax":
        yield (("layers", n, "activation"),
               "the output layer applies softmax but the loss has from_logits: true, so softmax would "
               "be applied twice", "remove the activation, or set from_logits: false")
    elif not from_logits and activation not in ("softmax", "sigmoid"):  # sigmoid: a warning
        yield (("layers", n, "activation"),
               f"the output layer's activation is {activation}, but {name} with from_logits: false "
               "expects probabilities (outputs in 0..1 that sum to 1); with negative or unbounded "
               "outputs Keras trains without a word, down to chance-level accuracy (0.1)",
               "set activation: softmax, or keep it and write the loss as "
               "{type: SparseCategoricalCrossentropy, from_logits: true}")


def check_metrics_fit_labels(spec: dict) -> Iterator[Finding]:
    """categorical_accuracy compares one-hot rows; with integer labels it reports nonsense."""
    name, _ = _loss(spec)
    for i, metric in enumerate(spec["compile"]["metrics"]):
        if registry.METRICS[metric] not in (None, registry.FASHION_MNIST_LABELS) \
                and registry.LOSSES[name].labels == registry.FASHION_MNIST_LABELS:
            yield (("compile", "metrics", i),
                   f"{metric} expects one-hot labels, but Fashion-MNIST's labels are integers "
                   "0-9: Keras would report a meaningless accuracy (about 0.1) without a word",
                   "use accuracy or sparse_categorical_accuracy")


def check_split_leaves_both_sides(spec: dict) -> Iterator[Finding]:
    """The validation split leaves at least one image on each side (scikit-learn raises otherwise)."""
    n_train, n_val, _ = split_sizes(spec)
    if n_train >= 1 and n_val >= 1:
        return
    prep = spec["data"]
    n = prep["train_samples"] or facts.TRAIN_SAMPLES
    test_size = prep["validation"]["test_size"]
    yield (("data", "validation", "test_size"),
           f"test_size {test_size} of {n:,} images leaves {n_train:,} for training and {n_val:,} for "
           "validation; scikit-learn's train_test_split refuses an empty training set",
           "use a smaller test_size (0.2 is the notes' choice) or more data.train_samples")


MAX_PIXEL = 10.0
"""Largest pixel value after scaling that is accepted (255 / scale)."""


def check_scale_normalises_pixels(spec: dict) -> Iterator[Finding]:
    """``scale`` brings the 0..255 pixels near 0..1 (255.0 in the notes)."""
    scale = spec["data"]["scale"]
    if 255 / scale <= MAX_PIXEL:
        return
    yield (("data", "scale"),
           f"dividing by scale {scale} leaves pixels in 0..{255 / scale:g}; networks trained on raw "
           f"0..255 inputs saturate their sigmoid/softmax units and learn slowly or not at all "
           f"(pixels above {MAX_PIXEL:g} are refused)",
           "write scale: 255.0, which maps the pixels to 0..1 as the notes do")


def check_devices_belong_to_mirrored(spec: dict) -> Iterator[Finding]:
    """distribute.devices names the replicas of a mirrored strategy; other strategies take no list."""
    section = spec["distribute"]
    strategy = section["strategy"]
    if section["devices"] is not None and strategy != "mirrored":
        yield (("distribute", "devices"),
               f"devices are only used by the mirrored strategy; the strategy here is {strategy}",
               "set 'strategy: mirrored', or remove devices (a multi-worker cluster is given with "
               "'fmnist-spec train --workers HOST:PORT,HOST:PORT --worker-index I')")


def check_multi_worker_split_is_seeded(spec: dict) -> Iterator[Finding]:
    """Every worker of a cluster must draw the same validation split: random_state cannot be null."""
    strategy = spec["distribute"]["strategy"]
    if strategy == "multi_worker_mirrored" and spec["data"]["validation"]["random_state"] is None:
        yield (("data", "validation", "random_state"),
               "random_state null gives each worker of a multi_worker_mirrored run a different "
               "validation split, so validation images would leak into training",
               "give an integer, e.g. random_state: 42")


def check_workers_form_a_cluster(spec: dict) -> Iterator[Finding]:
    """distribute.workers and worker_index go together, the index names a worker, and only
    a multi_worker_mirrored run has workers."""
    section = spec["distribute"]
    workers, index = section["workers"], section["worker_index"]
    strategy = section["strategy"]
    if workers is None and index is None:
        return
    if workers is None or index is None:
        given, missing = ("workers", "worker_index") if index is None else ("worker_index", "workers")
        yield (("distribute", given), f"{given} is given without {missing}",
               "workers and worker_index go together: give both, e.g. --workers HOST:PORT,HOST:PORT "
               "--worker-index I (0 is the chief)")
    elif index >= len(workers):
        yield (("distribute", "worker_index"),
               f"worker_index {index} is not a position in the {len(workers)} workers "
               f"(expected 0..{len(workers) - 1})", "0 is the chief, the first address of workers")
    if workers is not None and strategy != "multi_worker_mirrored":
        yield (("distribute", "workers"),
               f"workers form a multi-worker cluster, but the strategy here is {strategy}",
               "set 'strategy: multi_worker_mirrored' (--workers on the command line sets it)")


CHECKS: list[Callable[[dict], Iterator[Finding]]] = [
    check_layer_names_unique,
    check_activation_runs,
    check_layer_count,
    check_input_declared_once,
    check_input_shape_fits_images,
    check_shape_chain,
    check_model_size,
    check_windows_meet_pixels,
    check_activation_memory,
    check_output_is_ten_way,
    check_loss_fits_labels,
    check_output_activation_fits_loss,
    check_metrics_fit_labels,
    check_split_leaves_both_sides,
    check_scale_normalises_pixels,
    check_devices_belong_to_mirrored,
    check_workers_form_a_cluster,
    check_multi_worker_split_is_seeded,
    *callback_checks.CHECKS,
]
"""Every check, in the order they run."""


def run_checks(source: Source, filled: dict | None = None, checks=None) -> list[Problem]:
    """Run every check on a schema-valid ``source`` and locate what they find.

    Args:
        source: The parsed spec, for positions.
        filled: ``with_defaults(source.data)`` when the caller has it already.
        checks: The checks to run (default :data:`CHECKS`).
    """
    filled = filled if filled is not None else with_defaults(source.data)
    problems = []
    for check in CHECKS if checks is None else checks:
        for finding in check(filled):
            path, message, hint = finding[:3]
            severity = finding[3] if len(finding) > 3 else ERROR
            problems.append(source.problem(path, message, hint, severity))
    return problems
