"""The registry's class names as Keras classes. Imports Keras.

:mod:`fmnist_spec.language.registry` names every class a spec can use, as
strings; here each name is looked up in its Keras module, and only those
names, so no other class can ever be built from a spec (no lookup by an
arbitrary name, no code from the spec). A name Keras no longer has fails at
import, not in the middle of a run.
"""

from __future__ import annotations

import keras

from ..language import registry

LAYERS = {name: getattr(keras.layers, entry.class_name) for name, entry in registry.LAYERS.items()}
"""Layer ``type`` -> ``keras.layers`` class."""

OPTIMIZERS = {entry.class_name: getattr(keras.optimizers, entry.class_name)
              for entry in registry.OPTIMIZERS.values()}
"""Optimizer class name (``Adam``) -> ``keras.optimizers`` class."""

SCHEDULES = {name: getattr(keras.optimizers.schedules, entry.class_name)
             for name, entry in registry.SCHEDULES.items()}
"""Learning-rate schedule ``type`` -> ``keras.optimizers.schedules`` class."""

CALLBACKS = {name: getattr(keras.callbacks, entry.class_name) for name, entry in registry.CALLBACKS.items()}
"""Callback ``type`` -> ``keras.callbacks`` class."""

LOSSES = {name: getattr(keras.losses, entry.class_name) for name, entry in registry.LOSSES.items()}
"""Loss function name -> ``keras.losses`` class (used when ``from_logits`` is true)."""
