"""Typed, already-valid spec objects with every default filled in.

Defaults come from the JSON Schema's ``default`` keywords (see
:func:`fmnist_spec.language.schema.default`), so the schema is their single source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import checks
from .schema import OPTIMIZER_CLASSES, default, schema


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``type`` (Keras class name), ``name`` (None: Keras picks one)
    and ``arguments``, the keyword arguments of that Keras class (``units``,
    ``activation``, ``rate``, ...), defaults filled in."""

    type: str
    name: str | None
    arguments: dict


@dataclass(frozen=True)
class CallbackSpec:
    """One ``fit`` callback: ``type`` is the Keras class name (``EarlyStopping``),
    ``arguments`` its keyword arguments with Keras's defaults filled in
    (``ModelCheckpoint``'s ``filepath`` is relative to the run folder)."""

    type: str
    arguments: dict


@dataclass(frozen=True)
class OptimizerSpec:
    """``type`` is the Keras optimizer class name (``Adam``); ``arguments`` its
    keyword arguments, empty when the spec gave a name string (Keras's own
    defaults then apply, as with ``compile(optimizer='adam')``). A learning-rate
    schedule stays a mapping ``{"type": "ExponentialDecay", ...}`` in
    ``arguments["learning_rate"]``, its defaults filled in. ``given`` is what
    the spec wrote: the string, or the mapping."""

    type: str
    arguments: dict
    given: object


@dataclass(frozen=True)
class LossSpec:
    """``name`` is the Keras loss function name (``sparse_categorical_crossentropy``);
    ``from_logits`` whether the model outputs logits."""

    name: str
    from_logits: bool


@dataclass(frozen=True)
class DistributeSpec:
    """Where the spec trains (the ``distribute`` section; see :mod:`fmnist_spec.running.distributed.strategy`).

    Attributes:
        strategy: ``"default"``, ``"mirrored"`` or ``"multi_worker_mirrored"``.
        devices: Device names for ``mirrored`` (``("/cpu:0", "/cpu:1")``), or None.
        per_replica_batch_size: Samples per replica per step, or None (the
            global batch is then ``fit.batch_size``).
        timeout_seconds: Multi-worker: longest wait for the other workers, seconds.
        workers: Multi-worker: every worker's ``"host:port"``, the chief first, or
            None (the cluster then comes from ``TF_CONFIG``).
        worker_index: Multi-worker: this worker's position in ``workers``, or None.
    """

    strategy: str = "default"
    devices: tuple | None = None
    per_replica_batch_size: int | None = None
    timeout_seconds: float = 120
    workers: tuple | None = None
    worker_index: int | None = None

    def resolved(self) -> dict:
        """The section as plain data, every default filled in."""
        return {"strategy": self.strategy,
                "devices": list(self.devices) if self.devices is not None else None,
                "per_replica_batch_size": self.per_replica_batch_size,
                "timeout_seconds": self.timeout_seconds,
                "workers": list(self.workers) if self.workers is not None else None,
                "worker_index": self.worker_index}


@dataclass(frozen=True)
class Spec:
    """A checked spec.

    Attributes:
        name: The model's name (any text; see :mod:`fmnist_spec.language.names`).
        style: ``"list"`` or ``"add"``.
        input_shape: Shape of one sample without the batch axis, ``(784,)``,
            ``(28, 28)`` or ``(28, 28, 1)``; the images are given to the model in
            it: ``x.reshape((n,) + spec.input_shape)``.
        layers: The layers after the input, in order (a leading ``Input`` element
            is not one of them; see ``input_layer``).
        input_layer: True when the spec starts with ``{type: Input, shape: ...}``
            (``keras.layers.Input``), False when the first layer has ``input_shape``.
        callbacks: The ``fit.callbacks``, a tuple of :class:`CallbackSpec`.
        optimizer, loss, metrics: ``model.compile`` settings.
        steps_per_execution: Batches per compiled call (Keras ``compile`` argument).
        jit_compile: XLA compilation, ``"auto"``, True or False (Keras ``compile`` argument).
        epochs, batch_size, verbose: ``model.fit`` settings.
        validation_freq: Validate during ``fit`` every N epochs (int), or after
            the listed epochs (tuple; empty: never) (Keras ``fit`` argument).
        validation_batch_size: Samples per evaluation step (None: ``batch_size``).
        scale: Pixels are divided by it (255.0 -> 0..1).
        flatten: The images are given flattened, (n, 784): ``input_shape == (784,)``.
        train_samples: Use only the first N training images (None: all 60,000).
        test_size: Validation fraction 0..1 for scikit-learn's ``train_test_split``.
        random_state: Seed of that split (None: unseeded).
        seed: Seed of Keras's random generators (None: unseeded).
        distribute: The :class:`DistributeSpec` (strategy ``default`` when absent).
        intra_op_parallelism_threads, inter_op_parallelism_threads: TensorFlow's
            thread pools (0: TensorFlow chooses).
        file: The file the spec came from (``<string>`` for text).
        data: The spec as plain data, as written (defaults not filled in).
        ignore_warnings: Warning codes the spec silences (``warnings.ignore``).
        warnings: The warnings found when the spec was checked (Problems of
            severity ``"warning"``), shown by ``validate`` and ``train``.
    """

    name: str
    style: str
    input_shape: tuple
    layers: tuple
    optimizer: OptimizerSpec
    loss: LossSpec
    metrics: tuple
    steps_per_execution: int
    jit_compile: object
    epochs: int
    batch_size: int
    verbose: object
    validation_freq: int | tuple
    validation_batch_size: int | None
    scale: float
    flatten: bool
    train_samples: int | None
    test_size: float
    random_state: int | None
    seed: int | None
    intra_op_parallelism_threads: int
    inter_op_parallelism_threads: int
    distribute: DistributeSpec = DistributeSpec()
    input_layer: bool = False
    callbacks: tuple = ()
    file: str = "<string>"
    data: dict = field(default_factory=dict, compare=False, repr=False)
    ignore_warnings: tuple = ()
    warnings: tuple = field(default=(), compare=False, repr=False)

    def resolved(self) -> dict:
        """The spec as plain data with every default filled in (YAML-ready)."""
        layers = [{"type": "Input", "shape": list(self.input_shape)}] if self.input_layer else []
        for i, layer in enumerate(self.layers):
            entry = {"type": layer.type}
            if layer.name is not None:
                entry["name"] = layer.name
            entry.update(layer.arguments)
            if i == 0 and not self.input_layer:
                entry["input_shape"] = list(self.input_shape)
            layers.append(entry)
        optimizer = {"type": self.optimizer.type, **self.optimizer.arguments}
        if isinstance(self.optimizer.given, str):
            optimizer = self.optimizer.given
        loss = (self.loss.name if not self.loss.from_logits else
                {"type": _camel(self.loss.name), "from_logits": True})
        return {
            "spec_version": 1,
            "name": self.name,
            "style": self.style,
            "seed": self.seed,
            "layers": layers,
            "compile": {"optimizer": optimizer, "loss": loss, "metrics": list(self.metrics),
                        "steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile},
            "fit": {"epochs": self.epochs, "batch_size": self.batch_size, "verbose": self.verbose,
                    "validation_freq": (self.validation_freq if isinstance(self.validation_freq, int)
                                        else list(self.validation_freq)),
                    "validation_batch_size": self.validation_batch_size,
                    "callbacks": [{"type": c.type, **c.arguments} for c in self.callbacks]},
            "data": {"dataset": "fashion_mnist", "scale": self.scale, "flatten": self.flatten,
                     "train_samples": self.train_samples,
                     "validation": {"test_size": self.test_size, "random_state": self.random_state}},
            "warnings": {"ignore": list(self.ignore_warnings)},
            "distribute": self.distribute.resolved(),
            "threading": {"intra_op_parallelism_threads": self.intra_op_parallelism_threads,
                          "inter_op_parallelism_threads": self.inter_op_parallelism_threads},
        }


def run_spec(spec: Spec, epochs: int | None = None, style: str | None = None) -> dict:
    """The resolved spec a run folder records as ``spec.yaml``: :meth:`Spec.resolved`
    with the run's ``epochs`` and ``style`` overrides (None keeps the spec's)."""
    resolved = spec.resolved()
    resolved["fit"]["epochs"] = epochs or spec.epochs
    if style:
        resolved["style"] = style
    return resolved


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _as_declared(prop: dict, value):
    """A whole number where the schema says ``number`` becomes a float.

    Keras refuses ``SGD(learning_rate=10)`` ("should be float"); the spec's
    ``learning_rate: 10`` means 10.0. Also inside ``anyOf`` and for the items
    of a list of numbers (``values: [1, 0.5]``).
    """
    if isinstance(value, bool):
        return value
    kinds = [prop.get("type")] + [p.get("type") for p in prop.get("anyOf", [])]
    if "number" in kinds and isinstance(value, int):
        return float(value)
    if prop.get("type") == "array" and isinstance(value, list):
        return [_as_declared(prop.get("items", {}), v) for v in value]
    return value


def _freq(given):
    return given if isinstance(given, int) else tuple(given)


def _layer(entry: dict) -> LayerSpec:
    """A layer entry as a :class:`LayerSpec`: ``type`` (``Dense`` when omitted), ``name``, and
    the class's arguments with the schema's defaults (Keras's) filled in."""
    kind = entry.get("type", "Dense")
    props = schema()["$defs"][kind]["properties"]
    arguments = {}
    for key, prop in props.items():
        if key in ("type", "name", "input_shape"):
            continue
        if key in entry:
            arguments[key] = _as_declared(prop, entry[key])
        elif "default" in prop:
            arguments[key] = prop["default"]
    return LayerSpec(kind, entry.get("name"), arguments)


def _filled(given: dict) -> dict:
    """``{type: X, ...}`` of a ``$defs`` class with its defaults filled in and whole
    numbers made floats where the schema says ``number``."""
    props = schema()["$defs"][given["type"]]["properties"]
    out = {k: p["default"] for k, p in props.items() if "default" in p and k != "type"}
    out.update({k: _as_declared(props[k], v) for k, v in given.items() if k != "type"})
    return out


def _optimizer(given) -> OptimizerSpec:
    if isinstance(given, str):
        return OptimizerSpec(OPTIMIZER_CLASSES[given.lower()], {}, given)
    arguments = _filled(given)
    if isinstance(arguments.get("learning_rate"), dict):
        schedule = arguments["learning_rate"]
        arguments["learning_rate"] = {"type": schedule["type"], **_filled(schedule)}
    return OptimizerSpec(given["type"], arguments, given)


def _callback(given: dict) -> CallbackSpec:
    return CallbackSpec(given["type"], _filled(given))


def _loss(given) -> LossSpec:
    if isinstance(given, str):
        return LossSpec(given, False)
    name = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
            "CategoricalCrossentropy": "categorical_crossentropy"}[given["type"]]
    return LossSpec(name, bool(given.get("from_logits", False)))


def _distribute(given: dict) -> DistributeSpec:
    devices = given.get("devices", default("distribute", "devices"))
    workers = given.get("workers", default("distribute", "workers"))
    return DistributeSpec(
        strategy=given.get("strategy", default("distribute", "strategy")),
        devices=tuple(devices) if devices is not None else None,
        per_replica_batch_size=given.get("per_replica_batch_size",
                                         default("distribute", "per_replica_batch_size")),
        timeout_seconds=given.get("timeout_seconds", default("distribute", "timeout_seconds")),
        workers=tuple(workers) if workers is not None else None,
        worker_index=given.get("worker_index", default("distribute", "worker_index")),
    )


def _verbose(value):
    """``1.0`` passes the schema's enum (JSON equality); Keras wants the int."""
    return int(value) if isinstance(value, float) else value


def from_data(data: dict, file: str = "<string>", warnings: tuple = ()) -> Spec:
    """Build a :class:`Spec` from schema- and check-valid plain data."""
    fit = data.get("fit", {})
    prep = data.get("data", {})
    validation = prep.get("validation", {})
    threading = data.get("threading", {})
    compile_ = data["compile"]
    entries = data["layers"]
    input_layer = entries[0].get("type") == "Input"
    return Spec(
        name=data.get("name", default("name")),
        style=data.get("style", default("style")),
        input_shape=checks.sample_shape(data),
        layers=tuple(_layer(entry) for entry in entries[1 if input_layer else 0:]),
        input_layer=input_layer,
        callbacks=tuple(_callback(c) for c in fit.get("callbacks", [])),
        optimizer=_optimizer(compile_.get("optimizer", schema()["$defs"]["optimizer"]["default"])),
        loss=_loss(compile_["loss"]),
        metrics=tuple(compile_.get("metrics", [])),
        steps_per_execution=compile_.get("steps_per_execution", default("compile", "steps_per_execution")),
        jit_compile=compile_.get("jit_compile", default("compile", "jit_compile")),
        epochs=fit.get("epochs", default("fit", "epochs")),
        batch_size=fit.get("batch_size", default("fit", "batch_size")),
        verbose=_verbose(fit.get("verbose", default("fit", "verbose"))),
        validation_freq=_freq(fit.get("validation_freq", default("fit", "validation_freq"))),
        validation_batch_size=fit.get("validation_batch_size", default("fit", "validation_batch_size")),
        scale=float(prep.get("scale", default("data", "scale"))),
        flatten=len(checks.sample_shape(data)) == 1,
        train_samples=prep.get("train_samples", default("data", "train_samples")),
        test_size=validation.get("test_size", default("data", "validation", "test_size")),
        random_state=validation.get("random_state", default("data", "validation", "random_state")),
        seed=data.get("seed", default("seed")),
        distribute=_distribute(data.get("distribute", {})),
        intra_op_parallelism_threads=threading.get(
            "intra_op_parallelism_threads", default("threading", "intra_op_parallelism_threads")),
        inter_op_parallelism_threads=threading.get(
            "inter_op_parallelism_threads", default("threading", "inter_op_parallelism_threads")),
        file=file,
        data=data,
        ignore_warnings=tuple(data.get("warnings", {}).get("ignore", [])),
        warnings=tuple(warnings),
    )
