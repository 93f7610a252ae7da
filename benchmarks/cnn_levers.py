"""Measure each speed lever alone on the textbook's CNN, in plain Keras.

The model is lesson 8-2's (Conv2D 32 - MaxPooling2D - Conv2D 64 -
MaxPooling2D - Flatten - Dense 100 - Dropout 0.4 - Dense 10, 333,526
parameters), trained with Adam, batch 32, on the first ``--train-images``
images (default 12,000) for ``--epochs`` epochs (default 3), no validation.
Every configuration runs in its own fresh Python process (thread pools, dtype
policies, XLA and the backend cannot leak between them); configurations run
round-robin, ``--repeats`` rounds, and the table shows the median time per
epoch after the first (seconds; the first epoch also traces and compiles),
the median time in ``fit``, their ratio to the textbook's configuration
(float64 inputs, float32 model, Keras's defaults) and the last epoch's
training accuracy.

The batches-per-call ``train_step`` of ``fmnist-spec train`` is not plain
Keras; its effect is measured by ``cnn_vs_keras.py --sides shipped,spe1``.

Run by hand (never by CI), from the repository root::

    .venv/bin/python benchmarks/cnn_levers.py [--repeats 2] [--only NAME ...]

The ``jax`` configuration needs JAX beside Keras (``pip install jax``); it is
skipped with a note when JAX is missing; ``--jax-python`` names another
Python (a virtual environment with ``keras`` and ``jax``) to run it with. One configuration alone (what the
driver runs in each child)::

    .venv/bin/python benchmarks/cnn_levers.py --child '{"policy": "mixed_bfloat16"}'
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

# name -> settings; each differs from "textbook" or from "float32" in one lever.
CONFIGS = {
    "textbook": {"input": "float64"},
    "float32": {},
    "float32, threads 1/1": {"threads": [1, 1]},
    "float32, threads 2/1": {"threads": [2, 1]},
    "float32, spe 100": {"steps_per_execution": 100},
    "float32, XLA": {"jit_compile": True},
    "mixed_bfloat16": {"policy": "mixed_bfloat16"},
    "mixed_bfloat16, threads 1/1": {"policy": "mixed_bfloat16", "threads": [1, 1]},
    "mixed_bfloat16, spe 100": {"policy": "mixed_bfloat16", "steps_per_execution": 100},
    "mixed_bfloat16, XLA": {"policy": "mixed_bfloat16", "jit_compile": True},
    "float32, oneDNN off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "jax": {"backend": "jax"},
}


def child(settings: dict, train_images: int, epochs: int) -> None:
    """Train once with ``settings`` and print one ``BENCH {json}`` line."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if "threads" in settings:
            tf.config.threading.set_intra_op_parallelism_threads(settings["threads"][0])
            tf.config.threading.set_inter_op_parallelism_threads(settings["threads"][1])
    from fmnist_spec.running.data import load_fashion_mnist

    keras.utils.set_random_seed(42)
    policy = settings.get("policy", "float32")
    keras.config.set_dtype_policy(policy)
    data = load_fashion_mnist(download=False)
    images = data.train_images[:train_images].reshape(-1, 28, 28, 1)
    x = images / 255.0 if settings.get("input") == "float64" else np.divide(images, np.float32(255),
                                                                             dtype=np.float32)
    y = data.train_labels[:train_images]
    output = {"dtype": "float32"} if policy != "float32" else {}
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(10, activation="softmax", **output),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=settings.get("steps_per_execution", 1),
                  jit_compile=settings.get("jit_compile", "auto"))
    epoch_seconds = []

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)

    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[EpochTimes()])
    fit_seconds = time.perf_counter() - start
    print("BENCH " + json.dumps({"fit": fit_seconds, "epochs": epoch_seconds,
                                 "accuracy": float(history.history["accuracy"][-1])}))


def run(settings: dict, train_images: int, epochs: int, python: str = sys.executable) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **settings.get("env", {}))
    env["KERAS_BACKEND"] = settings.get("backend", "tensorflow")
    command = [python, __file__, "--child", json.dumps(settings),
               "--train-images", str(train_images), "--epochs", str(epochs)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{settings} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.rsplit("BENCH ", 1)[1])


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeats", type=int, default=2)
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--train-images", type=int, default=12_000)
    options.add_argument("--only", nargs="*", help="configuration names (default: all)")
    options.add_argument("--jax-python", default=sys.executable,
                         help="the Python that has JAX and Keras (default: this one)")
    options.add_argument("--child", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        child(json.loads(args.child), args.train_images, args.epochs)
        return
    names = args.only or list(CONFIGS)
    has_jax = subprocess.run([args.jax_python, "-c", "import jax"], capture_output=True).returncode == 0
    if "jax" in names and not has_jax:
        print("jax: skipped, JAX is not installed here (pip install jax)")
        names.remove("jax")
    if "textbook" not in names:
        names.insert(0, "textbook")
    print(f"{args.train_images:,} images, {args.epochs} epochs, batch 32, {args.repeats} rounds; "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    runs = {name: [] for name in names}
    for i in range(args.repeats):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            python = args.jax_python if name == "jax" else sys.executable
            runs[name].append(run(CONFIGS[name], args.train_images, args.epochs, python))
            row = runs[name][-1]
            print(f"  round {i + 1} {name:<30} fit {row['fit']:6.2f} s, epochs "
                  + " ".join(f"{e:.2f}" for e in row["epochs"]), flush=True)
    base = statistics.median(statistics.median(r["epochs"][1:]) for r in runs["textbook"])
    print(f"\n{'configuration':<30} {'s/epoch':>8} {'ratio':>6} {'fit s':>7} {'train acc':>9}")
    for name in names:
        epoch = statistics.median(statistics.median(r["epochs"][1:]) for r in runs[name])
        fit = statistics.median(r["fit"] for r in runs[name])
        accuracy = statistics.median(r["accuracy"] for r in runs[name])
        print(f"{name:<30} {epoch:>8.2f} {epoch / base:>5.2f}x {fit:>7.2f} {accuracy:>9.4f}")
    print(f"(s/epoch: median time of epochs 2..{args.epochs}; ratio to textbook; "
          f"load average {os.getloadavg()[0]:.2f} at end)")


if __name__ == "__main__":
    main()
