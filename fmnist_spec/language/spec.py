"""Typed, already-valid spec objects with every default filled in.

Defaults come from the JSON Schema's ``default`` keywords, filled in once by
:func:`fmnist_spec.language.schema.with_defaults` right after the schema check,
so the schema is their single source; names and classes come from
:mod:`fmnist_spec.language.registry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import facts, registry
from .schema import schema, with_defaults
from .shapes import input_shape_of


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


CONVOLUTIONS = ("Conv2D",)
"""Layer types whose arithmetic, not per-step overhead, bounds a training step: a model with
one picks its threads and (``dtype_policy: auto``) mixed precision differently
(the pooling layers only take maxima or means)."""


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
        dtype_policy: Keras's dtype policy, ``"auto"``, ``"float32"``, ``"mixed_bfloat16"``
            or ``"mixed_float16"``; ``"auto"`` is resolved per machine by
            :func:`fmnist_spec.to_keras.precision.resolve_dtype_policy`.
        distribute: The :class:`DistributeSpec` (strategy ``default`` when absent).
        intra_op_parallelism_threads, inter_op_parallelism_threads: TensorFlow's
            thread pools (0: TensorFlow chooses; ``"auto"``: by model, see
            :meth:`thread_counts`).
        file: The file the spec came from (``<string>`` for text).
        data: The spec as plain data, as written (defaults not filled in).
        ignore_warnings: Warning codes the spec silences (``warnings.ignore``).
        warnings: The warnings found when the spec was checked (Problems of
            severity ``"warning"``), shown by ``validate`` and ``train``.
        search: The ``search`` section, a
            :class:`~fmnist_spec.language.search_space.SearchSpace`, or None; the rest of the
            spec is its base point (what ``train`` trains).
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
    intra_op_parallelism_threads: int | str
    inter_op_parallelism_threads: int | str
    distribute: DistributeSpec = DistributeSpec()
    dtype_policy: str = "auto"
    input_layer: bool = False
    callbacks: tuple = ()
    file: str = "<string>"
    data: dict = field(default_factory=dict, compare=False, repr=False)
    ignore_warnings: tuple = ()
    warnings: tuple = field(default=(), compare=False, repr=False)
    search: object = None

    def _repr_pretty_(self, printer, cycle) -> None:
        """IPython's plain text: the resolved spec as YAML (:func:`fmnist_spec.notebook.displays.spec_text`)."""
        from ..notebook.displays import spec_text

        printer.text(spec_text(self))

    def _repr_html_(self) -> str:
        """A notebook's display: the resolved spec as YAML, and its warnings."""
        from ..notebook.displays import spec_html

        return spec_html(self)

    @property
    def build_only(self) -> bool:
        """True when the spec has no ``compile`` section: a model to build and look at (lesson 8-3's
        untrained ``Conv2D``), not to train; its optimizer, loss and metrics are Keras's defaults
        and unused."""
        return bool(self.data) and "compile" not in self.data

    @property
    def convolutional(self) -> bool:
        """True when the model has a convolution layer (``Conv2D``): its training step is
        dominated by arithmetic, not by per-step overhead (benchmarks/RESULTS.md)."""
        return any(layer.type in CONVOLUTIONS for layer in self.layers)

    def thread_counts(self) -> tuple[int, int]:
        """``(intra_op, inter_op)`` thread counts for ``tf.config.threading`` (0: TensorFlow chooses).

        ``"auto"`` is 0 for a convolutional model (TensorFlow's choice: one thread per
        core) and 1 for the others (the notes' small dense layers gain nothing from
        splitting; measured in benchmarks/RESULTS.md).
        """
        auto = 0 if self.convolutional else 1
        return tuple(auto if n == "auto" else n
                     for n in (self.intra_op_parallelism_threads, self.inter_op_parallelism_threads))

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
                {"type": registry.LOSSES[self.loss.name].class_name, "from_logits": True})
        return {
            "spec_version": 1,
            "name": self.name,
            "style": self.style,
            "seed": self.seed,
            "dtype_policy": self.dtype_policy,
            "layers": layers,
            **({} if self.build_only else {"compile": {
                "optimizer": optimizer, "loss": loss, "metrics": list(self.metrics),
                "steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile}}),
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
    """A filled-in layer mapping as a :class:`LayerSpec` (its class's arguments only)."""
    props = schema()["$defs"][entry["type"]]["properties"]
    arguments = {key: _as_declared(props[key], entry[key])
                 for key in registry.layer(entry["type"]).arguments if key in entry}
    return LayerSpec(entry["type"], entry.get("name"), arguments)


def _declared(filled: dict, arguments: tuple) -> dict:
    """The arguments of a filled-in ``{type: X, ...}`` mapping of a ``$defs`` class (an optimizer,
    a callback, a schedule) in the registry's order (Keras's), whole numbers made floats where
    the schema says ``number``."""
    props = schema()["$defs"][filled["type"]]["properties"]
    return {k: _as_declared(props[k], filled[k]) for k in arguments if k in filled}


def _optimizer(filled, given) -> OptimizerSpec:
    """``compile.optimizer`` filled in, and as written (``given``, the default name when left out):
    a name string (Keras's defaults, no arguments) or a mapping. A learning-rate schedule stays a
    mapping ``{type: ExponentialDecay, ...}``, its defaults filled in."""
    if isinstance(filled, str):
        return OptimizerSpec(registry.optimizer_class(filled), {}, given)
    arguments = _declared(filled, registry.OPTIMIZERS[registry.OPTIMIZER_NAMES[filled["type"]]].arguments)
    schedule = arguments.get("learning_rate")
    if isinstance(schedule, dict):
        arguments["learning_rate"] = {"type": schedule["type"],
                                      **_declared(schedule, registry.SCHEDULES[schedule["type"]].arguments)}
    return OptimizerSpec(filled["type"], arguments, given)


def _loss(given) -> LossSpec:
    return LossSpec(*registry.loss(given))


def _distribute(section: dict) -> DistributeSpec:
    devices, workers = section["devices"], section["workers"]
    return DistributeSpec(
        strategy=section["strategy"],
        devices=tuple(devices) if devices is not None else None,
        per_replica_batch_size=section["per_replica_batch_size"],
        timeout_seconds=section["timeout_seconds"],
        workers=tuple(workers) if workers is not None else None,
        worker_index=section["worker_index"],
    )


def _verbose(value):
    """``1.0`` passes the schema's enum (JSON equality); Keras wants the int."""
    return int(value) if isinstance(value, float) else value


SAMPLE_SHAPES = ((784,), (28, 28), (28, 28, 1))
"""Shapes one 28x28 image can be given in: flattened, as it is, with a channel axis."""


def declared_input_shape(data: dict) -> tuple | None:
    """The model's input shape as the spec declares it (an ``Input``'s ``shape`` or the
    first layer's ``input_shape``), or None."""
    return input_shape_of(data["layers"])


def sample_shape(data: dict) -> tuple:
    """Shape of one sample as the data are given to the model: the declared input shape
    when the images can take it, (784,) with ``data.flatten: true``, otherwise (28, 28).

    Args:
        data: Spec data (``data.flatten`` has no default: left out, the input shape decides).
    """
    declared = declared_input_shape(data)
    if declared in SAMPLE_SHAPES:
        return declared
    if data.get("data", {}).get("flatten", False):
        return (math.prod(facts.IMAGE_SHAPE),)
    return facts.IMAGE_SHAPE


def _build_only_compile() -> dict:
    """The ``compile`` a build-only spec's :class:`Spec` holds: Keras's defaults with the
    Fashion-MNIST loss (unused: such a spec is never compiled)."""
    return with_defaults({"compile": {"loss": "sparse_categorical_crossentropy"}})["compile"]


def from_data(data: dict, file: str = "<string>", warnings: tuple = (), filled: dict | None = None) -> Spec:
    """Build a :class:`Spec` from schema- and check-valid plain data.

    Args:
        data: The spec as written (kept as ``Spec.data``).
        file: The file it came from.
        warnings: The warnings found when it was checked.
        filled: ``with_defaults(data)`` when the caller has it already.
    """
    filled = filled if filled is not None else with_defaults(data)
    fit, prep, threading = filled["fit"], filled["data"], filled["threading"]
    compile_ = filled["compile"] if "compile" in filled else _build_only_compile()
    entries = filled["layers"]
    input_layer = entries[0]["type"] == "Input"
    return Spec(
        name=filled["name"],
        style=filled["style"],
        input_shape=sample_shape(filled),
        layers=tuple(_layer(entry) for entry in entries[1 if input_layer else 0:]),
        input_layer=input_layer,
        callbacks=tuple(CallbackSpec(c["type"], _declared(c, registry.CALLBACKS[c["type"]].arguments)) for c in fit["callbacks"]),
        optimizer=_optimizer(compile_["optimizer"], data.get("compile", {}).get("optimizer", compile_["optimizer"])),
        loss=_loss(compile_["loss"]),
        metrics=tuple(compile_["metrics"]),
        steps_per_execution=compile_["steps_per_execution"],
        jit_compile=compile_["jit_compile"],
        epochs=fit["epochs"],
        batch_size=fit["batch_size"],
        verbose=_verbose(fit["verbose"]),
        validation_freq=_freq(fit["validation_freq"]),
        validation_batch_size=fit["validation_batch_size"],
        scale=float(prep["scale"]),
        flatten=len(sample_shape(filled)) == 1,
        train_samples=prep["train_samples"],
        test_size=prep["validation"]["test_size"],
        random_state=prep["validation"]["random_state"],
        seed=filled["seed"],
        dtype_policy=filled["dtype_policy"],
        distribute=_distribute(filled["distribute"]),
        intra_op_parallelism_threads=threading["intra_op_parallelism_threads"],
        inter_op_parallelism_threads=threading["inter_op_parallelism_threads"],
        file=file,
        data=data,
        ignore_warnings=tuple(filled["warnings"]["ignore"]),
        warnings=tuple(warnings),
    )
