"""The whole stack as separate processes behind the real Envoy, once per session."""

from __future__ import annotations

import httpx
import pytest
from helpers.stacks import isolated_stack


@pytest.fixture(scope="session")
def stack(postgres_server):
    """registry x1, image x1, video x2, audio x1, subtitle x2, Envoy; short AckWait so a
    killed worker's job is redelivered within seconds."""
    with isolated_stack(
        postgres_server,
        "e2e",
        replicas={"video": 2, "subtitle": 2},
        env={
            "MEDIATASKS_ACK_WAIT_SECONDS": "3",
            "MEDIATASKS_RETRY_SCHEDULE_SECONDS": "0.5,1,2",
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "3",
            "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.2",
            "MEDIATASKS_LOG_JSON": "false",
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "50",
        },
    ) as running:
        yield running


@pytest.fixture(scope="session")
def rest(stack):
    """An HTTP client of the gateway, authenticated as the stack's demo owner."""
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous(stack):
    with httpx.Client(base_url=stack.http_url, timeout=30.0) as client:
        yield client
