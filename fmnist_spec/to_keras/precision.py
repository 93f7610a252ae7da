"""The spec's ``dtype_policy``: what ``auto`` means on a machine, and the model's policy back.

Keras's mixed precision (``keras.config.set_dtype_policy("mixed_bfloat16")``,
``keras.DTypePolicy``) computes in 16 bits and keeps the weights in float32.
It pays only where the hardware computes 16-bit products natively and the
model does enough arithmetic per step: convolutions on a CPU with bfloat16
instructions, or on an NVIDIA GPU with tensor cores. The notes' MLPs are bound
by per-step overhead and stay float32. Measured on a 2-core Xeon with
AMX-BF16: the lesson 8-2 CNN's ``fit`` took 0.56x the float32 time under
``mixed_bfloat16`` (26.6 s against 47.6 s, 3 epochs of 48,000 images),
validation accuracy 0.9062 against 0.9054 (benchmarks/RESULTS.md).

This module owns the policy. It imports no TensorFlow at import time; only
:func:`nvidia_gpus` imports it, when :func:`resolve_dtype_policy` is not given
the GPUs. The CPU is read from ``/proc/cpuinfo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
"""Values of the spec's ``dtype_policy``."""
MIXED = ("mixed_bfloat16", "mixed_float16")


CPUINFO = "/proc/cpuinfo"
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of CPUs that multiply bfloat16 natively (AVX512-BF16, Intel AMX)."""

MIN_COMPUTE_CAPABILITY = (7, 0)
"""NVIDIA GPUs from Volta on have tensor cores for float16 (Keras's mixed-precision guide)."""


class PrecisionWarning(UserWarning):
    """A mixed policy written in a spec that this machine's hardware does not compute natively."""


class Resolution(NamedTuple):
    """A resolved ``dtype_policy``: the Keras policy name and, in one sentence, why."""

    policy: str
    why: str


def cpu_bf16_flags(cpuinfo: str | Path | None = None) -> tuple:
    """The :data:`BF16_FLAGS` the CPU has, by the ``flags`` lines of ``cpuinfo`` (None:
    :data:`CPUINFO`); ``()`` when the file is missing or unreadable (not Linux: no bfloat16 assumed)."""
    try:
        text = Path(cpuinfo or CPUINFO).read_text("utf-8", errors="replace")
    except OSError:
        return ()
    return bf16_flags(text)


def bf16_flags(cpuinfo_text: str) -> tuple:
    """The :data:`BF16_FLAGS` listed on the ``flags`` lines of ``/proc/cpuinfo`` text."""
    flags = set()
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return tuple(flag for flag in BF16_FLAGS if flag in flags)


def nvidia_gpus() -> list:
    """Compute capabilities ``(major, minor)`` of the GPUs TensorFlow sees (imports TensorFlow).

    A GPU whose details give no ``compute_capability`` (not NVIDIA) counts as ``(0, 0)``.
    """
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device) or {}
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def _on_cpu_only(spec) -> bool:
    """``distribute.devices`` names CPUs only: the model trains there even when a GPU is present."""
    devices = spec.distribute.devices
    return bool(devices) and all("cpu" in device.lower() for device in devices)


def resolve_dtype_policy(spec, *, cpuinfo: str | Path | None = None, gpus=None) -> Resolution:
    """The Keras dtype policy ``spec`` trains under on this machine, and why.

    ``float32``, ``mixed_bfloat16`` and ``mixed_float16`` are taken as written. ``auto``:

    * no Conv2D layer: ``float32`` (per-step overhead, not arithmetic, bounds such models);
    * a GPU is used: ``mixed_float16`` when its compute capability is at least 7.0 (Keras's
      recommendation for GPUs), else ``float32``;
    * on the CPU: ``mixed_bfloat16`` when ``/proc/cpuinfo`` lists ``avx512_bf16`` or
      ``amx_bf16``, else ``float32``.

    Args:
        spec: A checked :class:`fmnist_spec.language.spec.Spec`.
        cpuinfo: The file to read the CPU's flags from (None: :data:`CPUINFO`).
        gpus: Compute capabilities ``(major, minor)`` of the GPUs, ``[]`` for none; None asks
            TensorFlow (:func:`nvidia_gpus`).

    Returns:
        A :class:`Resolution`.
    """
    if spec.dtype_policy != "auto":
        return Resolution(spec.dtype_policy, "written in the spec")
    if not spec.convolutional:
        return Resolution("float32", "the model has no Conv2D layer: its steps are too small to gain "
                                     "from 16-bit arithmetic")
    if not _on_cpu_only(spec):
        gpus = nvidia_gpus() if gpus is None else list(gpus)
        if gpus:
            best = max(tuple(g) for g in gpus)
            if best >= MIN_COMPUTE_CAPABILITY:
                return Resolution("mixed_float16", f"a Conv2D model on an NVIDIA GPU of compute capability "
                                                   f"{best[0]}.{best[1]}, with tensor cores")
            return Resolution("float32", f"the GPU's compute capability {best[0]}.{best[1]} is below 7.0: "
                                         "no tensor cores")
    flags = cpu_bf16_flags(cpuinfo)
    if flags:
        return Resolution("mixed_bfloat16", f"a Conv2D model on a CPU with bfloat16 instructions: "
                                            f"{', '.join(flags)} in {cpuinfo or CPUINFO}")
    return Resolution("float32", f"the CPU has no bfloat16 instructions: no {' or '.join(BF16_FLAGS)} "
                                 f"in {cpuinfo or CPUINFO}")


def hardware_warning(policy: str, *, cpuinfo: str | Path | None = None, gpus=None) -> str | None:
    """A warning when a mixed ``policy`` written in a spec has no native support here (Keras
    then emulates it, slower than float32), else None.

    Args:
        policy: The resolved policy.
        cpuinfo, gpus: As for :func:`resolve_dtype_policy`.
    """
    if policy not in MIXED:
        return None
    gpus = nvidia_gpus() if gpus is None else list(gpus)
    if policy == "mixed_float16" and not gpus:
        return ("dtype_policy mixed_float16 without a GPU: Keras runs it on the CPU, usually slower than "
                "float32\n  hint: use mixed_bfloat16 on a CPU with bfloat16 instructions, or auto")
    if policy == "mixed_bfloat16" and not gpus and not cpu_bf16_flags(cpuinfo):
        return (f"dtype_policy mixed_bfloat16 on a CPU without bfloat16 instructions (no "
                f"{' or '.join(BF16_FLAGS)} in {cpuinfo or CPUINFO}): usually slower than float32\n"
                "  hint: use float32, or auto")
    return None


def model_dtype_policy(model) -> str:
    """The spec's ``dtype_policy`` of a built ``keras.Sequential``: the policy its layers but the
    last compute under (the last one is float32 under a mixed policy, as
    :func:`fmnist_spec.to_keras.builder.build_model` makes it; a one-layer model: its layer's).

    Raises:
        ValueError: those layers differ, or use a policy the spec language does not have.
    """
    layers = model.layers[:-1] or model.layers
    names = {layer.dtype_policy.name for layer in layers}
    if len(names) == 1 and next(iter(names)) in POLICIES[1:]:
        return names.pop()
    listed = ", ".join(f"{layer.name}={layer.dtype_policy.name}" for layer in layers)
    raise ValueError(f"the layers compute under different or unknown dtype policies ({listed}); "
                     f"a spec's dtype_policy is one of {', '.join(POLICIES[1:])} for every layer but the last")


def last_layer_dtype(policy: str) -> str | None:
    """``dtype=`` of the model's last layer under ``policy``: ``"float32"`` under a mixed policy
    (the softmax and the loss stay float32: Keras's mixed-precision guide), else None (the policy's)."""
    return "float32" if policy in MIXED else None
