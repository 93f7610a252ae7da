"""The textbook's lesson 8-2 convolutional network in plain Keras, as written: the
baseline of ``cnn_vs_keras.py``.

``ed1-8-2``'s cells in order: ``keras.utils.set_random_seed(42)``;
``train_input.reshape(-1, 28, 28, 1) / 255.0`` ((48,000, 28, 28, 1) float64
after the split); ``train_test_split(test_size=0.2, random_state=42)``;
``Sequential`` built with ``add``: Conv2D(32, kernel_size=3, relu,
padding='same', input_shape=(28,28,1)), MaxPooling2D(2), Conv2D(64,
kernel_size=(3,3), relu, padding='same'), MaxPooling2D(2), Flatten,
Dense(100, relu), Dropout(0.4), Dense(10, softmax) (333,526 parameters);
``compile(optimizer='adam', loss='sparse_categorical_crossentropy',
metrics=['accuracy'])``; ``fit(..., validation_data=(val_scaled, val_target),
callbacks=[checkpoint_cb, ...])`` with Keras's defaults (batch size 32,
``steps_per_execution=1``, TensorFlow's threads); then
``model.evaluate(val_scaled, val_target)``.

Two changes, both for timing: ``fit`` runs a fixed number of epochs
(``--epochs``, default 3) without the notebook's ``EarlyStopping`` (the
``ModelCheckpoint('best-cnn-model.keras', save_best_only=True)`` stays and
writes into a temporary directory), and the data are read from the four IDX
files fmnist-spec reads (:func:`fmnist_spec.running.data.load_fashion_mnist`)
instead of ``keras.datasets.fashion_mnist.load_data()``, which needs the
network. Run by hand::

    python benchmarks/textbook_cnn.py [--epochs 3] [--train-samples N] [--filters-scale K]

``--train-samples N`` uses the first N of the 60,000 training images (80 % of
them train); ``--filters-scale K`` multiplies both Conv2D's filters by K.

The last line of output is one JSON object (``BENCH {...}``): ``fit_seconds``
(wall time in ``fit``, seconds), ``epoch_seconds`` (each epoch, seconds),
``train_accuracy`` (last epoch, 0..1), ``val_accuracy`` and ``val_loss``
(``model.evaluate`` on the validation split), ``train_samples``,
``peak_rss_mb`` (this process's peak resident memory, ``ru_maxrss``, MB).
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fmnist_spec.running.data import load_fashion_mnist


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--train-samples", type=int, default=None,
                         help="use only the first N of the 60,000 training images")
    options.add_argument("--filters-scale", type=int, default=1, help="multiply both Conv2D's filters by K")
    args = options.parse_args()
    k = args.filters_scale
    os.chdir(tempfile.mkdtemp(prefix="textbook-cnn-"))  # best-cnn-model.keras goes there

    # --- the textbook's code (ed1-8-2), as written -----------------------------
    import tensorflow as tf

    tf.keras.utils.set_random_seed(42)

    from sklearn.model_selection import train_test_split
    from tensorflow import keras

    data = load_fashion_mnist(download=False)
    train_input, train_target = data.train_images, data.train_labels
    if args.train_samples:
        train_input, train_target = train_input[: args.train_samples], train_target[: args.train_samples]
    train_scaled = train_input.reshape(-1, 28, 28, 1) / 255.0
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42)

    model = keras.Sequential()
    model.add(keras.layers.Conv2D(32 * k, kernel_size=3, activation='relu',
                                  padding='same', input_shape=(28, 28, 1)))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Conv2D(64 * k, kernel_size=(3, 3), activation='relu',
                                  padding='same'))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(100, activation='relu'))
    model.add(keras.layers.Dropout(0.4))
    model.add(keras.layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    checkpoint_cb = keras.callbacks.ModelCheckpoint('best-cnn-model.keras',
                                                    save_best_only=True)
    epoch_seconds = []

    class EpochTimes(keras.callbacks.Callback):  # timing only
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)

    start = time.perf_counter()
    history = model.fit(train_scaled, train_target, epochs=args.epochs,
                        validation_data=(val_scaled, val_target),
                        callbacks=[checkpoint_cb, EpochTimes()], verbose=2)
    fit_seconds = time.perf_counter() - start
    val_loss, val_accuracy = model.evaluate(val_scaled, val_target, verbose=2)
    # ---------------------------------------------------------------------------

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print("BENCH " + json.dumps({
        "fit_seconds": fit_seconds,
        "epoch_seconds": epoch_seconds,
        "train_accuracy": float(history.history["accuracy"][-1]),
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "train_samples": len(train_target),
        "parameters": int(model.count_params()),
        "input_dtype": str(train_scaled.dtype),
        "peak_rss_mb": peak_kb / 1024,
    }))


if __name__ == "__main__":
    main()
