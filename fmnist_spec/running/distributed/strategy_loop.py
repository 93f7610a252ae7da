"""Training with the strategy's own step, where ``model.fit`` does not work.

Under ``MultiWorkerMirroredStrategy`` (TensorFlow 2.21, Keras 3.15),
``model.fit`` fails (keras-team/keras#20585). This module trains the same
compiled Keras model with its own loss and optimizer through
``strategy.run(step_fn)`` inside a ``tf.function``, over
``strategy.experimental_distribute_dataset``, and reports what ``fit`` and
``evaluate`` report:

* ``history``: ``loss`` and each compiled metric as the mean over the
  epoch's training samples (as Keras's running epoch means), then
  ``val_loss`` and ``val_<metric>`` on the validation set after each epoch;
* :meth:`StrategyLoop.evaluate`: ``{"loss": ..., "<metric>": ...}``, means
  over every sample.

A step's loss is the sum of per-sample losses over the global batch divided
by the global batch's size (an all-reduce of the replicas' batch sizes, so a
short last batch is weighted as ``fit`` weights it); the optimizer sums the
replicas' gradients (Keras's TensorFlow optimizer all-reduces them), which
makes the update that of the mean over the global batch.
"""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from ...to_keras.layers import LOSSES

_METRICS = {
    "accuracy": keras.metrics.sparse_categorical_accuracy,
    "sparse_categorical_accuracy": keras.metrics.sparse_categorical_accuracy,
    "categorical_accuracy": keras.metrics.categorical_accuracy,
}
"""Per-sample metric functions for the spec's metric names. Labels are
integers, so ``accuracy`` is sparse categorical accuracy, as Keras resolves it."""


class StrategyLoop:
    """Train and evaluate a compiled model with ``strategy.run``.

    Args:
        model: A Keras model built and compiled inside ``strategy.scope()``.
        strategy: The ``tf.distribute`` strategy.
        spec: The spec (its loss, ``from_logits`` and metric names are used).
        beat: Called after every step with a description of what comes next
            (a :meth:`fmnist_spec.running.distributed.strategy.Watchdog.beat`); may be None.
    """

    def __init__(self, model, strategy, spec, beat=None):
        self.model = model
        self.strategy = strategy
        self.metric_names = list(spec.metrics)
        self.beat = beat or (lambda phase=None: None)
        loss_class = LOSSES[spec.loss.name]
        self.loss = loss_class(from_logits=spec.loss.from_logits, reduction=None)
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
        self._train_step = tf.function(self._distributed(self._train_replica))
        self._eval_step = tf.function(self._distributed(self._eval_replica))

    def _sums(self, y, predictions):
        """Per-replica sums as one vector (one all-reduce): loss, sample count, then one per metric."""
        per_sample = self.loss(y, predictions)
        sums = [tf.reduce_sum(per_sample), tf.cast(tf.shape(y)[0], tf.float32)]
        for name in self.metric_names:
            sums.append(tf.reduce_sum(tf.cast(_METRICS[name](y, predictions), tf.float32)))
        return per_sample, tf.stack(sums)

    def _train_replica(self, x, y):
        y = tf.cast(y, tf.int32)
        local = tf.cast(tf.shape(y)[0], tf.float32)
        global_size = tf.distribute.get_replica_context().all_reduce("SUM", local)
        with tf.GradientTape() as tape:
            predictions = self.model(x, training=True)
            per_sample, sums = self._sums(y, predictions)
            loss = tf.math.divide_no_nan(tf.reduce_sum(per_sample), global_size)
            if self.model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.model.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        return sums

    def _eval_replica(self, x, y):
        y = tf.cast(y, tf.int32)
        return self._sums(y, self.model(x, training=False))[1]

    def _distributed(self, replica_fn):
        def step(batch):
            per_replica = self.strategy.run(replica_fn, args=batch)
            return self.strategy.reduce("SUM", per_replica, axis=None)
        return step

    def _run(self, step, dataset, phase: str) -> dict:
        totals = None
        self.beat(f"{phase}, at step 1")
        for i, batch in enumerate(self.strategy.experimental_distribute_dataset(dataset)):
            values = step(batch).numpy().astype(float).tolist()
            totals = values if totals is None else [a + b for a, b in zip(totals, values)]
            self.beat(f"{phase}, after step {i + 1}")
        if totals is None or totals[1] == 0:
            raise ValueError(f"{phase}: the dataset gave no samples")
        count = totals[1]
        result = {"loss": totals[0] / count}
        result.update({name: s / count for name, s in zip(self.metric_names, totals[2:])})
        return result

    def evaluate(self, dataset, phase: str = "evaluating") -> dict:
        """Loss and metrics over every sample of ``dataset``: ``{"loss": float, "accuracy": float, ...}``."""
        return self._run(self._eval_step, dataset, phase)

    def fit(self, train, validation, epochs: int, log=None) -> dict:
        """Train for ``epochs`` passes over ``train``, evaluating ``validation`` after each.

        Args:
            train, validation: ``tf.data`` datasets of global batches (see
                :func:`fmnist_spec.running.distributed.strategy.make_dataset`).
            epochs: Number of passes.
            log: Called with one line per epoch (``Epoch 1/5 - 3.1s - loss: ... - val_accuracy: ...``).

        Returns:
            The history, as ``History.history``: name -> one float per epoch.
        """
        history: dict = {}
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            figures = self._run(self._train_step, train, f"training epoch {epoch}/{epochs}")
            val = self.evaluate(validation, f"validating epoch {epoch}/{epochs}")
            figures.update({f"val_{k}": v for k, v in val.items()})
            for key, value in figures.items():
                history.setdefault(key, []).append(value)
            if log is not None:
                shown = " - ".join(f"{k}: {v:.4f}" for k, v in figures.items())
                log(f"Epoch {epoch}/{epochs} - {time.perf_counter() - start:.1f}s - {shown}")
        return history
