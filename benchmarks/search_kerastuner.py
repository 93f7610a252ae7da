"""Lesson 7-3's search written with KerasTuner, as a Keras user would without fmnist-spec: the
baseline of ``search_vs_kerastuner.py``.

The lesson's model (``model_fn(keras.layers.Dropout(rate))``: Input(28, 28), Flatten,
Dense(100, relu), Dropout(rate), Dense(10, softmax)), compiled with the optimizer by name,
``sparse_categorical_crossentropy`` and ``accuracy``; ``hp.Choice`` over sgd, adagrad, rmsprop
and adam and ``hp.Float`` over the dropout rate 0.1 to 0.5 in steps of 0.1 (the 20 points of
``specs/search_optimizer_dropout.yaml``), searched by ``keras_tuner.GridSearch`` with
``tuner.search(..., epochs=10, validation_data=(val_scaled, val_target))``: Keras's defaults
(batch size 32), no pruning, KerasTuner's defaults (it keeps each trial's best-epoch weights).
The data: the four IDX files fmnist-spec reads (:func:`fmnist_spec.running.data.load_fashion_mnist`,
no TensorFlow involved), ``/ 255.0`` and ``train_test_split(test_size=0.2, random_state=42)`` as
the lesson writes them. Run by hand (KerasTuner on the path, e.g. ``PYTHONPATH=/tmp/ktlib``)::

    python benchmarks/search_kerastuner.py [--trials 20] [--epochs 10] [--train-samples N] [--data-dir DIR]

The last line of output is one JSON object (``BENCH {...}``): ``seconds`` (wall time of
``tuner.search``), ``trials`` (each: ``values``, ``val_accuracy`` of its last epoch (recorded by a callback:
KerasTuner keeps only the best epoch's),
``best_epoch_val_accuracy`` (KerasTuner's score), ``status``, ``finished`` seconds since the search
began), ``complete``, ``best_val_accuracy`` (the best last-epoch validation accuracy, the figure
fmnist-spec's search optimises), ``best_values``, ``keras_tuner``, ``peak_rss_mb``. When KerasTuner
cannot be imported or cannot run, the line is ``BENCH {"error": "..."}`` and the status 3.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fmnist_spec.running.data import load_fashion_mnist


def search(args, workdir: str) -> dict:
    """The KerasTuner search; returns the figures of the BENCH line."""
    # --- what a Keras user writes ---------------------------------------------------------------
    import keras
    import keras_tuner
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(42)
    data = load_fashion_mnist(args.data_dir, download=False)
    train_input, train_target = data.train_images, data.train_labels
    if args.train_samples:
        train_input, train_target = train_input[: args.train_samples], train_target[: args.train_samples]
    train_scaled = train_input / 255.0
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42)

    def build_model(hp):
        model = keras.Sequential()
        model.add(keras.layers.Input(shape=(28, 28)))
        model.add(keras.layers.Flatten())
        model.add(keras.layers.Dense(100, activation='relu'))
        model.add(keras.layers.Dropout(hp.Float('rate', 0.1, 0.5, step=0.1)))
        model.add(keras.layers.Dense(10, activation='softmax'))
        model.compile(optimizer=hp.Choice('optimizer', ['sgd', 'adagrad', 'rmsprop', 'adam']),
                      loss='sparse_categorical_crossentropy', metrics=['accuracy'])
        return model

    tuner = keras_tuner.GridSearch(build_model, objective='val_accuracy', max_trials=args.trials, seed=42,
                                   directory=workdir, project_name='lesson7_3', overwrite=True)
    # ---------------------------------------------------------------------------------------------
    finished, last = [], []

    class WhenFinished(keras.callbacks.Callback):
        """Measurement only: when each trial's fit ended and its last epoch's val_accuracy (KerasTuner
        keeps only the best epoch's)."""

        def on_epoch_end(self, epoch, logs=None):
            self.last = (logs or {}).get("val_accuracy")

        def on_train_end(self, logs=None):
            finished.append(time.perf_counter() - start)
            last.append(getattr(self, "last", None))

    start = time.perf_counter()
    tuner.search(train_scaled, train_target, epochs=args.epochs, validation_data=(val_scaled, val_target),
                 verbose=0, callbacks=[WhenFinished()])
    seconds = time.perf_counter() - start

    trials = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        trials.append({"values": {"optimizer": trial.hyperparameters.get("optimizer"),
                                  "rate": round(trial.hyperparameters.get("rate"), 6)},
                       "val_accuracy": None, "best_epoch_val_accuracy": trial.score, "status": str(trial.status)})
    for trial, at, value in zip(trials, finished, last):  # the trials run in order of their ids
        trial["finished"], trial["val_accuracy"] = round(at, 3), None if value is None else float(value)
    complete = [t for t in trials if t["val_accuracy"] is not None and t["status"] == "COMPLETED"]
    best = max(complete, key=lambda t: t["val_accuracy"]) if complete else None
    return {"seconds": seconds, "trials": trials, "complete": len(complete), "pruned": 0,
            "best_val_accuracy": best and best["val_accuracy"], "best_values": best and best["values"],
            "keras_tuner": keras_tuner.__version__, "keras": keras.__version__,
            "train_samples": len(train_target)}


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--trials", type=int, default=20)
    options.add_argument("--epochs", type=int, default=10)
    options.add_argument("--train-samples", type=int, default=None,
                         help="use only the first N of the 60,000 training images (before the split)")
    options.add_argument("--data-dir", default=None)
    args = options.parse_args()
    with tempfile.TemporaryDirectory(prefix="kerastuner-") as workdir:
        try:
            row = search(args, workdir)
        except Exception as exc:  # noqa: BLE001 - the benchmark shows KerasTuner's error as it is
            traceback.print_exc()
            print("BENCH " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
            return 3
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print("BENCH " + json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
