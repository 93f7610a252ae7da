"""Lesson 7-3's search written with plain Keras + Optuna, as a Keras user would without
fmnist-spec: the second baseline of ``search_vs_kerastuner.py``.

The notebooks' idiom (the script ``fmnist-spec codegen specs/search_optimizer_dropout.yaml``
writes): the data loaded and split once (``/ 255.0``, ``train_test_split(test_size=0.2,
random_state=42)``); ``objective(trial)`` suggests the optimizer (sgd, adagrad, rmsprop, adam)
and the dropout rate (0.1 to 0.5, step 0.1), calls ``keras.backend.clear_session()``, builds
lesson 7-3's model, fits 10 epochs with Keras's defaults (batch size 32), ``validation_data`` and
``optuna_integration.KerasPruningCallback``, and returns the last epoch's ``val_accuracy``;
``optuna.create_study(direction='maximize', sampler=GridSampler(..., seed=42),
pruner=MedianPruner())`` and ``study.optimize(objective, n_trials=20)`` in one process. Run by hand::

    python benchmarks/search_optuna.py [--trials 20] [--epochs 10] [--train-samples N] [--data-dir DIR]

The last line of output is one JSON object (``BENCH {...}``) with the fields of
``search_kerastuner.py``'s (``pruned`` counts the pruned trials).
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


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--trials", type=int, default=20)
    options.add_argument("--epochs", type=int, default=10)
    options.add_argument("--train-samples", type=int, default=None,
                         help="use only the first N of the 60,000 training images (before the split)")
    options.add_argument("--data-dir", default=None)
    args = options.parse_args()

    # --- what a Keras + Optuna user writes ------------------------------------------------------
    import keras
    import optuna
    from optuna_integration import KerasPruningCallback
    from sklearn.model_selection import train_test_split

    data = load_fashion_mnist(args.data_dir, download=False)
    train_input, train_target = data.train_images, data.train_labels
    if args.train_samples:
        train_input, train_target = train_input[: args.train_samples], train_target[: args.train_samples]
    train_scaled = train_input / 255.0
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42)

    search_space = {'optimizer': ['sgd', 'adagrad', 'rmsprop', 'adam'], 'rate': [0.1, 0.2, 0.3, 0.4, 0.5]}

    def objective(trial):
        optimizer = trial.suggest_categorical('optimizer', search_space['optimizer'])
        rate = trial.suggest_float('rate', 0.1, 0.5, step=0.1)
        keras.backend.clear_session()
        keras.utils.set_random_seed(42)
        model = keras.Sequential()
        model.add(keras.layers.Input(shape=(28, 28)))
        model.add(keras.layers.Flatten())
        model.add(keras.layers.Dense(100, activation='relu'))
        model.add(keras.layers.Dropout(rate))
        model.add(keras.layers.Dense(10, activation='softmax'))
        model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=['accuracy'])
        history = model.fit(train_scaled, train_target, epochs=args.epochs, verbose=0,
                            validation_data=(val_scaled, val_target),
                            callbacks=[KerasPruningCallback(trial, 'val_accuracy')])
        return history.history['val_accuracy'][-1]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction='maximize',
                                sampler=optuna.samplers.GridSampler(search_space, seed=42),
                                pruner=optuna.pruners.MedianPruner())
    start = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    seconds = time.perf_counter() - start
    # ---------------------------------------------------------------------------------------------

    began = study.trials[0].datetime_start
    trials = [{"values": {"optimizer": t.params["optimizer"], "rate": round(t.params["rate"], 6)},
               "val_accuracy": t.value, "status": t.state.name, "epochs": len(t.intermediate_values),
               "finished": round((t.datetime_complete - began).total_seconds(), 3)} for t in study.trials]
    complete = [t for t in trials if t["status"] == "COMPLETE"]
    best = max(complete, key=lambda t: t["val_accuracy"]) if complete else None
    print("BENCH " + json.dumps({
        "seconds": seconds, "trials": trials, "complete": len(complete),
        "pruned": sum(t["status"] == "PRUNED" for t in trials),
        "best_val_accuracy": best and best["val_accuracy"], "best_values": best and best["values"],
        "optuna": optuna.__version__, "keras": keras.__version__, "train_samples": len(train_target),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
