"""A real PostgreSQL server for tests: Debian's ``initdb`` and ``pg_ctl`` in a
temporary folder, listening on a free loopback port (127.0.0.1), run as an
unprivileged user (PostgreSQL refuses to run as root), with a
password-authenticated role that owns one database. Stopped by pid.

Used by the tests of ``fmnist-spec search --storage postgresql://...``
(tests/test_search_database.py). ``bash scripts/setup.sh`` installs the
server programs (Debian's ``postgresql``); where they are missing the fixture
skips with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from fmnist_spec import files

ROLE = "fmnist"
PASSWORD = "p@ss:w/rd%41?#"   # every character a URL gives a meaning to, to test masking
DATABASE = "studies"
SUPERUSER = "postgres"
UNPRIVILEGED_USERS = ("postgres", "nobody")   # Debian's postgresql package creates 'postgres'


def server_programs() -> Path | None:
    """The folder of the newest installed ``initdb``/``pg_ctl``, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit()
                   else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ourselves unless we are root, else an unprivileged system user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (:func:`fmnist_spec.files.pid_alive`) and is not a zombie."""
    if not files.pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class PostgresServer:
    """One PostgreSQL server in a temporary folder.

    Attributes:
        bin_dir: Folder of ``initdb``, ``pg_ctl``, ``postgres``.
        root: The temporary folder (data/, the socket, the log), owned by the server's user.
        port: The TCP port on 127.0.0.1.
        pid: The postmaster's pid while it runs, else None.
        database: The database :meth:`url` names by default.
    """

    def __init__(self, bin_dir: Path, user: pwd.struct_passwd):
        self.bin_dir = bin_dir
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="fmnist-spec-postgres-"))
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.pid: int | None = None
        self.database = DATABASE
        self.superuser_password = "super-" + os.urandom(6).hex()

    # -- the server's programs, run as its user --------------------------------------------------------
    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        as_user = {} if os.geteuid() == self.user.pw_uid else {"user": self.user.pw_uid, "group": self.user.pw_gid,
                                                                   "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)}
        result = subprocess.run([str(self.bin_dir / argv[0]), *argv[1:]], check=False, cwd=self.root, env=env,
                                capture_output=True, text=True, timeout=timeout, **as_user)
        if result.returncode != 0 and argv[0] != "pg_ctl":
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        """``initdb``: a cluster whose TCP connections need a password (scram-sha-256)."""
        pwfile = self.root / "superuser-password"
        pwfile.write_text(self.superuser_password + "\n")
        os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync")
        pwfile.unlink()

    def start(self) -> None:
        """``pg_ctl start`` on 127.0.0.1:port, waiting until it accepts connections."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c shared_buffers=16MB -c max_connections=40")
        result = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                           "-o", options)
        pid_file = self.data / "postmaster.pid"
        if result.returncode != 0 or not pid_file.exists():
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{log}")
        self.pid = int(pid_file.read_text().split()[0])

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``, then SIGKILL to the postmaster's process group if it lives on."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "20", timeout=30)
        finally:
            if pid_alive(pid):
                try:   # pg_ctl starts the postmaster in a session of its own: its group is its pid
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- what tests connect with ------------------------------------------------------------------------
    def connect(self):
        """A psycopg2 connection (autocommit) to the ``postgres`` database as the superuser, over TCP."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                                      password=self.superuser_password, dbname="postgres", connect_timeout=10)
        connection.autocommit = True
        return connection

    def create_role_and_database(self) -> None:
        """The role ``ROLE`` (password ``PASSWORD``) and the database ``DATABASE`` it owns."""
        self.create_role(ROLE, PASSWORD)
        self.create_database(DATABASE)

    def create_role(self, name: str, password: str) -> None:
        """A role that logs in with ``password``."""
        from psycopg2 import sql

        self._execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))

    def create_database(self, name: str, owner: str = ROLE) -> str:
        """A new empty database ``name`` owned by ``owner``; returns ``name``."""
        from psycopg2 import sql

        self._execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return name

    def _execute(self, statement) -> None:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def url(self, password: str = PASSWORD, database: str | None = None, role: str = ROLE) -> str:
        """``postgresql://fmnist:<password, percent-escaped>@127.0.0.1:port/<database>``; the database
        defaults to :attr:`database` (``studies`` unless a test made its own)."""
        return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database or self.database}"


def start_server() -> PostgresServer:
    """A running server with the role and database; skips the test where PostgreSQL is missing."""
    bin_dir = server_programs()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
                    "bash scripts/setup.sh installs Debian's postgresql")
    user = _server_user()
    if user is None:
        pytest.skip(f"running as root and none of the unprivileged users {UNPRIVILEGED_USERS} exists "
                    "to run PostgreSQL as")
    server = PostgresServer(bin_dir, user)
    try:
        server.init()
        for attempt in range(3):   # another process may take the free port between probe and start
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = free_port()
        server.create_role_and_database()
    except BaseException:
        server.remove()
        raise
    return server


@contextlib.contextmanager
def running_server():
    """A running :class:`PostgresServer`, stopped (by pid) and deleted afterwards even when the body fails."""
    server = start_server()
    try:
        yield server
    finally:
        server.remove()


def fresh_database(server: PostgresServer):
    """Generator for a function-scoped fixture over a module-scoped server: the server (started
    again if a test stopped it) with a new empty database of the test's own as its default."""
    if server.pid is None:
        server.start()
    server.database = server.create_database(f"test_{os.urandom(4).hex()}")
    try:
        yield server
    finally:
        if server.pid is None:
            server.start()
