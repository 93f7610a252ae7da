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
    "Conv2D": keras.layers.Conv2D,
    "MaxPooling2D": keras.layers.MaxPooling2D,
    "AveragePooling2D": keras.layers.AveragePooling2D,
    "BatchNormalization": keras.layers.BatchNormalization,
    "Reshape": keras.layers.Reshape,
}
"""Layer ``type`` -> ``keras.layers`` class."""

OPTIMIZERS = {
    "SGD": keras.optimizers.SGD,
    "Adagrad": keras.optimizers.Adagrad,
    "RMSprop": keras.optimizers.RMSprop,
    "Adam": keras.optimizers.Adam,
}
"""Optimizer ``type`` -> ``keras.optimizers`` class."""

SCHEDULES = {
    "ExponentialDecay": keras.optimizers.schedules.ExponentialDecay,
    "CosineDecay": keras.optimizers.schedules.CosineDecay,
    "PiecewiseConstantDecay": keras.optimizers.schedules.PiecewiseConstantDecay,
}
"""Learning-rate schedule ``type`` -> ``keras.optimizers.schedules`` class."""

CALLBACKS = {
    "EarlyStopping": keras.callbacks.EarlyStopping,
    "ModelCheckpoint": keras.callbacks.ModelCheckpoint,
    "ReduceLROnPlateau": keras.callbacks.ReduceLROnPlateau,
}
"""Callback ``type`` -> ``keras.callbacks`` class."""

LOSSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}
"""Loss function name -> ``keras.losses`` class (used when ``from_logits`` is true)."""
