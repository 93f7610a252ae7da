"""``tf.distribute`` strategies for a spec: the cluster, the strategy, the data
pipeline, and a watchdog so that a missing worker is an error, never a hang.

What works where (measured on TensorFlow 2.21 / Keras 3.15, CPU):

* ``MirroredStrategy`` (one process, one replica per device, here logical CPU
  devices made with ``tf.config.set_logical_device_configuration``):
  ``model.fit`` works; :mod:`fmnist_spec.train` uses it.
* ``MultiWorkerMirroredStrategy`` (one process per worker): ``model.fit``
  fails in every worker with "Attempt to convert a value (PerReplica:{...})
  ... to a Tensor" (keras-team/keras#20585, tensorflow/tensorflow#72388); the
  strategy's own step, ``strategy.run`` in a ``tf.function`` over
  ``strategy.experimental_distribute_dataset``, trains correctly
  (:mod:`fmnist_spec.strategy_loop`).
* A worker whose peers never come up waits forever inside
  ``MultiWorkerMirroredStrategy()``, holding Python's GIL (no Python thread
  or signal handler runs) and ignoring SIGTERM. So before TensorFlow is
  asked to form the cluster, :func:`rendezvous` waits (in Python, for at
  most ``timeout_seconds``) until every worker has been reached and has
  reached this one, and names the workers that did not answer. During
  training, :class:`Watchdog` stops a worker whose steps make no progress.

The cluster comes from ``fmnist-spec train --workers HOST:PORT,... --worker-index I``
(:func:`cluster_from_args`) or from a ``TF_CONFIG`` already in the environment
(:func:`cluster_from_env`), the format TensorFlow documents.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")

_ADDRESS = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")
_DEVICE = re.compile(r"^/?(?:device:)?(?P<kind>CPU|GPU|cpu|gpu):(?P<index>[0-9]+)$")


class DistributeError(Exception):
    """Training under a strategy could not start or went wrong: a device is
    missing, a worker did not answer in time, a collective failed. The message
    says what happened and how to fix it."""


@dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker run and which one this process is.

    Attributes:
        workers: ``("127.0.0.1:20001", "127.0.0.1:20002")``: every worker's
            ``host:port``, the same list on every worker.
        index: This worker's position in ``workers`` (0-based).
        chief: Address of a separate ``chief`` task (``TF_CONFIG`` only), or None;
            without one, worker 0 is the chief.
        task_type: ``"worker"`` or ``"chief"``.
    """

    workers: tuple
    index: int
    chief: str | None = None
    task_type: str = "worker"

    @property
    def is_chief(self) -> bool:
        """True for the process that writes the model and the metrics."""
        if self.chief is not None:
            return self.task_type == "chief"
        return self.index == 0

    @property
    def name(self) -> str:
        """``worker-1`` or ``chief-0``: names this worker's log file."""
        return f"{self.task_type}-{self.index}"

    @property
    def address(self) -> str:
        """This worker's own ``host:port``."""
        return self.chief if self.task_type == "chief" else self.workers[self.index]

    def peers(self) -> list[tuple[str, str]]:
        """``[(name, address), ...]`` of the other tasks."""
        tasks = [("chief-0", self.chief)] if self.chief else []
        tasks += [(f"worker-{i}", a) for i, a in enumerate(self.workers)]
        return [(n, a) for n, a in tasks if n != self.name]

    def tf_config(self) -> dict:
        """The ``TF_CONFIG`` dict TensorFlow reads."""
        cluster = {"worker": list(self.workers)}
        if self.chief:
            cluster["chief"] = [self.chief]
        return {"cluster": cluster, "task": {"type": self.task_type, "index": self.index}}


def parse_workers(text: str) -> tuple:
    """``"127.0.0.1:2001,127.0.0.1:2002"`` -> ``("127.0.0.1:2001", "127.0.0.1:2002")``.

    Raises:
        ValueError: an entry is not ``host:port`` with a port 1..65535, or
            an address appears twice. The message names the entry.
    """
    workers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not workers:
        raise ValueError("expected host:port,host:port; received an empty list")
    for entry in workers:
        match = _ADDRESS.match(entry)
        if not match or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(f"{entry!r} is not host:port (e.g. 127.0.0.1:20001)")
    if len(set(workers)) != len(workers):
        raise ValueError(f"an address appears twice in {','.join(workers)}")
    return workers


def cluster_from_args(workers: str, index: int) -> Cluster:
    """The cluster of ``--workers`` and ``--worker-index``.

    Raises:
        ValueError: bad addresses, or ``index`` outside ``0..len(workers)-1``.
    """
    addresses = parse_workers(workers)
    if not 0 <= index < len(addresses):
        raise ValueError(f"--worker-index {index} is not a position in the {len(addresses)} workers "
                         f"(expected 0..{len(addresses) - 1})")
    return Cluster(addresses, index)


def cluster_from_env(environ=os.environ) -> Cluster | None:
    """The cluster described by ``TF_CONFIG``, or None when it is unset or empty.

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON of TensorFlow's form
            ``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": 0}}``.
    """
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        workers = parse_workers(",".join(cluster.get("worker", [])))
        chiefs = cluster.get("chief") or [None]
        task_type, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG is not a TensorFlow cluster description ({exc}); expected "
                         '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
                         ) from None
    if task_type not in ("worker", "chief"):
        raise ValueError(f"TF_CONFIG task type {task_type!r} is not supported; expected worker or chief")
    limit = 1 if task_type == "chief" else len(workers)
    if not 0 <= index < limit:
        raise ValueError(f"TF_CONFIG task index {index} is outside the {limit} {task_type} task(s)")
    return Cluster(workers, index, chiefs[0], task_type)


def answers(address: str, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection at ``host:port``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


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


def _token(cluster: Cluster) -> bytes:
    layout = json.dumps(cluster.tf_config()["cluster"], sort_keys=True)
    return hashlib.sha1(layout.encode()).hexdigest()[:16].encode()


def _bind_host(address: str) -> str:
    host = address.rpartition(":")[0].strip("[]")
    return host if host in ("127.0.0.1", "localhost", "::1") else ""


def _serve_one(server: socket.socket, token: bytes) -> tuple:
    """Answer one peer's hello: ``(name, same_cluster)``, or ``(None, True)`` when none came."""
    try:
        conn, _ = server.accept()
    except (TimeoutError, BlockingIOError):
        return None, True
    with conn:
        conn.settimeout(2.0)
        try:
            hello = conn.recv(256).decode("ascii", "replace").split()
            if len(hello) != 3 or hello[0] != "fmnist-spec":
                return None, True
            same = hello[1].encode() == token
            conn.sendall(b"ok\n" if same else b"different-cluster\n")
            conn.recv(16)  # wait for the peer to close first
        except OSError:
            return None, True
        return hello[2], same


def _reach(address: str, token: bytes, name: str) -> str:
    """``"ok"``, ``"different-cluster"`` or ``"silent"`` for one peer."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0) as conn:
            conn.settimeout(2.0)
            conn.sendall(b"fmnist-spec " + token + b" " + name.encode() + b"\n")
            reply = conn.recv(64).decode("ascii", "replace").strip()
    except OSError:
        return "silent"
    return reply if reply in ("ok", "different-cluster") else "silent"


def rendezvous(cluster: Cluster, timeout: float, log=None) -> float:
    """Wait until every task of ``cluster`` is up, before TensorFlow forms it.

    Each worker listens on its own port (which TensorFlow takes over
    afterwards) and says hello to every peer's port, until it has reached
    every peer and every peer has reached it. A peer started with another
    ``--workers`` list is told so.

    Args:
        cluster: This worker's cluster.
        timeout: Seconds to wait at most.
        log: Called with progress lines (may be None).

    Returns:
        Seconds waited.

    Raises:
        DistributeError: a peer did not answer within ``timeout`` (the
            message names it and says whether anything listens at its
            address), a peer belongs to another cluster, or this worker's
            own port is taken.
    """
    peers = dict(cluster.peers())
    if not peers:
        return 0.0
    token = _token(cluster)
    port = int(cluster.address.rpartition(":")[2])
    try:
        server = socket.create_server((_bind_host(cluster.address), port))
    except OSError as exc:
        raise DistributeError(f"{cluster.name} cannot listen on {cluster.address}: {exc.strerror or exc}\n"
                              "  hint: pick a free port for each worker in --workers") from None
    start = time.monotonic()
    reached_me: set = set()
    reached: set = set()
    with server:
        server.settimeout(0.2)
        while len(reached) < len(peers) or len(reached_me) < len(peers):
            waited = time.monotonic() - start
            if waited > timeout:
                raise DistributeError(_rendezvous_failure(cluster, peers, reached, reached_me, timeout))
            name, same = _serve_one(server, token)
            if not same:
                raise DistributeError(
                    f"{name} reached {cluster.name} ({cluster.address}) but was started with a different "
                    "cluster (other --workers list or TF_CONFIG)\n  hint: give every worker the same --workers list")
            if name in peers:
                reached_me.add(name)
            for peer, address in peers.items():
                if peer in reached:
                    continue
                answer = _reach(address, token, cluster.name)
                if answer == "ok":
                    reached.add(peer)
                    if log:
                        log(f"reached {peer} at {address}")
                elif answer == "different-cluster":
                    raise DistributeError(
                        f"{peer} at {address} was started with a different cluster (other --workers list "
                        f"or TF_CONFIG) than {cluster.name}\n  hint: give every worker the same --workers list")
    return time.monotonic() - start


def _rendezvous_failure(cluster, peers, reached, reached_me, timeout) -> str:
    lines = [f"{cluster.name} ({cluster.address}): the cluster did not form within {timeout:g} s"]
    for peer, address in peers.items():
        if peer in reached and peer in reached_me:
            continue
        state = ("nothing listens there" if not answers(address) else
                 "something listens there but did not answer as a worker of this cluster"
                 if peer not in reached else "it has not reached this worker")
        lines.append(f"  {peer} at {address}: {state}")
    lines.append("  hint: start every worker with the same --workers list and its own --worker-index "
                 "(or TF_CONFIG); raise distribute.timeout_seconds or --timeout if workers start slowly")
    return "\n".join(lines)


def timeout_message(cluster: Cluster, phase: str, timeout: float) -> str:
    """The error a worker gives when the cluster does not answer within ``timeout`` seconds."""
    silent = [f"{name} at {addr}" for name, addr in cluster.peers() if not answers(addr)]
    listening = [f"{name} at {addr}" for name, addr in cluster.peers() if f"{name} at {addr}" not in silent]
    text = (f"error: {cluster.name} ({cluster.address}) made no progress for {timeout:g} s while {phase}; "
            "stopped.")
    if silent:
        text += "\n  nothing listens at: " + ", ".join(silent)
    if listening:
        text += "\n  listening but not progressing: " + ", ".join(listening)
    text += ("\n  hint: start every worker with the same --workers list and its own --worker-index "
             "(or TF_CONFIG); raise distribute.timeout_seconds or --timeout if workers start slowly")
    return text


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
        settings: A :class:`fmnist_spec.spec.DistributeSpec`.
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
