"""Fixtures of the registry's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from mediatasks.core.settings import Settings
from mediatasks.devstack.embedded_postgres import create_database, drop_database
from mediatasks.registry import migrate


@pytest.fixture(scope="module")
def own_database_url(postgres_server, stack_settings, request):
    """A migrated database of the test module's own: no registry's outbox relay runs on
    it, so the outbox rows a test wrote stay until the test itself moves them."""
    name = f"{request.module.__name__.rpartition('.')[2].removeprefix('test_')}_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, name)
    try:
        migrate.upgrade(stack_settings.model_copy(update={"database_url": url}))
        yield url
    finally:
        drop_database(postgres_server.server_url, name)


@pytest.fixture
def fresh_database(postgres_server, stack_settings) -> Iterator[tuple[str, Settings]]:
    """An empty database of the test's own (nothing migrated): its URL and settings."""
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, name)
    try:
        yield url, stack_settings.model_copy(update={"database_url": url})
    finally:
        drop_database(postgres_server.server_url, name)
