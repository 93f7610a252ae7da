"""Compile, fit, evaluate and write the run folder: the only stateful step.

The data are prepared as in the notes (``../shared/seeds``): pixels divided by
``scale``, optionally reshaped to 784, the 60,000 training images split with
scikit-learn's ``train_test_split(test_size=0.2, random_state=42)`` into
48,000 for training and 12,000 for validation; the 10,000 test images are
only evaluated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .data import FashionMNIST, load_fashion_mnist
from .files import save_model, write_json, write_yaml
from .names import graph_name
from .spec import Spec


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


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        out_dir: The run folder.
        history: Keras's ``History.history``: metric name -> one float per epoch.
        metrics: Final figures: ``train`` (last epoch), ``validation`` and
            ``test`` (``model.evaluate``) dicts of loss and metrics, plus
            ``fit_seconds`` (wall time in ``fit``, seconds) and sample counts.
        model: The trained ``keras.Sequential``.
    """

    out_dir: Path
    history: dict
    metrics: dict
    model: object = field(repr=False, default=None)


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
        return out.reshape(len(out), -1) if spec.flatten else out

    images, labels = data.train_images, data.train_labels
    if spec.train_samples is not None:
        images, labels = images[: spec.train_samples], labels[: spec.train_samples]
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=spec.test_size, random_state=spec.random_state)
    return Splits(scaled(x_train), y_train, scaled(x_val), y_val, scaled(data.test_images), data.test_labels)


def default_out_dir(spec: Spec) -> Path:
    """``runs/<spec file name without .yaml>``, or ``runs/<graph name>`` for specs from text."""
    stem = Path(spec.file).stem if not spec.file.startswith("<") else graph_name(spec.name)
    return Path("runs") / stem


def seed_everything(seed: int | None) -> None:
    """``keras.utils.set_random_seed(seed)`` and TensorFlow op determinism; nothing for None."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


_THREAD_WARNINGS: set = set()


def set_threads(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (``tf.config.threading``; 0: TensorFlow chooses).

    TensorFlow fixes them when it first runs an op; a later, different request
    (``train`` in a process that already used TensorFlow) cannot take effect
    and warns, once per process and setting.
    """
    import warnings

    import tensorflow as tf

    threading = tf.config.threading
    wanted = (intra_op, inter_op)
    current = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    if wanted == current:
        return
    try:
        threading.set_intra_op_parallelism_threads(intra_op)
        threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        if (current, wanted) not in _THREAD_WARNINGS:
            _THREAD_WARNINGS.add((current, wanted))
            warnings.warn(f"TensorFlow's thread pools are already running with intra/inter op threads "
                          f"{current}; the spec's threading {wanted} applies from the next process",
                          stacklevel=3)


def _evaluate(model, x, y, batch_size: int) -> dict:
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def train(spec: Spec, *, epochs: int | None = None, out: str | Path | None = None,
          data_dir: str | Path | None = None, style: str | None = None,
          verbose=None, seed: int | None = None, data: FashionMNIST | None = None) -> TrainResult:
    """Build, compile and fit ``spec`` on Fashion-MNIST and write the run folder.

    Args:
        spec: A checked spec.
        epochs: Overrides ``fit.epochs`` when given.
        out: The run folder (created); default :func:`default_out_dir`.
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.data`).
        style: Overrides ``spec.style`` (``"list"`` or ``"add"``).
        verbose: Overrides ``fit.verbose`` (0, 1, 2 or ``"auto"``).
        seed: Overrides ``seed`` (recorded in the run's ``spec.yaml``).
        data: Already loaded data (tests); default :func:`load_fashion_mnist`.

    Returns:
        A :class:`TrainResult`. The run folder holds ``model.keras``,
        ``history.json``, ``metrics.json`` and ``spec.yaml`` (the resolved
        spec), each written atomically.

    Raises:
        fmnist_spec.data.DataError: Fashion-MNIST could not be loaded.
    """
    from .builder import build_model, compile_model

    spec = replace(spec, seed=seed) if seed is not None else spec
    data = data if data is not None else load_fashion_mnist(data_dir)
    splits = prepare(spec, data)
    set_threads(spec.intra_op_parallelism_threads, spec.inter_op_parallelism_threads)
    seed_everything(spec.seed)
    model = build_model(spec, style)
    compile_model(model, spec)
    epochs = epochs or spec.epochs
    eval_batch = spec.validation_batch_size or spec.batch_size
    freq = spec.validation_freq if isinstance(spec.validation_freq, int) else list(spec.validation_freq)
    start = time.perf_counter()
    history = model.fit(
        splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
        epochs=epochs, batch_size=spec.batch_size, validation_freq=freq,
        validation_batch_size=eval_batch,
        verbose=spec.verbose if verbose is None else verbose)
    fit_seconds = time.perf_counter() - start
    hist = {k: [float(v) for v in values] for k, values in history.history.items()}
    metrics = {
        "train": {k: values[-1] for k, values in hist.items() if not k.startswith("val_")},
        "validation": _evaluate(model, splits.x_val, splits.y_val, eval_batch),
        "test": _evaluate(model, splits.x_test, splits.y_test, eval_batch),
        "fit_seconds": fit_seconds,
        "epochs": epochs,
        "samples": {"train": len(splits.y_train), "validation": len(splits.y_val),
                    "test": len(splits.y_test)},
        "parameters": int(model.count_params()),
        "data_source": data.source,
    }
    out_dir = Path(out) if out is not None else default_out_dir(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = spec.resolved()
    resolved["fit"]["epochs"] = epochs
    if style:
        resolved["style"] = style
    write_yaml(out_dir / "spec.yaml", resolved)
    write_json(out_dir / "history.json", hist)
    save_model(model, out_dir / "model.keras")
    write_json(out_dir / "metrics.json", metrics)
    return TrainResult(out_dir, hist, metrics, model)
