"""The spec language's vocabulary: every name a spec may write and the Keras class it stands for.

One home for names, as strings (no TensorFlow or Keras import): layer types,
activations, initializers, optimizers, learning-rate schedules, callbacks,
losses and metrics. The JSON Schema
(``schemas/model-spec.schema.json``) lists the same names and arguments, with
their defaults and ranges; ``tests/test_registry.py`` keeps the two in
agreement, and checks every class name against Keras 3.15.
:mod:`fmnist_spec.to_keras.layers` turns the class names into Keras classes.

Spec keys are Keras's own argument names (``units``, ``learning_rate``), so
there is no translation table: an entry names the Keras class and the
keyword arguments a spec may give it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerType:
    """A ``keras.layers`` class a spec can build.

    Attributes:
        class_name: The class in ``keras.layers`` (``"Dense"``), also the spec's ``type``.
        arguments: Keyword arguments of the class a spec may give, besides ``name``.
        first: The argument Keras takes first (``Dense(100)``), written without
            its keyword in generated code; None when there is none.
        keys: The keys of its spec mapping besides the arguments (:data:`LAYER_KEYS`).
    """

    class_name: str
    arguments: tuple
    first: str | None = None
    keys: tuple = ("type", "name", "input_shape")


LAYER_KEYS = ("type", "name", "input_shape")
"""Keys every layer mapping may have besides its class's arguments (``input_shape``
becomes a leading ``keras.Input``, only on the first layer); an ``Input`` has only ``type``."""

_CONV_ARGUMENTS = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias", "kernel_initializer")
_POOLING_ARGUMENTS = ("pool_size", "strides", "padding")

LAYERS = {
    "Dense": LayerType("Dense", ("units", "activation", "use_bias", "kernel_initializer"), first="units"),
    "Flatten": LayerType("Flatten", ()),
    "Dropout": LayerType("Dropout", ("rate",), first="rate"),
    "Conv2D": LayerType("Conv2D", _CONV_ARGUMENTS, first="filters"),
    "MaxPooling2D": LayerType("MaxPooling2D", _POOLING_ARGUMENTS, first="pool_size"),
    "AveragePooling2D": LayerType("AveragePooling2D", _POOLING_ARGUMENTS, first="pool_size"),
    "BatchNormalization": LayerType("BatchNormalization", ("momentum", "epsilon", "center", "scale")),
    "Reshape": LayerType("Reshape", ("target_shape",), first="target_shape"),
    "Input": LayerType("Input", ("shape",), keys=("type",)),
}
"""Layer ``type`` -> :class:`LayerType`. ``Input`` (``keras.layers.Input(shape=...)``, a function
giving the model's input, not a layer of its summary) may only come first."""

ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6",
    "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
    "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
)
"""Names ``keras.activations.get`` knows (Keras 3.15), for ``activation:``."""

INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "random_uniform", "random_normal", "truncated_normal", "variance_scaling", "orthogonal",
    "zeros", "ones",
)
"""Names ``keras.initializers.get`` knows, for ``kernel_initializer:`` (Keras's default arguments)."""


@dataclass(frozen=True)
class Optimizer:
    """A ``keras.optimizers`` class.

    Attributes:
        class_name: The class in ``keras.optimizers`` (``"Adam"``), the spec's ``type:``.
        arguments: Keyword arguments a spec may give it (``{type: Adam, learning_rate: 0.01}``).
    """

    class_name: str
    arguments: tuple


OPTIMIZERS = {
    "sgd": Optimizer("SGD", ("learning_rate", "momentum", "nesterov")),
    "adagrad": Optimizer("Adagrad", ("learning_rate", "initial_accumulator_value", "epsilon")),
    "rmsprop": Optimizer("RMSprop", ("learning_rate", "rho", "momentum", "epsilon", "centered")),
    "adam": Optimizer("Adam", ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad")),
}
"""Optimizer name string (``compile(optimizer='adam')``) -> :class:`Optimizer`."""

OPTIMIZER_CLASSES = {name: entry.class_name for name, entry in OPTIMIZERS.items()}
"""Optimizer name string -> Keras class name (``"adam"`` -> ``"Adam"``)."""

OPTIMIZER_NAMES = {entry.class_name: name for name, entry in OPTIMIZERS.items()}
"""Keras class name -> optimizer name string (``"Adam"`` -> ``"adam"``)."""


@dataclass(frozen=True)
class KerasClass:
    """A ``keras.callbacks`` or ``keras.optimizers.schedules`` class.

    Attributes:
        class_name: The class's name, the spec's ``type:`` (``"EarlyStopping"``).
        arguments: Keyword arguments a spec may give it.
        first: The argument Keras takes first, written without its keyword in
            generated code (``ModelCheckpoint("best-model.keras")``); None when there is none.
    """

    class_name: str
    arguments: tuple
    first: str | None = None


CALLBACKS = {
    "EarlyStopping": KerasClass("EarlyStopping", ("monitor", "min_delta", "patience", "mode",
                                                  "restore_best_weights", "start_from_epoch")),
    "ModelCheckpoint": KerasClass("ModelCheckpoint", ("filepath", "monitor", "save_best_only",
                                                      "save_weights_only", "mode"), first="filepath"),
    "ReduceLROnPlateau": KerasClass("ReduceLROnPlateau", ("monitor", "factor", "patience", "min_delta",
                                                          "min_lr")),
}
"""Callback ``type`` (``fit.callbacks``) -> :class:`KerasClass` in ``keras.callbacks``."""

SCHEDULES = {
    "ExponentialDecay": KerasClass("ExponentialDecay", ("initial_learning_rate", "decay_steps", "decay_rate",
                                                        "staircase"), first="initial_learning_rate"),
    "CosineDecay": KerasClass("CosineDecay", ("initial_learning_rate", "decay_steps", "alpha", "warmup_target",
                                              "warmup_steps"), first="initial_learning_rate"),
    "PiecewiseConstantDecay": KerasClass("PiecewiseConstantDecay", ("boundaries", "values"), first="boundaries"),
}
"""Learning-rate schedule ``type`` (an optimizer's ``learning_rate``) -> :class:`KerasClass` in
``keras.optimizers.schedules``."""

MONITORED = ("val_loss", "loss", "val_accuracy", "accuracy", "val_sparse_categorical_accuracy",
             "sparse_categorical_accuracy", "val_categorical_accuracy", "categorical_accuracy")
"""Quantities a callback's ``monitor`` may name: ``loss`` and each metric of :data:`METRICS`,
with and without ``val_`` (the keys of Keras's training history)."""


@dataclass(frozen=True)
class Loss:
    """A ``keras.losses`` function name and its class.

    Attributes:
        class_name: The class in ``keras.losses`` (``"SparseCategoricalCrossentropy"``),
            the spec's ``type:`` when it gives ``from_logits``.
        labels: The labels it expects: ``"integer"`` (shape ``(n,)``, 0..9) or
            ``"one-hot"`` (shape ``(n, 10)``).
        arguments: Keyword arguments a spec may give the class.
    """

    class_name: str
    labels: str
    arguments: tuple = ("from_logits",)


LOSSES = {
    "sparse_categorical_crossentropy": Loss("SparseCategoricalCrossentropy", "integer"),
    "categorical_crossentropy": Loss("CategoricalCrossentropy", "one-hot"),
}
"""Loss function name (``compile(loss='sparse_categorical_crossentropy')``) -> :class:`Loss`."""

LOSS_NAMES = {entry.class_name: name for name, entry in LOSSES.items()}
"""Keras loss class name -> loss function name."""

METRICS = {
    "accuracy": None,
    "sparse_categorical_accuracy": "integer",
    "categorical_accuracy": "one-hot",
}
"""Metric name for ``compile(metrics=[...])`` -> the labels it expects (None: Keras
chooses from the loss, as ``'accuracy'`` does)."""

FASHION_MNIST_LABELS = "integer"
"""Fashion-MNIST's labels are integers 0..9, shape ``(n,)``."""


def _unknown(kind: str, name, known) -> KeyError:
    return KeyError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def layer(type_: str) -> LayerType:
    """The :class:`LayerType` of a layer ``type``.

    Raises:
        KeyError: ``type_`` is not in :data:`LAYERS` (the message lists the known names).
    """
    if type_ not in LAYERS:
        raise _unknown("layer type", type_, LAYERS)
    return LAYERS[type_]


def optimizer_class(name: str) -> str:
    """The Keras class name of an optimizer given by name (any case) or by class name.

    Raises:
        KeyError: neither a known name nor a known class (the message lists the known names).
    """
    if name in OPTIMIZER_NAMES:
        return name
    if isinstance(name, str) and name.lower() in OPTIMIZER_CLASSES:
        return OPTIMIZER_CLASSES[name.lower()]
    raise _unknown("optimizer", name, OPTIMIZER_CLASSES)


def loss(given) -> tuple[str, bool]:
    """(loss function name, from_logits) of a schema-valid ``compile.loss``: the name
    string, or a mapping ``{type: SparseCategoricalCrossentropy, from_logits: true}``
    (``from_logits`` false when left out, as in Keras).

    Raises:
        KeyError: an unknown name or class (the message lists the known names).
    """
    if isinstance(given, str):
        if given not in LOSSES:
            raise _unknown("loss", given, LOSSES)
        return given, False
    if given.get("type") not in LOSS_NAMES:
        raise _unknown("loss class", given.get("type"), LOSS_NAMES)
    return LOSS_NAMES[given["type"]], bool(given.get("from_logits", False))
