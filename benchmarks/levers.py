"""Measure each speed lever alone, on the notes' Flatten + ReLU + Adam model.

Every configuration runs in its own fresh Python process (so thread settings,
XLA and TensorFlow's caches cannot leak between them); configurations are run
round-robin, ``--repeats`` rounds, and the table shows the median time in
``fit`` and its ratio to the notes' configuration (float64 inputs, Keras's
defaults, no validation during fit). The model, batch size 32, Adam with
Keras's defaults, 5 epochs and the 48,000 / 12,000 split stay the same in
every configuration. Run by hand::

    python benchmarks/levers.py [--repeats 3] [--epochs 5] [--only NAME ...]

One configuration alone (what the driver runs in each child)::

    python benchmarks/levers.py --child '{"dtype": "float32", "steps_per_execution": 32}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> settings; each differs from "notes" or from "float32" in one lever.
CONFIGS = {
    "notes": {"dtype": "float64"},
    "float32": {"dtype": "float32"},
    "float32 + per-epoch validation": {"dtype": "float32", "validation": True},
    "float32 + spe 8": {"dtype": "float32", "steps_per_execution": 8},
    "float32 + spe 32": {"dtype": "float32", "steps_per_execution": 32},
    "float32 + spe 128": {"dtype": "float32", "steps_per_execution": 128},
    "float32 + spe 1500 (one epoch)": {"dtype": "float32", "steps_per_execution": 1500},
    "float32 + spe 128 + per-epoch validation": {"dtype": "float32", "steps_per_execution": 128,
                                                 "validation": True},
    "float32 + spe 128 + per-epoch validation, batch 1024": {
        "dtype": "float32", "steps_per_execution": 128, "validation": True, "validation_batch_size": 1024},
    "float32 + spe 128 + tf.data prefetch": {"dtype": "float32", "steps_per_execution": 128,
                                             "tf_data": True},
    "float32 + jit_compile": {"dtype": "float32", "jit_compile": True},
    "float32 + spe 128 + jit_compile": {"dtype": "float32", "steps_per_execution": 128,
                                        "jit_compile": True},
    "float32 + spe 128 + threads 1/1": {"dtype": "float32", "steps_per_execution": 128, "threads": [1, 1]},
    "float32 + spe 128 + threads 2/2": {"dtype": "float32", "steps_per_execution": 128, "threads": [2, 2]},
    "float32 + spe 100 + threads 1/1": {"dtype": "float32", "steps_per_execution": 100, "threads": [1, 1]},
    "float32 + 100 batches per train_step + threads 1/1": {"dtype": "float32", "batches_per_call": 100,
                                                           "threads": [1, 1]},
    "float32 + 100 batches per train_step + threads 1/1 + per-epoch validation, batch 1024": {
        "dtype": "float32", "batches_per_call": 100, "threads": [1, 1], "validation": True,
        "validation_batch_size": 1024},
}


def child(settings: dict, epochs: int) -> dict:
    """Train once with ``settings``; return fit seconds and accuracies."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import tensorflow as tf

    if "threads" in settings:
        tf.config.threading.set_intra_op_parallelism_threads(settings["threads"][0])
        tf.config.threading.set_inter_op_parallelism_threads(settings["threads"][1])
    import keras
    from sklearn.model_selection import train_test_split

    from fmnist_spec.running.data import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    if settings["dtype"] == "float64":
        scaled = data.train_images / 255.0
    else:
        scaled = data.train_images.astype("float32") / 255.0
    x_train, x_val, y_train, y_val = train_test_split(scaled, data.train_labels, test_size=0.2,
                                                      random_state=42)
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=settings.get("steps_per_execution", 1),
                  jit_compile=settings.get("jit_compile", "auto"))
    fit_args = {"epochs": epochs, "verbose": 0}
    if settings.get("validation"):
        fit_args["validation_data"] = (x_val, y_val)
        fit_args["validation_batch_size"] = settings.get("validation_batch_size")
    start, cpu_start = time.perf_counter(), time.process_time()
    if settings.get("batches_per_call"):  # fmnist-spec's default: fmnist_spec.to_keras.steps
        from fmnist_spec.to_keras.steps import BatchesPerCall

        plan = BatchesPerCall(32, settings["batches_per_call"], len(y_train))
        with plan.installed(model):
            history = model.fit(x_train, y_train, batch_size=plan.call_batch_size, **fit_args)
    elif settings.get("tf_data"):
        dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                   .shuffle(len(y_train), reshuffle_each_iteration=True)
                   .batch(32).prefetch(tf.data.AUTOTUNE))
        history = model.fit(dataset, **fit_args)
    else:
        history = model.fit(x_train, y_train, batch_size=32, **fit_args)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    _, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
    return {"fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu_seconds,
            "train_accuracy": float(history.history["accuracy"][-1]),
            "val_accuracy": float(val_accuracy)}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeats", type=int, default=3)
    options.add_argument("--epochs", type=int, default=5)
    options.add_argument("--only", nargs="*", choices=list(CONFIGS), metavar="NAME",
                         help="configuration names to run (default all): " + "; ".join(CONFIGS))
    options.add_argument("--child", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        print("BENCH " + json.dumps(child(json.loads(args.child), args.epochs)))
        return
    names = args.only or list(CONFIGS)
    results = {name: [] for name in names}
    for round_ in range(args.repeats):
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--epochs", str(args.epochs),
                                  "--child", json.dumps(CONFIGS[name])],
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.split("BENCH ", 1)[1])
            results[name].append(row)
            print(f"round {round_ + 1} {name}: fit {row['fit_seconds']:.2f} s "
                  f"(CPU {row.get('fit_cpu_seconds', float('nan')):.2f} s), "
                  f"val acc {row['val_accuracy']:.4f}", file=sys.stderr, flush=True)
    base = statistics.median(r["fit_seconds"] for r in results[names[0]])
    base_cpu = statistics.median(r.get("fit_cpu_seconds", float("nan")) for r in results[names[0]])
    print(f"\n{'configuration':<52} {'fit s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'val acc':>8}")
    for name in names:
        fit = statistics.median(r["fit_seconds"] for r in results[name])
        cpu = statistics.median(r.get("fit_cpu_seconds", float("nan")) for r in results[name])
        acc = statistics.median(r["val_accuracy"] for r in results[name])
        print(f"{name:<52} {fit:>7.2f} {fit / base:>5.2f}x {cpu:>7.2f} {cpu / base_cpu:>5.2f}x {acc:>8.4f}")
    print(f"(medians of {args.repeats} fresh processes per configuration, run round-robin; "
          f"ratios against {names[0]!r}; CPU s is process CPU time in fit, all threads)")


if __name__ == "__main__":
    main()
