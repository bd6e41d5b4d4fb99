"""A client given every node's URL rides through the loss of the node it is connected
to: JetStream keeps accepting (deduplicated) publishes on the R3 stream, the killed node
comes back and catches up, and a frozen node is left for the others."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mediatasks.core import topology
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import Settings
from mediatasks.devstack.nats_cluster import wait_current
from nats.errors import Error as NatsError

pytestmark = pytest.mark.asyncio(loop_scope="session")

MESSAGES = 200


def connected_node(cluster, nc) -> int:
    port = nc.connected_url.port
    return next(index for index, node in enumerate(cluster.nodes) if node.port == port)


async def publish_all(js, subject: str, run: str, count: int, *, fault_at: int, fault) -> int:
    """Publish ``count`` messages (ids ``run-i``), each retried until acknowledged, while
    ``fault`` runs once at message ``fault_at``; returns how many tries needed a retry."""
    retried = 0
    for index in range(count):
        if index == fault_at:
            await asyncio.to_thread(fault)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                await js.publish(subject, b"x", headers={"Nats-Msg-Id": f"{run}-{index}"}, timeout=2)
                break
            except (NatsError, TimeoutError):
                retried += 1
                assert asyncio.get_running_loop().time() < deadline, f"message {index} never acknowledged"
                await asyncio.sleep(0.1)
    return retried


async def stream_messages(js, subject: str) -> int:
    """Messages of ``subject`` in the jobs stream (asked again while its leader is elected)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            info = await js.stream_info(topology.JOBS_STREAM, subjects_filter=subject)
            return (info.state.subjects or {}).get(subject, 0)
        except (NatsError, TimeoutError):
            assert asyncio.get_running_loop().time() < deadline, "the jobs stream did not answer for 30 s"
            await asyncio.sleep(0.2)


async def test_publishes_survive_the_sigkill_of_the_clients_node_and_it_catches_up(whole_cluster) -> None:
    settings = Settings(nats_url=whole_cluster.url, nats_replicas=3, artifact_store="s3")
    nc = await connect(settings, name="test-failover")
    try:
        js = nc.jetstream(timeout=5)
        await topology.ensure_streams(js, settings)
        victim = connected_node(whole_cluster, nc)
        subject = topology.job_subject("subtitle_generation", f"f{uuid.uuid4().hex[:6]}")
        run = uuid.uuid4().hex[:8]

        await publish_all(js, subject, run, MESSAGES, fault_at=MESSAGES // 2, fault=lambda: whole_cluster.kill(victim))

        assert connected_node(whole_cluster, nc) != victim  # reconnected to another node
        assert await stream_messages(js, subject) == MESSAGES  # none lost, none twice
        await asyncio.to_thread(whole_cluster.restart, victim)
        # The node that missed half of the messages gets them: its copy becomes current.
        await wait_current(js, [topology.JOBS_STREAM, topology.EVENTS_STREAM], whole_cluster.node_name(victim), 30)
    finally:
        await nc.close()


async def test_a_frozen_node_is_left_and_the_cluster_keeps_a_meta_leader(whole_cluster) -> None:
    settings = Settings(nats_url=whole_cluster.url, nats_replicas=3, artifact_store="s3")
    nc = await connect(settings, name="test-failover")
    try:
        js = nc.jetstream(timeout=5)
        await topology.ensure_streams(js, settings)
        leader = await asyncio.to_thread(whole_cluster.meta_leader)
        subject = topology.job_subject("subtitle_generation", f"z{uuid.uuid4().hex[:6]}")
        run = uuid.uuid4().hex[:8]

        def freeze() -> None:
            whole_cluster.freeze(leader)

        await publish_all(js, subject, run, 50, fault_at=10, fault=freeze)
        # The others elected a new meta leader while it was frozen (stopped, not dead).
        others = [index for index in range(3) if index != leader]
        assert await asyncio.to_thread(whole_cluster.meta_leader, 30.0, others) in others
        whole_cluster.thaw(leader)
        await asyncio.to_thread(whole_cluster.wait_healthy, 30.0)
        # A thawed node that led the stream may answer once more from its old state before
        # it learns of the new leader: the count must reach 50 (none lost), never pass it.
        deadline = asyncio.get_running_loop().time() + 30
        while (count := await stream_messages(js, subject)) != 50:
            assert count < 50, f"{count} messages: some stored twice"
            assert asyncio.get_running_loop().time() < deadline, f"only {count} of 50 messages"
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
