"""Preparing the data as the notes do (``../shared/seeds``): pixels divided by
``scale``, reshaped to the model's input shape ((784,), (28, 28) or (28, 28, 1)), the 60,000 training images split with
scikit-learn's ``train_test_split(test_size=0.2, random_state=42)`` into
48,000 for training and 12,000 for validation; the 10,000 test images are only
evaluated. No TensorFlow."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from ..language.spec import Spec
from .data import DataError, FashionMNIST


@dataclass
class Splits:
    """Prepared arrays: images ``(n, 28, 28)`` or ``(n, 784)`` float32 in
    0..255/scale, labels ``(n,)`` uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def samples(self) -> dict:
        """``{"train": n, "validation": n, "test": n}``."""
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def check_split_sizes(n: int, test_size: float, source: str, train_samples: int | None = None) -> None:
    """Both sides of ``train_test_split(test_size=...)`` of ``n`` images get at least one.

    scikit-learn takes ``ceil(test_size * n)`` images for validation and the rest for training
    (``sklearn.model_selection.train_test_split``), and raises a ValueError when a side is empty.

    Raises:
        DataError: a side would be empty (a data folder with 0 or 1 training images).
    """
    n_val = math.ceil(test_size * n)
    n_train = n - n_val
    if n_train >= 1 and n_val >= 1:
        return
    limit = f" (the first {train_samples:,}: data.train_samples)" if train_samples is not None else ""
    raise DataError(f"{source}: {n:,} training image{'s' if n != 1 else ''}{limit}, which test_size {test_size:g} "
                    f"splits into {n_train:,} for training and {n_val:,} for validation; each side needs at least "
                    f"one image, so at least {_least(test_size)} training images are needed\n"
                    "  hint: give a data folder with more training images (Fashion-MNIST has 60,000), "
                    "or raise data.train_samples")


def _least(test_size: float) -> int:
    """The fewest images that ``test_size`` splits into two non-empty sides."""
    n = max(2, math.ceil(1 / (1 - test_size)))  # n - ceil(test_size * n) >= 1 needs n >= 1 / (1 - test_size)
    while n - math.ceil(test_size * n) < 1:  # float rounding: a step or two at most
        n += 1
    return n


def prepare(spec: Spec, data: FashionMNIST) -> Splits:
    """Scale, reshape and split the data as ``spec.data`` says.

    The uint8 images are split first and each part is then scaled once into a
    new float32 array (``np.divide(..., dtype=float32)``, no float64 and no
    intermediate copy), so the peak is about one float32 copy of the data:
    188 MB for the 60,000 training images instead of the notes' 2 x 376 MB
    of float64. The values are the same as scaling before the split.
    """
    def scaled(images: np.ndarray) -> np.ndarray:
        out = np.divide(images, np.float32(spec.scale), dtype=np.float32)
        return out.reshape((len(out),) + spec.input_shape)

    images, labels = data.train_images, data.train_labels
    if spec.train_samples is not None:
        images, labels = images[: spec.train_samples], labels[: spec.train_samples]
    cut = spec.train_samples if len(images) < len(data.train_images) else None
    check_split_sizes(len(images), spec.test_size, data.source, cut)
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=spec.test_size, random_state=spec.random_state)
    return Splits(scaled(x_train), y_train, scaled(x_val), y_val, scaled(data.test_images), data.test_labels)
