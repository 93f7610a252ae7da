"""Can a loaded ``.keras`` model be a Fashion-MNIST classifier? Checks for
models fmnist-spec did not write (``evaluate``, ``predict``, ``export``).

A classifier has one output of shape ``(None, 10)``: one score per class.
Whether those scores are probabilities or logits is read from the last
layer, whichever way it applies softmax: ``Dense(activation='softmax')`` (or
any layer with that ``activation``), ``Activation('softmax')`` or
``Softmax()`` over the last axis. Anything else (including ``log_softmax``,
whose softmax is the same distribution) is taken as logits.
"""

from __future__ import annotations

from ..language import facts


class ModelShapeError(ValueError):
    """The model's outputs cannot be Fashion-MNIST class scores; the message says what was found."""


def check_outputs(model) -> None:
    """Refuse a model without exactly one output of shape ``(None, 10)``.

    Raises:
        ModelShapeError: several outputs, or one of another shape.
    """
    expected = (None, facts.NUM_CLASSES)
    outputs = list(getattr(model, "outputs", None) or [])
    if len(outputs) != 1:
        shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
        raise ModelShapeError(f"the model has {len(outputs)} outputs ({shapes}); a Fashion-MNIST classifier "
                              f"has one, of shape {expected}: a score for each of the {facts.NUM_CLASSES} classes")
    shape = tuple(outputs[0].shape)
    if shape != expected:
        raise ModelShapeError(f"the model's output has shape {shape}; expected {expected}: a score for each of "
                              f"the {facts.NUM_CLASSES} Fashion-MNIST classes")


def final_softmax(model) -> str | None:
    """How the model's last layer applies softmax, e.g. ``"Softmax layer 'probs'"``, or None.

    Args:
        model: A loaded Keras model.
    """
    if not model.layers:
        return None
    layer = model.layers[-1]
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == "Softmax":
        return f"Softmax layer {layer.name!r}" if config.get("axis", -1) in (-1, 1) else None
    if config.get("activation") == "softmax":
        if kind == "Activation":
            return f"Activation('softmax') layer {layer.name!r}"
        return f"{kind} layer {layer.name!r} with activation='softmax'"
    return None
