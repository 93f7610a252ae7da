"""Registries: spec ``type`` names -> Keras classes. Imports Keras.

Explicit dict literals, so that only known classes can ever be built from a
spec (no lookup by arbitrary name, no code from the spec).
"""

from __future__ import annotations

import keras

LAYERS = {
    "Dense": keras.layers.Dense,
    "Flatten": keras.layers.Flatten,
    "Dropout": keras.layers.Dropout,
}
"""Layer ``type`` -> ``keras.layers`` class."""

OPTIMIZERS = {
    "SGD": keras.optimizers.SGD,
    "Adagrad": keras.optimizers.Adagrad,
    "RMSprop": keras.optimizers.RMSprop,
    "Adam": keras.optimizers.Adam,
}
"""Optimizer ``type`` -> ``keras.optimizers`` class."""

LOSSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}
"""Loss function name -> ``keras.losses`` class (used when ``from_logits`` is true)."""
