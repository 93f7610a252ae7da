"""The naming policy: display names for people, safe names for TensorFlow.

TensorFlow accepts only ``^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$`` as a root name
scope, and Keras 3 on TensorFlow opens the model's name as one in ``fit``:
a model named ``패션 MNIST 모델`` (the notes' name) or ``Fully Connected
Network`` builds and summarises, then ``fit`` raises "is not a valid root scope
name" and leaves a broken scope behind for later models of the process.

Policy, applied everywhere (build, train, save, load):

* Model names are free text. ``model.name`` keeps the display name, so
  ``summary()`` and the saved ``.keras`` file show it; the graph uses
  :func:`graph_name` of it (see :func:`fmnist_spec.to_keras.builder.use_graph_name`).
* Layer names must already be graph-safe (the schema's pattern); anything else
  is a spec error at the name's line, since Keras also uses them in weight paths.
"""

from __future__ import annotations

import hashlib
import re

_ROOT_SCOPE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def is_graph_safe(name: str) -> bool:
    """True when TensorFlow accepts ``name`` as a root name scope."""
    return bool(_ROOT_SCOPE.match(name)) and "/" not in name


def graph_name(name: str) -> str:
    """A TensorFlow-safe form of a model's display name.

    Safe names are kept. Otherwise runs of other characters become ``_`` and a
    short hash of the display name is added so that distinct names stay
    distinct: ``패션 MNIST 모델`` -> ``MNIST_1c7f0b``, ``Fully Connected
    Network`` -> ``Fully_Connected_Network_58e1b4``.
    """
    if is_graph_safe(name):
        return name
    ascii_part = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{ascii_part}_{digest}" if ascii_part else f"model_{digest}"


INPUT_LAYER_NAME = "input_layer"
"""The name of the model's ``InputLayer`` (from the ``Input`` element or ``input_shape``), the
first object Keras names when ``build`` makes the model in a fresh process."""


def snake_case(class_name: str) -> str:
    """Keras's ``keras.src.utils.naming.to_snake_case``: ``MaxPooling2D`` -> ``max_pooling2d``,
    ``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_names(layers: list[dict]) -> list[str | None]:
    """The name each layer of a ``keras.Sequential`` gets, as Keras 3 names them in a fresh session.

    A layer keeps its ``name``. An unnamed layer gets Keras's ``auto_name`` of its class
    (``keras.src.utils.naming.uniquify``): the snake-cased class name, then ``_1``, ``_2``, ...
    counted over the *unnamed* layers of that class only, since a given ``name`` never touches
    Keras's counter: ``[{name: hidden}, {units: 10}]`` is ``hidden``, ``dense``. Two layers can
    end up with one name (``[{units: 100}, {name: dense, units: 10}]``); Keras then refuses the
    model, and :func:`fmnist_spec.language.checks.check_layer_names_unique` says so first.

    Args:
        layers: The spec's ``layers`` (plain dicts, ``type`` defaulting to ``Dense``).

    Returns:
        One name per element, in order; None for a leading ``Input`` element, which is the model's
        ``InputLayer`` (:data:`INPUT_LAYER_NAME`), not a layer of the list.
    """
    counts: dict[str, int] = {}
    names: list[str | None] = []
    for layer in layers:
        kind = layer.get("type", "Dense")
        if kind == "Input":
            names.append(None)
        elif layer.get("name") is not None:
            names.append(layer["name"])
        else:
            base = snake_case(kind)
            count = counts.get(base, 0)
            counts[base] = count + 1
            names.append(base if count == 0 else f"{base}_{count}")
    return names
