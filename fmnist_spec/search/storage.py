"""Where a study lives: Optuna's journal file in the search folder (the default), or a PostgreSQL
database (``--storage postgresql://...``, :mod:`fmnist_spec.search.database`).

The journal file (``optuna.storages.JournalStorage`` over ``journal.JournalFileBackend``) needs no
server: every worker process on this machine appends to ``DIR/study.journal`` under Optuna's file
lock and replays what the others wrote. It has no heartbeat; :mod:`fmnist_spec.search.liveness`
finds the trials of killed workers instead. Optuna's FAQ advises against SQLite for parallel
workers ("database is locked", optuna#820), so other URLs are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import HintedError

JOURNAL = "study.journal"
"""The journal file's name in the search folder."""


class StorageError(HintedError):
    """A ``--storage`` URL this build cannot use (bad input, exit 2)."""


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
        from . import database  # noqa: F401
    except ImportError as exc:
        raise StorageError(f"--storage postgresql://...: this build has no PostgreSQL storage ({exc})",
                           "leave --storage out to keep the study in DIR/study.journal") from None


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
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return Storage(optuna.storages.JournalStorage(backend), str(path), embedded=True)
