"""The notes' plain Keras script, as written: the baseline of ``train_vs_keras.py``.

Flatten + Dense(100, relu) + Dense(10, softmax), ``train_input / 255.0``
(float64 arrays), ``train_test_split(test_size=0.2, random_state=42)``,
``compile(optimizer='adam', loss='sparse_categorical_crossentropy',
metrics=['accuracy'])``, ``fit(train_scaled, train_target, epochs=5)`` with
Keras's defaults (batch size 32, no validation during fit), then
``model.evaluate`` on the validation split.

The notes load the data with ``keras.datasets.fashion_mnist.load_data()``;
here the same four IDX files fmnist-spec reads are read with
:func:`fmnist_spec.running.data.load_fashion_mnist` (no TensorFlow involved), so both
sides train on identical arrays. Run by hand::

    python benchmarks/baseline_keras.py [--epochs 5] [--train-samples N]

The last line of output is one JSON object (``BENCH {...}``): ``fit_seconds``
(wall time in ``fit``), ``train_accuracy`` (last epoch), ``val_accuracy``
(``model.evaluate`` on the 12,000 validation images), ``train_samples``,
``peak_rss_mb`` (this process's peak resident memory, ``ru_maxrss``).
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fmnist_spec.running.data import load_fashion_mnist


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--epochs", type=int, default=5)
    options.add_argument("--train-samples", type=int, default=None,
                         help="use only the first N of the 60,000 training images")
    args = options.parse_args()

    # --- the notes' code, as written -----------------------------------------
    from sklearn.model_selection import train_test_split
    from tensorflow import keras

    data = load_fashion_mnist(download=False)
    train_input, train_target = data.train_images, data.train_labels
    if args.train_samples:
        train_input, train_target = train_input[: args.train_samples], train_target[: args.train_samples]
    train_scaled = train_input / 255.0
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42)

    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(28, 28)))
    model.add(keras.layers.Dense(100, activation='relu'))
    model.add(keras.layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    start = time.perf_counter()
    history = model.fit(train_scaled, train_target, epochs=args.epochs)
    fit_seconds = time.perf_counter() - start
    val_loss, val_accuracy = model.evaluate(val_scaled, val_target)
    # -------------------------------------------------------------------------

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print("BENCH " + json.dumps({
        "fit_seconds": fit_seconds,
        "train_accuracy": float(history.history["accuracy"][-1]),
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "train_samples": len(train_target),
        "input_dtype": str(train_scaled.dtype),
        "peak_rss_mb": peak_kb / 1024,
    }))


if __name__ == "__main__":
    main()
