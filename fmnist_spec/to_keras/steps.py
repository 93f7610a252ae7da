"""Run ``steps_per_execution`` training batches inside one ``train_step`` call.

Keras's own ``steps_per_execution`` loop (``multi_step_on_iterator`` in
``keras/src/backend/tensorflow/trainer.py``, Keras 3.15) takes every batch
from the ``tf.data`` iterator as an ``Optional`` and calls a nested
``tf.function`` once per batch. On the notes' model (Flatten, Dense 100,
Dense 10; about 10 MFLOP per batch of 32) that bookkeeping costs about 40 %
of a batch's time: an epoch of 1,500 batches took about 0.8 s against 0.5 s
here (``benchmarks/RESULTS.md``).

Here ``fit`` is given batches of ``batch_size * steps`` samples, and
``train_step`` cuts each one into ``steps`` slices of ``batch_size`` samples
and runs Keras's own ``train_step`` on them one after the other in a
``tf.while_loop``. These are the same optimizer updates on the same batches
in the same order, because Keras shuffles the sample indices before it cuts
batches, whatever their size. With a seed the history is identical to plain
``fit(batch_size=batch_size)``, and ``tests/test_steps.py`` checks it.

Overriding ``train_step`` is how Keras documents customising ``fit``; see the
guide "Customizing what happens in fit() with TensorFlow"
(keras.io/guides/custom_train_step_in_tensorflow/). The override is set on the
model instance only for the duration of ``fit``. Afterwards the model is a
plain ``keras.Sequential`` again, compiled as the spec says, and it is saved
that way.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchesPerCall:
    """How ``fit`` is driven: ``steps`` batches of ``batch_size`` per call.

    Attributes:
        batch_size: Samples per training step (the spec's ``fit.batch_size``).
        steps: Training steps per call (the spec's ``compile.steps_per_execution``), >= 1.
        samples: Training samples per epoch.
    """

    batch_size: int
    steps: int
    samples: int

    @property
    def call_batch_size(self) -> int:
        """The ``batch_size`` handed to ``fit``: samples per call."""
        return self.batch_size * self.steps

    @property
    def batches(self) -> int:
        """Training batches (steps) per epoch, the last one possibly smaller."""
        return math.ceil(self.samples / self.batch_size)

    def last_batch(self, call: int) -> int:
        """0-based index, within the epoch, of the last batch run by the 0-based ``call``."""
        return min((call + 1) * self.steps, self.batches) - 1

    @contextlib.contextmanager
    def installed(self, model):
        """Within the block, ``model.fit(batch_size=self.call_batch_size)`` trains
        ``self.steps`` batches of ``self.batch_size`` per call.

        Keras's ``steps_per_execution`` is 1 inside the block, and the model's
        compiled train and test functions are dropped on the way in and on the
        way out, so Keras builds them again for its own settings. Give ``fit``
        a ``validation_batch_size``: Keras's default is ``fit``'s batch size,
        which here is ``call_batch_size``. Does nothing when ``steps`` is 1.
        """
        if self.steps == 1:
            yield self
            return
        import keras
        import tensorflow as tf

        keras_train_step = model.train_step
        batch_size = self.batch_size

        def train_step(data):
            arrays = keras.utils.unpack_x_y_sample_weight(data)
            count = (tf.shape(arrays[0])[0] + batch_size - 1) // batch_size

            def one_batch(step):
                start = step * batch_size
                keras_train_step(tuple(None if a is None else a[start:start + batch_size] for a in arrays))
                return (step + 1,)

            # parallel_iterations=1: each batch's update runs after the previous one's
            tf.while_loop(lambda step: step < count, one_batch, (tf.constant(0),), parallel_iterations=1)
            return model.get_metrics_result()

        given = model.steps_per_execution
        model.train_step = train_step
        model.steps_per_execution = 1
        model.train_function = model.test_function = None
        try:
            yield self
        finally:
            del model.train_step
            model.steps_per_execution = given
            model.train_function = model.test_function = None

    def progress_bar(self):
        """Keras's ``ProgbarLogger`` counting batches of ``batch_size``, not calls.

        Put in ``fit``'s callbacks, it replaces the one Keras would add, so
        ``verbose`` 1 and 2 show ``1500/1500 ... 500us/step`` as plain ``fit`` does.
        """
        import keras

        plan = self

        class BatchProgbarLogger(keras.callbacks.ProgbarLogger):
            def set_params(self, params):
                super().set_params({**params, "steps": plan.batches})

            def on_train_batch_end(self, batch, logs=None):
                super().on_train_batch_end(plan.last_batch(batch), logs)

        return BatchProgbarLogger()
