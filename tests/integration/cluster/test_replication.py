"""Replication as configuration: every stream, KV bucket and object store the platform
creates has MEDIATASKS_NATS_REPLICAS replicas; single-replica assets of an earlier
deployment are scaled in place with their data; a count the deployment cannot hold is
refused at start naming the setting."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mediatasks.core import topology
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import Settings
from mediatasks.core.topology import ReplicationError

pytestmark = pytest.mark.asyncio(loop_scope="session")

STREAMS = [topology.JOBS_STREAM, topology.EVENTS_STREAM, topology.DLQ_STREAM]


def platform_assets(settings: Settings) -> list[str]:
    """The streams behind everything ensure_streams declares."""
    buckets = [topology.kv_stream(bucket) for bucket in topology.KV_BUCKETS]
    return [*STREAMS, *buckets, topology.object_store_stream(settings.artifact_bucket)]


async def replicas(js, streams: list[str]) -> dict[str, int]:
    return {name: (await js.stream_info(name)).config.num_replicas for name in streams}


async def followers_current(js, stream: str, count: int, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        cluster = (await js.stream_info(stream)).cluster
        peers = (cluster.replicas or []) if cluster else []
        if cluster and cluster.leader and sum(1 for peer in peers if peer.current) == count:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{stream}: followers {peers}"
        await asyncio.sleep(0.1)


async def test_single_replica_assets_are_scaled_to_three_with_their_messages(whole_cluster) -> None:
    one = Settings(nats_url=whole_cluster.url, nats_replicas=1, artifact_bucket=f"art-{uuid.uuid4().hex[:8]}")
    three = one.model_copy(update={"nats_replicas": 3})
    nc = await connect(one, name="test-replication")
    try:
        js = nc.jetstream()
        await topology.ensure_streams(js, one)
        assert set((await replicas(js, platform_assets(one))).values()) == {1}
        ack = await js.publish(
            topology.job_subject("subtitle_generation", "low"), b"kept", headers={"Nats-Msg-Id": "k"}
        )

        await topology.ensure_streams(js, three)  # a later start with MEDIATASKS_NATS_REPLICAS=3

        assert set((await replicas(js, platform_assets(three))).values()) == {3}
        kept = await js.get_msg(topology.JOBS_STREAM, ack.seq)
        assert kept.data == b"kept"
        # Every node gets a copy: the stream lists two current followers besides its leader.
        await followers_current(js, topology.JOBS_STREAM, 2)
        # A bucket first opened later is as replicated as the streams.
        late = f"late-{uuid.uuid4().hex[:8]}"
        await topology.ensure_kv(js, late)
        assert (await replicas(js, [topology.kv_stream(late)]))[topology.kv_stream(late)] == 3
        await js.delete_key_value(late)
        await js.purge_stream(topology.JOBS_STREAM)
    finally:
        await nc.close()


async def test_more_replicas_than_nodes_is_refused_naming_the_setting(whole_cluster) -> None:
    settings = Settings(nats_url=whole_cluster.url, nats_replicas=5)
    nc = await connect(settings, name="test-replication")
    try:
        with pytest.raises(ReplicationError, match="MEDIATASKS_NATS_REPLICAS") as refused:
            await topology.ensure_streams(nc.jetstream(), settings)
        assert "5 replicas" in str(refused.value)
    finally:
        await nc.close()


async def test_a_single_server_refuses_three_replicas_and_keeps_its_streams(nats_url) -> None:
    settings = Settings(nats_url=nats_url, nats_replicas=3, artifact_bucket=f"art-{uuid.uuid4().hex[:8]}")
    nc = await connect(settings, name="test-replication")
    try:
        js = nc.jetstream()
        await topology.ensure_streams(js, settings.model_copy(update={"nats_replicas": 1}))
        with pytest.raises(ReplicationError, match="MEDIATASKS_NATS_REPLICAS") as refused:
            await topology.ensure_streams(js, settings)
        assert "non-clustered" in str(refused.value)
        assert set((await replicas(js, STREAMS)).values()) == {1}
        await js.delete_object_store(settings.artifact_bucket)
    finally:
        await nc.close()
