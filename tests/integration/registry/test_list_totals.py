"""ListTasks at scale: the total is exact up to LIST_TOTAL_CAP and the cap beyond it, and
the answer says which (initial metadata x-total-capped, a response header through Envoy)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediatasks.bench import fill_tasks
from mediatasks.registry.servicer import TOTAL_CAPPED_HEADER
from mediatasks.registry.store import LIST_TOTAL_CAP
from mediatasks.v1 import tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


def internal(owner: str):
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


async def list_page(registry_service, owner: str, **filters) -> tuple[tasks_pb2.ListTasksResponse, dict]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}") as channel:
        call = tasks_pb2_grpc.TaskRegistryStub(channel).ListTasks(
            tasks_pb2.ListTasksRequest(limit=10, **filters), metadata=internal(owner), timeout=30
        )
        response = await call
        return response, {key: value for key, value in list(await call.initial_metadata())}


async def test_a_total_past_the_cap_is_the_cap_and_says_so(registry_service, database_url):
    owner = f"many-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(fill_tasks, database_url, LIST_TOTAL_CAP + 50, 3, owner)
    everything, headers = await list_page(registry_service, owner)
    assert everything.total == LIST_TOTAL_CAP
    assert headers.get(TOTAL_CAPPED_HEADER) == "true"
    assert len(everything.items) == 10 and everything.next_page_token
    # A filter that matches fewer than the cap counts exactly: one in 50 finished tasks failed.
    failed, headers = await list_page(registry_service, owner, status="failed")
    assert failed.total == (LIST_TOTAL_CAP + 50) // 50
    assert TOTAL_CAPPED_HEADER not in headers
    queued, headers = await list_page(registry_service, owner, status="queued")
    assert queued.total == 3 and len(queued.items) == 3 and not queued.next_page_token
    assert TOTAL_CAPPED_HEADER not in headers
