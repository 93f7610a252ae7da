"""Who runs a trial, and whether that process still lives.

Optuna's journal-file storage has no heartbeat (only its RDB storage has one), so a trial whose
worker was killed (SIGKILL, a power cut) stays ``RUNNING`` for ever. Each worker therefore
records in its trial's user attribute ``worker`` its host name, process id and the process's
start time (``/proc/<pid>/stat`` field 22, clock ticks since boot). A ``RUNNING`` trial is dead
when it was started on this host and no process with that pid and start time exists (a pid the
system reused for another process has another start time). A trial started on another host is
never judged here: across machines use ``--storage postgresql://...``, whose heartbeats find it.
"""

from __future__ import annotations

import os
import socket

from ..files import pid_alive


def _stat(pid: int) -> list | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 on), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().decode("ascii", "replace").rpartition(")")[2].split()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """Clock ticks after boot at which process ``pid`` started (Linux), or None where unknown."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None  # field 22


def _zombie(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] in ("Z", "X")  # field 3: ended, not yet reaped by its parent


def identity() -> dict:
    """This process as a trial records it: ``{"host", "pid", "started"}``."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": start_time(os.getpid())}


def is_dead(worker: dict | None) -> bool:
    """True when the process ``worker`` (an :func:`identity`) ran on this host and has ended.

    A trial without the record (started by another program) is not judged dead.
    """
    if not worker or worker.get("host") != socket.gethostname():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid) or _zombie(pid):
        return True
    recorded, now = worker.get("started"), start_time(pid)
    return recorded is not None and now is not None and recorded != now
