"""Shared fixtures: a real NATS JetStream and a real PostgreSQL for the whole session.

By default both are embedded servers started from their PyPI wheels on free ports in
temporary directories (see :mod:`mediatasks.devstack.servers`). Set
``MEDIATASKS_TEST_NATS_URL`` and/or ``MEDIATASKS_TEST_DATABASE_URL`` to run the same tests
against existing servers instead (a fresh database is created on that PostgreSQL server
and dropped at the end).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mediatasks.devstack.embedded_nats import EmbeddedNats
from mediatasks.devstack.embedded_postgres import EmbeddedPostgres, create_database, drop_database

# Tests are not services: reading these two variables here is the documented exception.
EXTERNAL_NATS_URL = os.environ.get("MEDIATASKS_TEST_NATS_URL", "")
EXTERNAL_DATABASE_URL = os.environ.get("MEDIATASKS_TEST_DATABASE_URL", "")

# Start-up time of each embedded server this session, shown in the terminal summary.
STARTUP_SECONDS: dict[str, float] = {}


@dataclass
class ExternalNats:
    """A NATS server the session did not start: same ``url``, but no restart."""

    url: str

    def restart(self) -> str:
        pytest.skip("restarting NATS needs the embedded server (MEDIATASKS_TEST_NATS_URL is set)")

    def stop(self) -> None:
        pytest.skip("stopping NATS needs the embedded server (MEDIATASKS_TEST_NATS_URL is set)")


@dataclass
class ExternalPostgres:
    """A PostgreSQL server the session did not start; ``url`` is a fresh database on it."""

    server_url: str
    url: str


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats | ExternalNats]:
    """The session's NATS JetStream server (``.url``; ``.restart()`` when embedded)."""
    if EXTERNAL_NATS_URL:
        yield ExternalNats(EXTERNAL_NATS_URL)
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    STARTUP_SECONDS["nats-server"] = server.startup_seconds or 0.0
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats | ExternalNats) -> str:
    return nats_server.url


def make_postgres_state_dir() -> Path:
    """A fresh directory for an embedded PostgreSQL (the caller removes it).

    Not under pytest's basetemp: that tree is mode 0700 and, when the tests run as root,
    PostgreSQL runs as an unprivileged account that must be able to reach its data dir.
    """
    path = Path(tempfile.mkdtemp(prefix="mediatasks-test-pg-"))
    path.chmod(0o711)
    return path


@pytest.fixture()
def postgres_state_dir() -> Iterator[Path]:
    """A fresh state directory for a test's own embedded PostgreSQL, removed afterwards."""
    path = make_postgres_state_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres | ExternalPostgres]:
    """The session's PostgreSQL: ``.url`` (its test database) and ``.server_url``."""
    if EXTERNAL_DATABASE_URL:
        name = f"mediatasks_test_{uuid.uuid4().hex[:12]}"
        url = create_database(EXTERNAL_DATABASE_URL, name)
        try:
            yield ExternalPostgres(server_url=EXTERNAL_DATABASE_URL, url=url)
        finally:
            drop_database(EXTERNAL_DATABASE_URL, name)
        return
    state_dir = make_postgres_state_dir()
    server = EmbeddedPostgres(state_dir)
    try:
        server.start()
        STARTUP_SECONDS["postgres (initdb included)"] = server.startup_seconds or 0.0
        yield server
    finally:
        server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_server: EmbeddedPostgres | ExternalPostgres) -> str:
    """SQLAlchemy URL (``postgresql+psycopg://``) of a database fresh for this session."""
    return postgres_server.url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STARTUP_SECONDS:
        times = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in STARTUP_SECONDS.items())
        terminalreporter.write_line(f"embedded servers started in: {times}")


# --- service fixtures (added by the stack) ---


@pytest.fixture(scope="session")
def stack_settings(nats_url: str, database_url: str):
    """Settings for services run in this test process against the session's servers."""
    from mediatasks.core.settings import Settings

    return Settings(
        nats_url=nats_url,
        database_url=database_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        internal_token="test-internal-token",
        auth_disabled=False,
        log_json=False,
        ack_wait_seconds=3.0,
        retry_schedule_seconds="0.2,0.4,0.8",
        shutdown_grace_seconds=3.0,
        outbox_poll_seconds=0.2,
    )


@pytest.fixture(scope="session")
async def registry_service(stack_settings):
    """The task registry running in this process (real PostgreSQL and JetStream)."""
    from mediatasks.registry.service import start_registry

    runtime = await start_registry(stack_settings)
    yield runtime
    await runtime.stop()


@pytest.fixture(scope="session")
def service_settings(stack_settings, registry_service):
    """Settings for media services: the registry's real address filled in."""
    return stack_settings.model_copy(update={"registry_addr": f"127.0.0.1:{registry_service.port}"})


@pytest.fixture(scope="session")
async def subtitle_service(service_settings):
    from mediatasks.cli.services import media_service
    from mediatasks.media_service import start_media_service

    runtime, parts = await start_media_service(media_service("subtitle"), service_settings)
    yield runtime
    await runtime.stop()


@pytest.fixture(scope="session")
async def api_key(registry_service) -> str:
    """An API key of owner ``alice``."""
    return await registry_service.api_keys.create("alice", name="tests")


@pytest.fixture(scope="session")
async def other_api_key(registry_service) -> str:
    """An API key of owner ``bob``."""
    return await registry_service.api_keys.create("bob", name="tests")
