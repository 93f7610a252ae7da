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
