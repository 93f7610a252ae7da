"""A study in a real database (``--storage postgresql://user:password@host/db``):
Optuna's :class:`~optuna.storages.RDBStorage` with heartbeats, retries of the
trials of workers that died, connections that fail fast, and errors that name
the database without its password.

What Optuna 5.1 does with heartbeats (``optuna/storages/_heartbeat.py``,
``optuna/study/_optimize.py``): inside ``Study.optimize`` a thread records a
heartbeat for the running trial every ``heartbeat_interval`` seconds; before
each new trial, a worker fails every RUNNING trial of the study whose last
heartbeat is older than ``grace_period`` (by the database's clock) and calls
the stale-trial callback on it. :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`
(formerly ``RetryFailedTrialCallback``) then adds a WAITING copy with the same
parameters, which the next ``ask`` of any worker takes. Without heartbeats a
killed worker's trial stays RUNNING for ever (optuna/optuna#485, #2908).
Optuna does this only inside ``Study.optimize``; the ask-and-tell loop of
:mod:`fmnist_spec.search.loop` does it with :func:`ask`, :func:`beat` and
``optuna.storages.fail_stale_trials`` (in ``study.recover_dead``), and takes turns by
:func:`study_turn`.

The heartbeat interval and grace period default to 10 s and 30 s and can be
changed with the environment variables ``FMNIST_SPEC_HEARTBEAT_INTERVAL`` and
``FMNIST_SPEC_GRACE_PERIOD`` (whole seconds; the tests use a 1 s interval and a 3 to 6 s grace period).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import threading
import time
import warnings
import weakref
from urllib.parse import quote, unquote

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RetryHeartbeatStaleTrialCallback
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

DEFAULT_HEARTBEAT_INTERVAL = 10
"""Seconds between two heartbeats of a running trial."""
DEFAULT_GRACE_PERIOD = 30
"""Seconds without a heartbeat after which another worker fails and retries the trial."""
MAX_RETRY = 3
"""How many times one trial is retried after its worker died (then it stays FAIL)."""
CONNECT_TIMEOUT = 10
"""Seconds to wait for a connection to the server before giving up (libpq ``connect_timeout``)."""

LIBPQ_OPTIONS = {
    "connect_timeout": CONNECT_TIMEOUT,
    # A server that vanishes without closing the connection (a machine switched off, a cable pulled) is
    # noticed by TCP keepalives after about 30 + 3 x 10 s instead of the kernel's two hours.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "application_name": "fmnist-spec search",
}
"""libpq connection options (https://www.postgresql.org/docs/15/libpq-connect.html) given unless the URL sets them."""

_LIBPQ_DRIVERS = ("postgresql+psycopg2", "postgresql+psycopg")
_ENV_INTERVAL, _ENV_GRACE = "FMNIST_SPEC_HEARTBEAT_INTERVAL", "FMNIST_SPEC_GRACE_PERIOD"
_ADVISORY_LOCK = 0x666D6E697374   # 'fmnist': serialises the creation of Optuna's tables by several workers


class DatabaseError(Exception):
    """The study's database failed: unreachable, refused the login, missing, or went away
    during the study (the work failed, exit 1). The message names the URL with its password
    masked; ``hint`` says what to check.

    Attributes:
        url: The masked URL.
        hint: How to fix it.
    """

    def __init__(self, message: str, hint: str = "", url: str = ""):
        super().__init__(message)
        self.hint = hint
        self.url = url


class DatabaseSettingError(Exception):
    """A storage URL that cannot be parsed, or a malformed heartbeat setting (bad input, exit 2)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


# --- URLs ------------------------------------------------------------------------------------------


def _split(url: str) -> tuple[str, str | None, str | None, str] | None:
    """``scheme://user:password@rest`` as (scheme, user, password, rest); None when not a URL.

    The credentials end at the LAST ``@``: a password with an unescaped ``@``, ``/``, ``:``
    or ``?`` stays whole (SQLAlchemy's parser would cut it at its first ``@`` and take the
    rest for the host name, which then shows up in the driver's error messages).
    """
    scheme, separator, after = url.partition("://")
    if not separator:
        return None
    at = after.rfind("@")
    if at < 0:
        return scheme, None, None, after
    user, colon, password = after[:at].partition(":")
    return scheme, user, (password if colon else None), after[at + 1:]


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's ``sslmode`` values (PostgreSQL's "Connection Strings")."""


def check_parts(url: str) -> None:
    """Refuse a ``postgresql://`` URL whose port, ``sslmode`` or ``connect_timeout`` cannot work
    before any connection: the driver would report them as a server that cannot be reached.

    Raises:
        DatabaseSettingError: the part, with the URL's password masked (exit 2).
    """
    from urllib.parse import parse_qsl

    parts = _split(url)
    if parts is None:
        return
    location, _, query = parts[3].partition("?")
    host = location.split("/", 1)[0]
    port = host.rpartition("]")[2].rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
    shown = masked(url)
    fix = "give it as postgresql://user:password@host:port/database"
    if port and not port.isdigit():
        raise DatabaseSettingError(f"--storage {shown}: the port is not a number", fix)
    if port and not 1 <= int(port) <= 65535:
        raise DatabaseSettingError(f"--storage {shown}: the port {port} is not a port (1 to 65535)", fix)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "sslmode" and value not in _SSLMODES:
            raise DatabaseSettingError(f"--storage {shown}: sslmode={value!r} is not one of libpq's modes: "
                                       + ", ".join(_SSLMODES), "use one of them, or leave sslmode out (prefer)")
        if key == "connect_timeout" and not value.isdigit():
            raise DatabaseSettingError(f"--storage {shown}: connect_timeout={value!r} is not a whole number of "
                                       "seconds", "write e.g. ?connect_timeout=10, or leave it out")


_QUERY_PASSWORD = re.compile(r"((?:^|[?&\s])password=)[^&\s]*", re.IGNORECASE)


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit to print.

    Args:
        url: A storage URL such as ``postgresql://user:secret@host:5432/db``; the password may
            be percent-escaped or not, or be given as ``?password=...``.

    Returns:
        ``postgresql://user:***@host:5432/db``; a URL without a password unchanged.
    """
    parts = _split(url)
    if parts is None:
        return _QUERY_PASSWORD.sub(r"\1***", url)
    scheme, user, password, rest = parts
    credentials = "" if user is None else user + ("" if password is None else ":***") + "@"
    return f"{scheme}://{credentials}" + _QUERY_PASSWORD.sub(r"\1***", rest)


def _passwords(url: str) -> list[str]:
    """The password as written and as meant (percent-escapes decoded), to scrub from messages."""
    parts = _split(url)
    secrets = []
    if parts is not None and parts[2]:
        secrets += [parts[2], unquote(parts[2])]
    for match in re.finditer(r"(?:^|[?&\s])password=([^&\s]*)", url, re.IGNORECASE):
        secrets += [match.group(1), unquote(match.group(1))]
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    """``text`` with every form of ``url``'s password replaced by ``***``."""
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def _driver_url(url: str) -> str:
    """The URL SQLAlchemy is given: the password percent-escaped, and a plain ``postgresql://``
    (or ``postgres://``) pointed at the installed driver (SQLAlchemy 2.1's default for
    ``postgresql://`` is psycopg 3; fmnist-spec's ``postgres`` extra installs psycopg2).

    Raises:
        DatabaseSettingError: ``url`` is not a URL.
        DatabaseError: no PostgreSQL driver is installed.
    """
    parts = _split(url)
    if parts is None:
        raise DatabaseSettingError(f"--storage {masked(url)}: not a database URL",
                                   "give it as postgresql://user:password@host:port/database")
    scheme, user, password, rest = parts
    if scheme in ("postgresql", "postgres"):
        scheme = _postgres_driver(url)
    credentials = ""
    if user is not None:
        credentials = quote(unquote(user), safe="")
        if password is not None:
            credentials += ":" + quote(unquote(password), safe="")
        credentials += "@"
    return f"{scheme}://{credentials}{rest}"


def _postgres_driver(url: str) -> str:
    """``postgresql+psycopg2`` or ``postgresql+psycopg``, whichever is installed."""
    for module, scheme in (("psycopg2", "postgresql+psycopg2"), ("psycopg", "postgresql+psycopg")):
        try:
            __import__(module)
        except ImportError:
            continue
        return scheme
    raise DatabaseError(f"--storage {masked(url)}: no PostgreSQL driver for Python is installed",
                        "pip install 'fmnist-spec[postgres]' (psycopg2-binary)", masked(url))


# --- errors ----------------------------------------------------------------------------------------

_HINTS = (
    (("password authentication failed", "no password supplied", "role \"", "authentication"),
     ("check the user name and password in the URL; percent-escape @ : / ? # % in the password "
      "(@ as %40, : as %3A, / as %2F)")),
    (("does not exist",),
     "create the database first, e.g. createdb -h HOST -U USER DATABASE (docs/search.md, 'Across machines')"),
    (("permission denied",),
     "the user needs to create tables in the database: make it the owner (ALTER DATABASE db OWNER TO user)"),
)
_UNREACHABLE_HINT = ("check that the PostgreSQL server is running and reachable from this machine; finished "
                     "trials stay in the database: run the same command again when it is back (a trial that "
                     "was running is retried)")


def database_error(url: str, exc: BaseException) -> DatabaseError:
    """The :class:`DatabaseError` for a driver or SQLAlchemy exception ``exc`` about ``url``.

    The message names the masked URL and the driver's own first lines (any form of the
    password scrubbed); the hint says what to check.
    """
    original = getattr(exc, "orig", None) or exc.__cause__ or exc
    original = getattr(original, "orig", None) or original
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    reason = _scrub(" ".join(lines[:2]) or type(original).__name__, url)
    lowered = reason.lower()
    hint = next((text for needles, text in _HINTS if any(n in lowered for n in needles)), _UNREACHABLE_HINT)
    return DatabaseError(f"the study database {masked(url)} failed: {reason}", hint, masked(url))


@contextlib.contextmanager
def translating(url: str):
    """Within it, a database failure about ``url`` is raised as :class:`DatabaseError`.

    SQLAlchemy's and the driver's errors (and Optuna's ``StorageInternalError`` wrapping them)
    become :class:`DatabaseError`; ``IntegrityError`` passes: Optuna uses it for control flow
    (a study or row another worker created first).
    """
    try:
        yield
    except sqlalchemy.exc.IntegrityError:
        raise
    except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
        raise database_error(url, exc) from exc
    except optuna.exceptions.StorageInternalError as exc:
        cause = exc.__cause__
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and not isinstance(cause, sqlalchemy.exc.IntegrityError):
            raise database_error(url, cause) from exc
        raise


def _translated(method):
    """``method`` of the storage with database failures raised as :class:`DatabaseError`."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with translating(self.user_url):
            return method(self, *args, **kwargs)

    return call


class Storage(optuna.storages.RDBStorage):
    """Optuna's RDBStorage with its database failures raised as :class:`DatabaseError`, and a
    heartbeat that outlives a database that is away for a while.

    Attributes:
        user_url: The URL as the user gave it (only ever shown masked).
    """

    user_url = ""
    _heartbeat_failing = False

    def record_heartbeat(self, trial_id: int) -> None:
        # Optuna records heartbeats in a thread of its own, where an exception would end the
        # thread with a traceback: say it once per outage, and keep beating when it is back.
        try:
            with translating(self.user_url):
                super().record_heartbeat(trial_id)
        except DatabaseError as exc:
            if not self._heartbeat_failing:
                print(f"warning: heartbeat not recorded: {exc}", file=sys.stderr, flush=True)
            self._heartbeat_failing = True
        else:
            self._heartbeat_failing = False


_WRAPPED = sorted({name for name in dir(optuna.storages.BaseStorage) if not name.startswith("_")}
                  | {"_get_stale_trial_ids"})
for _name in _WRAPPED:
    if callable(getattr(optuna.storages.RDBStorage, _name, None)) and _name != "remove_session":
        setattr(Storage, _name, _translated(getattr(optuna.storages.RDBStorage, _name)))


# --- the storage -----------------------------------------------------------------------------------


def _seconds(variable: str, default: int) -> int:
    """A positive whole number of seconds from the environment variable ``variable``."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise DatabaseSettingError(f"{variable}={text!r}: expected a whole number of seconds > 0",
                                   f"unset it for the default ({default}) or give e.g. {variable}={default}")
    return int(text)


def engine_options(driver_url: str) -> dict:
    """SQLAlchemy ``create_engine`` keyword arguments that make a database that went away fail fast.

    ``pool_pre_ping`` tests a pooled connection before each use, so that a server restarted
    between two trials costs a reconnection, not an error; libpq's ``connect_timeout`` and TCP
    keepalives bound the wait for a server that cannot be reached (:data:`LIBPQ_OPTIONS`).
    """
    parsed = make_url(driver_url)
    options: dict = {"pool_pre_ping": True}
    if parsed.drivername in _LIBPQ_DRIVERS:
        options["connect_args"] = {key: value for key, value in LIBPQ_OPTIONS.items() if key not in parsed.query}
    return options


def rdb_storage(url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None,
                max_retry: int | None = MAX_RETRY):
    """Optuna's RDB storage at ``url`` with heartbeats and retries of the trials of dead workers.

    Creates Optuna's tables on first use (several workers starting together take turns, by a
    PostgreSQL advisory lock).

    Args:
        url: ``postgresql://user:password@host:port/database`` (``postgres://`` and
            ``postgresql+psycopg2://`` too; other SQLAlchemy URLs Optuna supports are passed on).
        heartbeat_interval: Seconds between heartbeats of a running trial; default
            ``$FMNIST_SPEC_HEARTBEAT_INTERVAL`` or :data:`DEFAULT_HEARTBEAT_INTERVAL`.
        grace_period: Seconds without a heartbeat before another worker fails the trial and
            retries it; default ``$FMNIST_SPEC_GRACE_PERIOD`` or :data:`DEFAULT_GRACE_PERIOD`.
        max_retry: How many times one trial is retried (None: without end).

    Returns:
        An :class:`optuna.storages.RDBStorage` whose database failures raise :class:`DatabaseError`.

    Raises:
        DatabaseError: The database cannot be reached, refuses the login, does not exist, or
            no driver is installed (the message names the masked URL).
        DatabaseSettingError: ``url`` or a heartbeat setting is malformed.
    """
    interval = heartbeat_interval or _seconds(_ENV_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)
    grace = grace_period or _seconds(_ENV_GRACE, max(DEFAULT_GRACE_PERIOD, 2 * interval))
    driver_url = _driver_url(url)
    try:
        options = engine_options(driver_url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        reason = "the port is not a number" if "int()" in str(exc) else _scrub(str(exc), url)
        raise DatabaseSettingError(f"--storage {masked(url)}: {reason}",
                                   "give it as postgresql://user:password@host:port/database") from None

    def create() -> Storage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)   # heartbeats are 'experimental' since Optuna 2.9
            callback = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            storage = Storage(driver_url, engine_kwargs=options, heartbeat_interval=interval,
                              grace_period=grace, heartbeat_stale_trial_callback=callback)
        storage.user_url = url
        return storage

    try:
        with translating(url):
            return _with_advisory_lock(driver_url, options, create)
    except ImportError as exc:
        raise DatabaseError(f"--storage {masked(url)}: {_scrub(str(exc), url)}",
                            "install the database's driver for Python (postgresql: "
                            "pip install 'fmnist-spec[postgres]')", masked(url)) from None


def _with_advisory_lock(driver_url: str, options: dict, create):
    """``create()`` while holding a PostgreSQL advisory lock: two workers creating Optuna's tables
    in a new database at the same moment would otherwise collide in PostgreSQL's catalog
    (``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``)."""
    with _advisory_lock(driver_url, options):
        return create()


@contextlib.contextmanager
def _advisory_lock(driver_url: str, options: dict):
    """Hold the PostgreSQL advisory lock ``_ADVISORY_LOCK`` meanwhile (on its own connection)."""
    if not driver_url.startswith("postgresql"):
        yield
        return
    engine = sqlalchemy.create_engine(driver_url, poolclass=NullPool,
                                      **{k: v for k, v in options.items() if k != "pool_pre_ping"})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
            try:
                yield
            finally:
                try:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
                except sqlalchemy.exc.DBAPIError:
                    pass   # the lock goes with the connection anyway
    finally:
        engine.dispose()


@contextlib.contextmanager
def creation_turn(url: str):
    """Hold the database's creation lock meanwhile: a study is created and its spec recorded by
    one process at a time, so two starting together neither see a study without its spec nor
    record two different specs (:func:`fmnist_spec.search.study.open_study`).

    Raises:
        DatabaseError: the database cannot be reached.
    """
    driver_url = _driver_url(url)
    with translating(url), _advisory_lock(driver_url, engine_options(driver_url)):
        yield


@contextlib.contextmanager
def database_errors():
    """Within it, an exception Optuna raised while handling a :class:`DatabaseError` is replaced
    by that DatabaseError.

    When the database goes away at the end of a trial, ``Study.optimize`` fails to record the
    trial, then fails again to read it back, and its ``finally`` clause ends in an
    ``UnboundLocalError`` (optuna/optuna#5280, Optuna 5.1 ``optuna/study/_optimize.py``
    ``_run_trial``) whose context holds the DatabaseError. Wrap ``study.optimize`` in it.

    Raises:
        DatabaseError: the first database failure behind the exception.
    """
    try:
        yield
    except DatabaseError:
        raise
    except Exception as exc:
        found, seen = None, set()
        link: BaseException | None = exc
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            if isinstance(link, DatabaseError):
                found = link
            link = link.__cause__ or link.__context__
        if found is None:
            raise
        raise found from None


# --- heartbeats in an ask-and-tell loop ------------------------------------------------------------


def _heartbeat_storage(study):
    """``study``'s storage when it records heartbeats (an RDB storage with an interval), else None."""
    storage = study._storage
    interval = getattr(storage, "get_heartbeat_interval", None)   # Optuna's BaseHeartbeat (not exported)
    return storage if interval is not None and interval() else None


def heartbeat_interval(study) -> int | None:
    """Seconds between two heartbeats of ``study``'s trials, or None for a storage without them."""
    storage = _heartbeat_storage(study)
    return None if storage is None else storage.get_heartbeat_interval()


def beat(study, trial) -> None:
    """Record ``trial``'s heartbeat now, and every heartbeat interval in a thread until the trial
    ends (or the ``trial`` object is gone), as ``Study.optimize`` does around its objective (Optuna
    5.1 ``optuna/study/_optimize.py``); call it right after ``ask``. Nothing for a storage
    without heartbeats.

    A trial without any heartbeat is never found stale, so the first one is recorded before this
    returns. A heartbeat the database does not take is said once on stderr (the thread goes on).
    """
    storage = _heartbeat_storage(study)
    if storage is None:
        return
    trial_id, owner = trial._trial_id, weakref.ref(trial)
    storage.record_heartbeat(trial_id)

    def beating() -> None:
        while owner() is not None and not _finished(storage, trial_id):
            storage.record_heartbeat(trial_id)
            time.sleep(storage.get_heartbeat_interval())

    threading.Thread(target=beating, name=f"heartbeat of trial {trial.number}", daemon=True).start()


def _finished(storage, trial_id: int) -> bool:
    """Whether the trial has ended (this process's view; False while the database is away)."""
    try:
        return storage.get_trial(trial_id).state.is_finished()
    except DatabaseError:
        return False


_STUDY_LOCKS = 0x666D6E69   # 'fmni': the first key of the advisory locks of studies (the second: the study's id)


@contextlib.contextmanager
def study_turn(study):
    """Hold a PostgreSQL advisory lock of ``study`` meanwhile, so that workers on any machine take
    turns to count the study's trials and ask for one (none asks beyond the total, no two ask for
    the same grid point), as the journal's file lock does on one machine; nothing for a storage
    that is not PostgreSQL. The server releases the lock of a worker that dies with its connection.

    Raises:
        DatabaseError: the database failed.
    """
    storage = getattr(study._storage, "_backend", study._storage)
    if not isinstance(storage, Storage) or storage.engine.dialect.name != "postgresql":
        yield
        return
    with translating(storage.user_url):
        connection = storage.engine.connect()
        try:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:space, :study)"),
                               {"space": _STUDY_LOCKS, "study": study._study_id})
            connection.commit()
        except BaseException:
            connection.invalidate()   # the lock, if taken, goes with the connection
            connection.close()
            raise
    try:
        yield
    finally:
        with translating(storage.user_url):
            try:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:space, :study)"),
                                   {"space": _STUDY_LOCKS, "study": study._study_id})
                connection.commit()
            except BaseException:
                connection.invalidate()
                raise
            finally:
                connection.close()


def ask(study, fixed_distributions: dict):
    """``study.ask(fixed_distributions)`` without Optuna's warning that heartbeats are meant for
    ``Study.optimize``: an ask-and-tell loop that calls ``optuna.storages.fail_stale_trials``
    before and :func:`beat` after each ask does what ``optimize`` does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)
        return study.ask(fixed_distributions)
