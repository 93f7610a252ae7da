"""Spec -> ``keras.Sequential``, in the list style or the ``.add()`` style.

Both styles share one code path: the same layer objects are made by
:func:`make_layers`, then given either to ``keras.Sequential([...])`` or to
``model.add`` one at a time (Keras's own ``Sequential([...])`` is a loop over
``add``). The spec's ``input_shape`` becomes a leading ``keras.Input``, which
is what Keras 3 asks for instead of ``input_shape=`` on a layer (that form
warns).

The model is built under the spec's dtype policy (:mod:`fmnist_spec.to_keras.precision`):
Keras's global policy is set for the construction only and restored after, so
building one model never changes the next one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import keras

from .compat import atomic_model_checkpoint
from .compat import graph_name_scope as use_graph_name  # the Keras name-scope workaround, see compat
from .layers import CALLBACKS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES
from .precision import last_layer_dtype, resolve_dtype_policy
from ..language.names import INPUT_LAYER_NAME, graph_name, layer_names
from ..language.spec import Spec

STYLES = ("list", "add")


def make_layers(spec: Spec, policy: str = "float32") -> list:
    """``[keras.Input(shape=input_shape), layer, ...]`` for ``spec``; under a mixed ``policy``
    the last layer gets ``dtype="float32"`` (call it under that global policy).

    Every layer is given the name ``validate --summary`` shows (:func:`fmnist_spec.language.names.layer_names`,
    Keras's own names in a fresh process), so a model built after others in one process
    (``compare``, a notebook) has the same names as one built alone, and ``inspect --filters``
    finds its layers by them.
    """
    made = [keras.Input(shape=spec.input_shape, name=INPUT_LAYER_NAME)]
    names = layer_names([{"type": layer.type, "name": layer.name} for layer in spec.layers])
    for i, layer in enumerate(spec.layers):
        kwargs = dict(layer.arguments)
        kwargs["name"] = names[i]
        if i == len(spec.layers) - 1 and last_layer_dtype(policy):
            kwargs["dtype"] = last_layer_dtype(policy)
        made.append(LAYERS[layer.type](**kwargs))
    return made


@contextlib.contextmanager
def dtype_policy(policy: str):
    """``keras.config.set_dtype_policy(policy)`` inside the block, the previous policy restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(spec: Spec, style: str | None = None) -> keras.Sequential:
    """Build the (uncompiled) ``keras.Sequential`` a spec describes.

    Args:
        spec: A checked spec (:func:`fmnist_spec.load_spec`).
        style: ``"list"`` (``keras.Sequential([...])``) or ``"add"``
            (``keras.Sequential()`` then ``.add()``); None uses ``spec.style``.

    Returns:
        A built model: input ``(None, *spec.input_shape)`` float32, output
        ``(None, 10)`` float32; ``model.name`` is ``spec.name``. The model and its layers
        have the dtype policy of ``spec.dtype_policy`` (``auto`` resolved on this machine by
        :func:`fmnist_spec.to_keras.precision.resolve_dtype_policy`), the last layer float32.

    Raises:
        ValueError: ``style`` is not one of ``"list"``, ``"add"``.
    """
    style = style or spec.style
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}. Received: style={style!r}")
    safe = graph_name(spec.name)
    policy = resolve_dtype_policy(spec).policy
    with dtype_policy(policy):  # the Sequential too: compile reads its policy (LossScaleOptimizer)
        made = make_layers(spec, policy)
        if style == "list":
            model = keras.Sequential(made, name=safe)
        else:
            model = keras.Sequential(name=safe)
            for layer in made:
                model.add(layer)
    model.name = spec.name
    use_graph_name(model, safe)
    return model


def make_optimizer(spec: Spec):
    """The ``optimizer=`` argument for ``model.compile``: the spec's name string
    as written (Keras's defaults apply), or an instance of the Keras class."""
    if isinstance(spec.optimizer.given, str):
        return spec.optimizer.given
    arguments = dict(spec.optimizer.arguments)
    if isinstance(arguments.get("learning_rate"), dict):
        arguments["learning_rate"] = make_schedule(arguments["learning_rate"])
    return OPTIMIZERS[spec.optimizer.type](**arguments)


def make_schedule(schedule: dict):
    """A ``keras.optimizers.schedules`` object from a spec's ``{type: ExponentialDecay, ...}``."""
    arguments = {k: v for k, v in schedule.items() if k != "type"}
    return SCHEDULES[schedule["type"]](**arguments)


def make_callbacks(spec: Spec, run_dir) -> list:
    """The Keras callback objects of ``spec.callbacks``, for ``model.fit(callbacks=...)``.

    Args:
        spec: A checked spec.
        run_dir: The run folder (str or Path); a ``ModelCheckpoint``'s
            ``filepath`` is taken relative to it (the checks keep it inside,
            after formatting); its folders are made when it is saved.

    Returns:
        One ``keras.callbacks`` object per entry of ``fit.callbacks``, in order.
    """
    made = []
    for callback in spec.callbacks:
        arguments = dict(callback.arguments)
        if callback.type == "ModelCheckpoint":
            # Keras formats the whole path with str.format: braces of the run folder's own name
            # (--out 'r{epoch}') are escaped, only the spec's filepath is formatted.
            folder = str(run_dir).replace("{", "{{").replace("}", "}}")
            arguments["filepath"] = str(Path(folder) / arguments["filepath"])
            made.append(atomic_model_checkpoint(**arguments))  # written whole or not at all, see compat
            continue
        made.append(CALLBACKS[callback.type](**arguments))
    return made


def make_loss(spec: Spec):
    """The ``loss=`` argument: the name string, or a Keras loss object with ``from_logits``."""
    if not spec.loss.from_logits:
        return spec.loss.name
    return LOSSES[spec.loss.name](from_logits=True)


def compile_model(model, spec: Spec) -> None:
    """``model.compile(optimizer=..., loss=..., metrics=..., steps_per_execution=...,
    jit_compile=...)`` as the spec says. Under ``mixed_float16`` Keras's ``compile`` wraps the
    optimizer in a ``LossScaleOptimizer`` itself (it reads the model's dtype policy)."""
    model.compile(optimizer=make_optimizer(spec), loss=make_loss(spec), metrics=list(spec.metrics),
                  steps_per_execution=spec.steps_per_execution, jit_compile=spec.jit_compile)


def load_model(path) -> keras.Model:
    """Load a ``.keras`` file with Keras's ``safe_mode`` and the naming policy.

    Args:
        path: A ``.keras`` file written by ``fmnist-spec`` or by Keras.

    Returns:
        The model, ready to train again even when its display name is not
        TensorFlow-safe.
    """
    with optimizer_skip_unheard():
        model = keras.saving.load_model(path, safe_mode=True)
    use_graph_name(model, graph_name(model.name))
    return model


def load_weights(model, path) -> None:
    """``model.load_weights(path)`` without Keras's optimizer-skipping warning (see
    :func:`optimizer_skip_unheard`)."""
    with optimizer_skip_unheard():
        model.load_weights(str(path))


@contextlib.contextmanager
def optimizer_skip_unheard():
    """Silence Keras 3's "Skipping variable loading for optimizer 'adam', because it has 2 variables
    whereas the saved optimizer has 10 variables" ``UserWarning``: a freshly compiled model's
    optimizer has not built its slot variables yet, so the saved optimizer state is not loaded.
    Evaluating, predicting and exporting never use that state, and ``--resume`` restores it from
    the backup, so the warning names nothing a user can act on."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        yield
