"""Where a run trains: the device ``metrics.json`` records as ``device`` and the closing
summary line names ("on CPU: Intel(R) Xeon(R) Processor, 2 cores").

The same spec trains on a CPU or a GPU without change: Keras places every op on
the first GPU TensorFlow sees, else on the CPU; ``distribute.strategy: mirrored``
uses the devices of ``distribute.devices`` (default: every GPU, else the CPU),
``multi_worker_mirrored`` every local GPU of each worker, else its CPU.

What is looked at comes from a probe (:class:`SystemProbe`; tests pass their own):
the GPUs the operating system shows (``/proc/driver/nvidia/gpus/``, else
``nvidia-smi -L``), the GPUs TensorFlow sees (``tf.config.list_physical_devices``,
``tf.config.experimental.get_device_details``), whether TensorFlow is its CUDA
build (``tf.test.is_built_with_cuda``), and the CPU (``/proc/cpuinfo``,
``os.cpu_count``). When the machine has an NVIDIA GPU but TensorFlow sees none,
:func:`gpu_warning` says why and how to fix it (``bash scripts/setup.sh --gpu``).
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from ..to_keras.precision import bf16_flags

GPU_FIX = "bash scripts/setup.sh --gpu"
"""The command that installs TensorFlow's CUDA build (docs/gpu.md)."""


def _once(method):
    """A method without arguments whose answer is kept on the instance after its first call."""
    @functools.wraps(method)
    def answer(self):
        kept = self.__dict__.setdefault("_answers", {})
        if method.__name__ not in kept:
            kept[method.__name__] = method(self)
        return kept[method.__name__]
    return answer


class SystemProbe:
    """This machine, as TensorFlow and the operating system show it. Each answer is
    computed once per probe.

    Args:
        proc: The ``/proc`` directory (tests: a folder laid out like it).
        nvidia_smi: The ``nvidia-smi`` command, or None to look it up on ``PATH``.
    """

    def __init__(self, proc: str | Path = "/proc", nvidia_smi: str | None = None):
        self.proc = Path(proc)
        self.nvidia_smi = nvidia_smi

    @_once
    def nvidia_gpus(self) -> list[str]:
        """The NVIDIA GPUs the operating system shows: their model names, ``[]`` when none
        (no NVIDIA driver). Read from ``/proc/driver/nvidia/gpus/*/information``, else
        from ``nvidia-smi -L`` (5 s at most)."""
        folder = self.proc / "driver" / "nvidia" / "gpus"
        if folder.is_dir():
            return [_nvidia_model(entry / "information") for entry in sorted(folder.iterdir())]
        command = self.nvidia_smi or shutil.which("nvidia-smi")
        if not command:
            return []
        try:
            listed = subprocess.run([command, "-L"], check=False, capture_output=True, text=True,
                                    timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        line = re.compile(r"^GPU \d+: (?P<name>.+?)(?: \(UUID: [^)]*\))?$", re.MULTILINE)
        return [m["name"] for m in line.finditer(listed)]

    @_once
    def tensorflow_gpus(self) -> list[dict]:
        """The GPUs TensorFlow sees, in its order: ``{"device": "/physical_device:GPU:0",
        "name": "NVIDIA ...", "compute_capability": "8.6"}`` each (``compute_capability``
        None where TensorFlow does not say)."""
        import tensorflow as tf

        gpus = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            capability = details.get("compute_capability")
            gpus.append({"device": gpu.name, "name": details.get("device_name", gpu.name),
                         "compute_capability": ".".join(map(str, capability)) if capability else None})
        return gpus

    @_once
    def built_with_cuda(self) -> bool:
        """``tf.test.is_built_with_cuda()``: False for ``tensorflow-cpu``."""
        import tensorflow as tf

        return bool(tf.test.is_built_with_cuda())

    @_once
    def cpu(self) -> dict:
        """``{"name": model name, "cores": os.cpu_count(), "bf16_instructions": [...]}``:
        the first ``model name`` of ``/proc/cpuinfo`` (else ``platform.processor()``), and
        which of :data:`fmnist_spec.to_keras.precision.BF16_FLAGS` its ``flags`` list."""
        try:
            text = (self.proc / "cpuinfo").read_text(errors="replace")
        except OSError:
            text = ""
        return cpu_facts(text)


def cpu_facts(cpuinfo: str) -> dict:
    """The CPU's model name, core count and bfloat16 instructions from ``/proc/cpuinfo`` text."""
    name = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return {"name": name[1].strip() if name else (platform.processor() or platform.machine() or "unknown"),
            "cores": os.cpu_count() or 1, "bf16_instructions": list(bf16_flags(cpuinfo))}


def _nvidia_model(information: Path) -> str:
    try:
        match = re.search(r"^Model:\s*(.+)$", information.read_text(errors="replace"), re.MULTILINE)
    except OSError:
        match = None
    return match[1].strip() if match else "NVIDIA GPU"


def gpu_warning(probe) -> str | None:
    """What to tell a user whose NVIDIA GPU TensorFlow does not use, or None.

    Args:
        probe: A :class:`SystemProbe` (or any object with its methods).

    Returns:
        One sentence (the machine's GPU, why TensorFlow sees none, that training runs on the
        CPU), or None when TensorFlow sees a GPU, the machine shows none, or
        ``CUDA_VISIBLE_DEVICES`` hides them on purpose (empty or ``-1``).
    """
    shown = probe.nvidia_gpus()
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1")
    if not shown or hidden or probe.tensorflow_gpus():
        return None
    if not probe.built_with_cuda():
        why = "TensorFlow here is its CPU build (tensorflow-cpu)"
    else:
        why = ("TensorFlow's CUDA build found no usable GPU (NVIDIA's CUDA libraries are missing or do not "
               "match the driver)")
    return f"this machine has an NVIDIA GPU ({', '.join(shown)}) but {why}; training runs on the CPU"


def describe(probe, distribute: dict | None = None, warning: str | None = None) -> dict:
    """The ``device`` object of ``metrics.json``: where the run trains.

    Args:
        probe: A :class:`SystemProbe` (or any object with its methods).
        distribute: ``metrics.json``'s ``distribute`` (``strategy``; ``devices`` for
            mirrored), or None before training (the default strategy).
        warning: :func:`gpu_warning`'s sentence, recorded as is.

    Returns:
        ``{"type": "GPU" | "CPU", "name", "count", "devices", "compute_capability", "cores",
        "bf16_instructions", "built_with_cuda", "nvidia_gpus", "warning"}``: ``name`` is the
        GPU's (``device_name``) or the CPU's model name; ``count`` the devices training uses
        (GPUs, or CPU replicas); ``devices`` their TensorFlow names; ``compute_capability``
        the first GPU's (``"8.6"``), None on the CPU; ``cores`` ``os.cpu_count()``;
        ``bf16_instructions`` which of :data:`fmnist_spec.to_keras.precision.BF16_FLAGS` the CPU has; ``nvidia_gpus`` the
        GPUs the operating system shows.
    """
    distribute = distribute or {}
    gpus, cpu = probe.tensorflow_gpus(), probe.cpu()
    used = list(distribute.get("devices") or ())
    if used:
        indices = [int(d.rsplit(":", 1)[1]) for d in used if re.search(r"(?i)GPU:\d+$", d)]
        on_gpu = [gpus[i] for i in indices if i < len(gpus)]
    elif distribute.get("strategy") == "multi_worker_mirrored":
        on_gpu = gpus  # MultiWorkerMirroredStrategy replicates on every local GPU
    else:
        on_gpu = gpus[:1]  # Keras places ops on the first GPU
    facts = {"cores": cpu["cores"], "bf16_instructions": cpu["bf16_instructions"],
             "built_with_cuda": probe.built_with_cuda(), "nvidia_gpus": probe.nvidia_gpus(),
             "warning": warning}
    if on_gpu:
        return {"type": "GPU", "name": on_gpu[0]["name"], "count": len(on_gpu),
                "devices": used or [g["device"] for g in on_gpu],
                "compute_capability": on_gpu[0]["compute_capability"], **facts}
    return {"type": "CPU", "name": cpu["name"], "count": len(used) or 1, "devices": used or ["/device:CPU:0"],
            "compute_capability": None, **facts}


def device_text(device: dict) -> str:
    """``CPU: Intel(R) Xeon(R) Processor, 2 cores``, ``GPU: NVIDIA A100 (compute capability 8.0)``,
    ``2 GPUs: ...``, or ``""`` for a run folder without ``device`` (older versions)."""
    if not device:
        return ""
    if device["type"] == "GPU":
        count = device.get("count", 1)
        kind = "GPU" if count == 1 else f"{count} GPUs"
        capability = device.get("compute_capability")
        return f"{kind}: {device['name']}" + (f" (compute capability {capability})" if capability else "")
    cores = device.get("cores")
    text = f"CPU: {device['name']}" + (f", {cores} core" + ("s" if cores != 1 else "") if cores else "")
    return text + (f", {device['count']} replicas" if device.get("count", 1) > 1 else "")
