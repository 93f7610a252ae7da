"""How much memory a model's activations take, estimated from its shapes, without TensorFlow.

The parameter limit (``MAX_PARAMS``) bounds the weights; a model's activations
grow with its feature maps and the batch size instead: ``Conv2D(filters:
100000, padding: same)`` has 2 million parameters but outputs 78.4 million
float32 values (313 MB) per image. This module estimates, per layer, what a
batch keeps alive, so the spec checks (and the loaders of foreign ``.keras``
files) can refuse a batch that cannot fit before TensorFlow allocates it.

The estimate, in bytes, for a batch of ``B`` samples and float32 values
(:data:`BYTES_PER_VALUE`; a mixed policy halves most of it, so this is an
upper bound):

- **inference** (``evaluate``, ``predict``, validation): TensorFlow frees a
  tensor once its last consumer ran, so at most one layer's input and output
  are alive together: ``B x 4 x max over layers (input + output values)``.
- **training**: the forward pass keeps what the backward pass needs. Each
  layer's output is kept (the next layer's gradient reads its input), and a
  layer with an activation other than ``linear`` keeps the value before the
  activation as well (the gradients of ``relu``, ``sigmoid``, ... read it), as
  do ``BatchNormalization`` (the normalised values) and ``Dropout`` (its
  mask); the backward pass then holds the gradient with respect to one layer's
  output and its input at once: ``B x 4 x (input + sum over layers (output x
  kept) + 2 x max over layers (output))``, where ``kept`` is 2 for those
  layers and 1 for the others.

This is the usual accounting of reverse-mode differentiation: the memory of
a training step is the activations the backward pass reads (Chen, Xu, Zhang
and Guestrin, "Training Deep Nets with Sublinear Memory Cost",
arXiv:1604.06174, 2016, section 3; the gradient functions TensorFlow
registers for ``MatMul``, ``Conv2D``, ``Relu`` and ``MaxPool`` read their
inputs or outputs, ``tensorflow/python/ops/nn_grad.py``). It leaves out what
is not per sample: weights, gradients and optimizer slots (bounded by the
parameter limit) and the data arrays. Measured here (Keras 3.15, TensorFlow
2.21 CPU, batches of 256): 256 filters instead of 8 in ``Conv2D(f, 3, same,
relu)`` raised the peak RSS by 582 MB, where the estimate grows by 854 MiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BYTES_PER_VALUE = 4
"""Bytes of one activation value (float32; ``mixed_bfloat16`` keeps most in 2)."""
MAX_TRAINING_BYTES = 4 * 2**30
"""Largest estimated activation memory of one batch a spec may declare (4 GiB), for a
training batch (``fit.batch_size``) and an evaluation batch (``fit.validation_batch_size``).
The notes' convolutional network at ``batch_size: 32`` needs about 10 MB; 4 GiB leaves
most of a 24 GiB machine to TensorFlow, the data and the weights."""
MAX_EVALUATION_BYTES = 2**30
"""Activation memory of the batches ``evaluate``, ``predict`` and ``inspect`` choose
themselves (1 GiB): they use smaller batches than their defaults (1,024 and 256) when
a model's feature maps are large. A model whose single image needs more is refused."""
KEPT_TWICE = ("BatchNormalization", "Dropout")
"""Layers whose backward pass reads a second tensor the size of their output."""
KERNEL_REACH = 2
"""With ``padding: same`` and stride 1, a kernel of ``k`` weights along an axis of ``n``
pixels meets a pixel with at most ``2n - 1`` of them; see :func:`largest_useful_kernel`."""


@dataclass(frozen=True)
class LayerMemory:
    """One layer's share of the estimate.

    Attributes:
        index: Position in ``layers``.
        values: Output values per sample, an int (``prod(output_shape[1:])``).
        kept: Tensors of that size a training step keeps for the backward pass (1 or 2).
    """

    index: int
    values: int
    kept: int


def layer_memory(rows, layers: list[dict]) -> list[LayerMemory]:
    """:class:`LayerMemory` of each inferred summary row.

    Args:
        rows: :class:`fmnist_spec.language.shapes.LayerShape` rows (``index`` into ``layers``).
        layers: The spec's ``layers`` (for ``activation``).
    """
    out = []
    for row in rows:
        layer = layers[row.index]
        activation = layer.get("activation")
        kept = 2 if row.type in KEPT_TWICE or activation not in (None, "linear") else 1
        out.append(LayerMemory(row.index, math.prod(row.output_shape[1:]), kept))
    return out


def per_sample_inference(rows, input_values: int) -> int:
    """Bytes one sample takes at the inference peak: ``4 x max(input + output values)``."""
    peak, before = input_values, input_values
    for row in rows:
        values = math.prod(row.output_shape[1:])
        peak = max(peak, before + values)
        before = values
    return BYTES_PER_VALUE * peak


def per_sample_training(memory: list[LayerMemory], input_values: int) -> int:
    """Bytes one sample takes in a training step (see the module's formula)."""
    kept = sum(m.values * m.kept for m in memory)
    largest = max((m.values for m in memory), default=0)
    return BYTES_PER_VALUE * (input_values + kept + 2 * largest)


def evaluation_batch_size(per_sample_bytes: int, preferred: int, limit: int = MAX_EVALUATION_BYTES) -> int:
    """The batch size to evaluate or predict with: ``preferred``, or fewer so that the batch's
    activations stay within ``limit`` bytes; at least 1."""
    return max(1, min(preferred, limit // max(per_sample_bytes, 1)))


def largest_useful_kernel(size: int) -> int:
    """Largest kernel (along one axis) whose every weight can meet a pixel of a feature map
    ``size`` pixels long under ``padding: same``.

    An output position ``i`` (0..size-1) reads input positions ``i - p .. i - p + k - 1``
    (``p = (k - 1) // 2``); the kernel offsets that ever land inside ``0..size-1`` are
    ``p - size + 1 .. p + size - 1``: at most ``2 * size - 1`` of them. The weights
    beyond only ever multiply padding zeros, while the convolution still costs
    ``k x k`` multiplications per output value (a 250x250 kernel on 28x28 images:
    51 s per batch of 32 on this machine's 2 cores).
    """
    return KERNEL_REACH * size - 1


def format_bytes(count: int) -> str:
    """``6,710,886,400`` -> ``"6.2 GiB"``; ``10,485,760`` -> ``"10.0 MiB"``."""
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    return f"{count / 2**20:.1f} MiB"
