"""Where a study lives: Optuna's journal file in the search folder (the default), or a PostgreSQL
database (``--storage postgresql://...``, :mod:`fmnist_spec.search.database`).

The journal file (``optuna.storages.JournalStorage`` over ``journal.JournalFileBackend``) needs no
server: every worker process on this machine appends to ``DIR/study.journal`` under Optuna's file
lock and replays what the others wrote. It has no heartbeat; :mod:`fmnist_spec.search.liveness`
finds the trials of killed workers instead. Optuna's FAQ advises against SQLite for parallel
workers ("database is locked", optuna#820), so other URLs are refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import HintedError

JOURNAL = "study.journal"
"""The journal file's name in the search folder."""


class StorageError(HintedError):
    """A ``--storage`` URL this build cannot use (bad input, exit 2)."""


class JournalWriteError(HintedError):
    """``DIR/study.journal`` could not be written (a full disk, a read-only folder): the record
    was taken back, so the journal holds every finished trial and nothing half written (exit 1)."""


def journal_backend(path: Path):
    """Optuna's ``JournalFileBackend`` of ``path`` whose appends are all or nothing.

    Optuna appends a record with one ``write``; on a full disk that write stops in the middle of
    the line (``{"op_code":4,"worker_id":"91``), raises ``OSError``, and the next append is written
    onto the half line, after which every read of the journal fails. Here, under Optuna's own lock
    of the file, an append first cuts a torn last line (from a process killed mid-write), and a
    failed append cuts the file back to its size before it, then raises :class:`JournalWriteError`.
    """
    import errno

    from optuna.storages.journal import JournalFileBackend

    class WholeRecords(JournalFileBackend):
        def append_logs(self, logs):
            text = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
            self._lock.acquire()
            try:
                fd = os.open(self._file_path, os.O_RDWR | os.O_NOFOLLOW)
                try:
                    size = _whole_size(fd)
                    try:
                        os.ftruncate(fd, size)
                        written = 0
                        while written < len(text):  # unbuffered: a short write is seen, not left in a buffer
                            written += os.pwrite(fd, text[written:], size + written)
                        os.fsync(fd)
                    except OSError:
                        try:
                            os.ftruncate(fd, size)
                        except OSError:
                            pass  # the torn line is cut by the next append (and skipped by Optuna's reader)
                        raise
                finally:
                    os.close(fd)
            except OSError as exc:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                hint = ("free some space and run the same command again: the journal holds every finished "
                        "trial" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else
                        "make the folder writable and run the same command again")
                raise JournalWriteError(f"{self._file_path}: the study's record could not be written ({reason}); "
                                        "it was taken back", hint) from None
            finally:
                self._lock.release()

    return WholeRecords(str(path))


def _whole_size(fd: int) -> int:
    """The size of the open file ``fd`` up to and including its last line break (0 without one)."""
    position = os.fstat(fd).st_size
    while position > 0:
        step = min(position, 1 << 16)
        chunk = os.pread(fd, step, position - step)
        at = chunk.rfind(b"\n")
        if at >= 0:
            return position - step + at + 1
        position -= step
    return 0


@dataclass
class Storage:
    """An opened storage.

    Attributes:
        optuna: The ``optuna.storages.BaseStorage``.
        shown: How to name it to people (the journal's path, or the URL with its password masked).
        embedded: True for the journal file: workers on this machine only, whose dead trials
            :mod:`fmnist_spec.search.liveness` recognises.
    """

    optuna: object
    shown: str
    embedded: bool


def check_url(url: str | None) -> None:
    """Refuse a ``--storage`` URL other than ``postgresql://`` before any work.

    Raises:
        StorageError: another scheme, or PostgreSQL support missing from this build.
    """
    if url is None:
        return
    if not url.startswith(("postgresql://", "postgresql+psycopg2://")):
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise StorageError(f"--storage: {scheme!r} is not a storage fmnist-spec uses",
                           "leave --storage out to keep the study in DIR/study.journal (workers on this machine), "
                           "or give postgresql://USER:PASSWORD@HOST:PORT/DATABASE for workers on several machines")
    try:
        from . import database
    except ImportError as exc:
        raise StorageError(f"--storage postgresql://...: this build has no PostgreSQL storage ({exc})",
                           "leave --storage out to keep the study in DIR/study.journal") from None
    database.check_parts(url)


def open_storage(out_dir: Path, url: str | None = None) -> Storage:
    """The storage of a search in ``out_dir``: ``url``'s database, else ``out_dir/study.journal``.

    Raises:
        StorageError: see :func:`check_url`.
        fmnist_spec.search.database.DatabaseError: the database cannot be reached (exit 1).
    """
    check_url(url)
    if url is not None:
        from .database import masked, rdb_storage

        return Storage(rdb_storage(url), masked(url), embedded=False)
    import optuna

    path = Path(out_dir) / JOURNAL
    backend = journal_backend(path)
    return Storage(optuna.storages.JournalStorage(backend), str(path), embedded=True)
