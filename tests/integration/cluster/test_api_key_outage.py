"""An API key lookup that cannot reach NATS (a node lost, an election under way) is a
retryable UNAVAILABLE, never "unknown or revoked API key": under the cluster faults a
valid key was refused as UNAUTHENTICATED, which no client retries."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from mediatasks.core import topology
from mediatasks.core.auth import ApiKeyStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import Settings
from mediatasks.devstack.embedded_nats import EmbeddedNats

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_lookup_during_a_nats_outage_is_unavailable_not_unknown(tmp_path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    settings = Settings(nats_url=server.url)
    nc = await connect(settings, name="test-api-keys")
    try:
        js = nc.jetstream(timeout=1)
        await topology.ensure_streams(js, settings)
        writer = ApiKeyStore(await topology.ensure_kv(js, topology.APIKEYS_BUCKET))
        key = await writer.create("alice")
        warm = ApiKeyStore(await topology.ensure_kv(js, topology.APIKEYS_BUCKET))
        cold = ApiKeyStore(await topology.ensure_kv(js, topology.APIKEYS_BUCKET))
        assert await warm.owner_of(key) == "alice"
        assert await warm.owner_of("mt_not-a-key") is None  # unknown stays unknown

        await asyncio.to_thread(server.stop)

        with pytest.raises(MediaTasksError) as outage:
            await cold.owner_of(key)
        assert outage.value.code == grpc.StatusCode.UNAVAILABLE
        assert outage.value.retryable
        assert await warm.owner_of(key) == "alice"  # the last answer stands meanwhile
    finally:
        with contextlib.suppress(ConnectionError):  # closing a connection whose server is gone
            await nc.close()
        server.stop()
