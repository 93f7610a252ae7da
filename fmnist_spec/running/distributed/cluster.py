"""The cluster of a multi-worker run, and the rendezvous that forms it in bounded time.

A cluster is every worker's ``host:port`` (the same list on every worker)
and this worker's index, from ``fmnist-spec train --workers ... --worker-index I``
(:func:`cluster_from_args`) or from a ``TF_CONFIG`` already in the
environment (:func:`cluster_from_env`, TensorFlow's own format).

``MultiWorkerMirroredStrategy()`` waits forever for a worker that never comes,
holding Python's GIL (no Python thread or signal handler runs) and ignoring
SIGTERM. So before TensorFlow is asked to form the cluster, :func:`rendezvous`
waits in plain Python, for at most the spec's ``timeout_seconds``, until every
worker has reached this one and has been reached by it, and otherwise names
the workers that did not answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass

_ADDRESS = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")


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


def _token(cluster: Cluster) -> bytes:
    layout = json.dumps(cluster.tf_config()["cluster"], sort_keys=True)
    return hashlib.sha1(layout.encode()).hexdigest()[:16].encode()


def _bind_host(address: str) -> str:
    host = address.rpartition(":")[0].strip("[]")
    return host if host in ("127.0.0.1", "localhost", "::1") else ""


class _HelloServer(socketserver.TCPServer):
    """Answers peers' hellos on this worker's port, in a thread, while the worker reaches its peers.

    A peer counts as having reached this worker (``reached_me``) only once it
    has acknowledged the answer, so a hello whose sender gave up waiting is
    not counted. Names of peers started with another cluster go to ``strangers``.
    """

    allow_reuse_address = True  # as socket.create_server; TensorFlow takes the port over afterwards

    def __init__(self, address: str, token: bytes):
        host = _bind_host(address)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.token, self.reached_me, self.strangers = token, set(), []
        super().__init__((host, int(address.rpartition(":")[2])), _Hello)


class _Hello(socketserver.BaseRequestHandler):
    """One hello: ``fmnist-spec <token> <name>``; answer ``ok`` or ``different-cluster``; then ``ack``."""

    def handle(self):
        self.request.settimeout(2.0)
        try:
            hello = self.request.recv(256).decode("ascii", "replace").split()
            if len(hello) != 3 or hello[0] != "fmnist-spec":
                return
            if hello[1].encode() != self.server.token:
                self.request.sendall(b"different-cluster\n")
                self.server.strangers.append(hello[2])
            else:
                self.request.sendall(b"ok\n")
                if self.request.recv(16).strip() == b"ack":
                    self.server.reached_me.add(hello[2])
        except OSError:
            return


def _reach(address: str, token: bytes, name: str) -> str:
    """``"ok"`` (answered and acknowledged), ``"different-cluster"`` or ``"silent"`` for one peer."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0) as conn:
            conn.settimeout(2.0)
            conn.sendall(b"fmnist-spec " + token + b" " + name.encode() + b"\n")
            reply = conn.recv(64).decode("ascii", "replace").strip()
            if reply == "ok":
                conn.sendall(b"ack\n")
    except OSError:
        return "silent"
    return reply if reply in ("ok", "different-cluster") else "silent"


def rendezvous(cluster: Cluster, timeout: float, log=None) -> float:
    """Wait until every task of ``cluster`` is up, before TensorFlow forms it.

    Each worker answers hellos on its own port (which TensorFlow takes over
    afterwards) in a thread (``socketserver.TCPServer``), and says hello to
    every peer's port, until it has reached every peer and every peer has
    reached it. A peer started with another ``--workers`` list is told so.

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
    try:
        server = _HelloServer(cluster.address, token)
    except OSError as exc:
        raise DistributeError(f"{cluster.name} cannot listen on {cluster.address}: {exc.strerror or exc}\n"
                              "  hint: pick a free port for each worker in --workers") from None
    start = time.monotonic()
    reached: set = set()
    with server:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            while len(reached) < len(peers) or not peers.keys() <= server.reached_me:
                if server.strangers:
                    raise DistributeError(
                        f"{server.strangers[0]} reached {cluster.name} ({cluster.address}) but was started "
                        "with a different cluster (other --workers list or TF_CONFIG)\n"
                        "  hint: give every worker the same --workers list")
                if time.monotonic() - start > timeout:
                    failure = _rendezvous_failure(cluster, peers, reached, server.reached_me, timeout)
                    raise DistributeError(failure)
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
                            f"or TF_CONFIG) than {cluster.name}\n"
                            "  hint: give every worker the same --workers list")
                time.sleep(0.05)
        finally:
            server.shutdown()
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
