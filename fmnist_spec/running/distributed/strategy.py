"""``tf.distribute`` strategies for a spec: the cluster, the strategy, the data
pipeline, and a watchdog so that a missing worker is an error, never a hang.

What works where (measured on TensorFlow 2.21 / Keras 3.15, CPU):

* ``MirroredStrategy`` (one process, one replica per device, here logical CPU
  devices made with ``tf.config.set_logical_device_configuration``):
  ``model.fit`` works; :mod:`fmnist_spec.running.train` uses it.
* ``MultiWorkerMirroredStrategy`` (one process per worker): ``model.fit``
  fails in every worker with "Attempt to convert a value (PerReplica:{...})
  ... to a Tensor" (keras-team/keras#20585, tensorflow/tensorflow#72388); the
  strategy's own step, ``strategy.run`` in a ``tf.function`` over
  ``strategy.experimental_distribute_dataset``, trains correctly
  (:mod:`fmnist_spec.running.distributed.strategy_loop`).
* A worker whose peers never come up waits forever inside
  ``MultiWorkerMirroredStrategy()``, holding Python's GIL (no Python thread
  or signal handler runs) and ignoring SIGTERM. So before TensorFlow is
  asked to form the cluster, :func:`rendezvous` waits (in Python, for at
  most ``timeout_seconds``) until every worker has been reached and has
  reached this one, and names the workers that did not answer
  (:func:`fmnist_spec.running.distributed.cluster.rendezvous`). During training,
  :class:`Watchdog` stops a worker whose steps make no progress.

The cluster and its rendezvous are in :mod:`fmnist_spec.running.distributed.cluster`.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

from .cluster import Cluster, DistributeError

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")

__all__ = ["STRATEGIES", "Cluster", "DistributeError", "Watchdog", "WorkerLog", "global_batch_size",
           "guarded", "make_dataset", "make_strategy"]

_DEVICE = re.compile(r"^/?(?:device:)?(?P<kind>CPU|GPU|cpu|gpu):(?P<index>[0-9]+)$")


class WorkerLog:
    """One worker's log file (``<run folder>/<worker name>.log``), line-buffered.

    Each line is ``2026-01-01T12:00:00Z worker-1: message``; lines are also
    echoed to stderr when ``echo`` is true.
    """

    def __init__(self, path: str | Path, name: str, echo: bool = False):
        self.path = Path(path)
        self.name = name
        self.echo = echo
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed by close())

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for line in message.splitlines() or [""]:
            self._file.write(f"{stamp} {self.name}: {line}\n")
        if self.echo:
            print(f"{self.name}: {message}", file=sys.stderr, flush=True)

    @property
    def file(self):
        """The open log file (for ``faulthandler``)."""
        return self._file

    def close(self) -> None:
        self._file.close()


class Watchdog:
    """Ends the process when no progress is reported for ``timeout`` seconds.

    The training code calls :meth:`beat` after every step (and names what it
    waits for next); a background thread checks the time since the last beat.
    On expiry it calls ``on_expire(phase, seconds)`` (which writes the error)
    and then ``os._exit(1)``: a worker blocked inside TensorFlow's collective
    runtime cannot be interrupted any other way (it ignores SIGTERM).
    """

    def __init__(self, timeout: float, on_expire, phase: str = "starting"):
        self.timeout = float(timeout)
        self.on_expire = on_expire
        self.phase = phase
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fmnist-spec-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def beat(self, phase: str | None = None) -> None:
        """Report progress; ``phase`` describes what the worker does next."""
        self._last = time.monotonic()
        if phase is not None:
            self.phase = phase

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 10)):
            waited = time.monotonic() - self._last
            if waited > self.timeout:
                try:
                    self.on_expire(self.phase, waited)
                finally:
                    sys.stderr.flush()
                    os._exit(1)


def _logical_cpus(count: int) -> None:
    """Split the physical CPU into ``count`` logical devices (before TensorFlow initialises)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) >= count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        raise DistributeError(
            f"distribute.devices needs {count} CPU devices but TensorFlow has already initialised {have} "
            "in this process; logical CPU devices can only be made before TensorFlow starts "
            "(run 'fmnist-spec train' in a fresh process)") from None


def _mirrored(devices) -> object:
    import tensorflow as tf

    if devices:
        parsed = []
        for name in devices:
            match = _DEVICE.match(name)
            parsed.append((match["kind"].upper(), int(match["index"])))
        cpus = [i for kind, i in parsed if kind == "CPU"]
        if cpus and max(cpus) > 0:
            _logical_cpus(max(cpus) + 1)
        available = {(d.device_type, int(d.name.rsplit(":", 1)[1])) for d in tf.config.list_logical_devices()}
        missing = [name for name, key in zip(devices, parsed) if key not in available]
        if missing:
            names = ", ".join(sorted(f"/{k.lower()}:{i}" for k, i in available)) or "none"
            raise DistributeError(f"distribute.devices: {', '.join(missing)} not found; this machine has {names}")
        devices = [f"/{kind.lower()}:{i}" for kind, i in parsed]
    return tf.distribute.MirroredStrategy(devices=devices or None)


def make_strategy(settings, cluster: Cluster | None = None):
    """The ``tf.distribute`` strategy of a spec's ``distribute`` section.

    Args:
        settings: A :class:`fmnist_spec.language.spec.DistributeSpec`.
        cluster: For ``multi_worker_mirrored``: the cluster; it is written to
            ``TF_CONFIG`` before the strategy is made. None: use ``TF_CONFIG``
            as found (unset: a one-worker cluster on this machine).

    Returns:
        ``tf.distribute.get_strategy()`` (the default strategy),
        ``tf.distribute.MirroredStrategy`` or ``tf.distribute.MultiWorkerMirroredStrategy``.
        The multi-worker strategy's constructor blocks until every worker has
        joined; guard it with a :class:`Watchdog`.

    Raises:
        DistributeError: a device is missing or cannot be made.
    """
    import tensorflow as tf

    if settings.strategy == "default":
        return tf.distribute.get_strategy()
    if settings.strategy == "mirrored":
        return _mirrored(settings.devices)
    if cluster is not None:
        os.environ["TF_CONFIG"] = json.dumps(cluster.tf_config())
    # No CommunicationOptions(timeout_seconds=...): TensorFlow 2.21 then starts one sleeping thread
    # per collective op for the timeout's length, and a worker doing ~20 steps/s with a 120 s
    # timeout runs out of threads ("Resource temporarily unavailable"). A dead peer is noticed by
    # the coordination service's heartbeats instead, and a stalled step by the Watchdog.
    return tf.distribute.MultiWorkerMirroredStrategy()


def guarded(seconds: float, file):
    """A context in which the process exits with status 1 after ``seconds``,
    even inside a C call that holds the GIL, writing Python's thread stacks
    to ``file`` (``faulthandler.dump_traceback_later(exit=True)``): the last
    resort around ``MultiWorkerMirroredStrategy()`` after :func:`rendezvous`."""
    import contextlib

    @contextlib.contextmanager
    def _guard():
        faulthandler.dump_traceback_later(seconds, exit=True, file=file)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
    return _guard()


def global_batch_size(settings, batch_size: int, replicas: int) -> int:
    """Samples per step over all replicas: ``per_replica_batch_size * replicas``
    when given, else the spec's ``fit.batch_size``."""
    if settings.per_replica_batch_size is not None:
        return settings.per_replica_batch_size * replicas
    return batch_size


def make_dataset(x, y, batch_size: int, shuffle: bool = False, seed: int | None = None):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches a strategy can shard.

    Args:
        x: Images ``(n, 28, 28)`` or ``(n, 784)`` float32.
        y: Labels ``(n,)`` uint8.
        batch_size: The global batch size (the strategy splits it among replicas).
        shuffle: Shuffle the whole set anew each epoch (as ``fit`` shuffles arrays).
        seed: The shuffle's seed; workers of one cluster must share it so that
            their shards do not overlap. None: unseeded.

    Returns:
        The dataset, with auto-sharding by data (each worker takes its share of
        every batch), prefetching.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(batch_size).with_options(options).prefetch(tf.data.AUTOTUNE)
