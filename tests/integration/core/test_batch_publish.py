"""BatchPublisher against a real JetStream server: acknowledgements, deduplication,
refusals and silence, each message of a batch with its own outcome."""

from __future__ import annotations

import time
import uuid

import nats
import nats.errors
import pytest
from mediatasks.core.batch_publish import BatchPublisher
from nats.js.api import PubAck, StreamConfig
from nats.js.errors import NoStreamResponseError

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def nc(nats_url):
    connection = await nats.connect(nats_url, connect_timeout=5)
    yield connection
    await connection.close()


@pytest.fixture
async def stream(nc):
    name = f"BATCH_{uuid.uuid4().hex[:8]}"
    js = nc.jetstream(timeout=5)
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
    yield name
    await js.delete_stream(name)


async def test_every_message_of_a_batch_gets_its_own_acknowledgement_in_order(nc, stream):
    publisher = BatchPublisher(nc)
    subject = f"{stream.lower()}.a"
    batch = [(subject, f"m{n}".encode(), {"Nats-Msg-Id": f"id-{n}"}) for n in range(200)]
    acks = await publisher.publish(batch, timeout=5)
    assert all(isinstance(ack, PubAck) for ack in acks)
    assert [ack.seq for ack in acks] == list(range(1, 201))
    assert {ack.stream for ack in acks} == {stream}

    # Sent again (a relay that died before deleting its rows): the same sequences, flagged.
    again = await publisher.publish(batch[:3], timeout=5)
    assert [(ack.seq, ack.duplicate) for ack in again] == [(1, True), (2, True), (3, True)]
    assert (await nc.jetstream().stream_info(stream)).state.messages == 200


async def test_each_refusal_belongs_to_its_own_message(nc, stream):
    publisher = BatchPublisher(nc)
    too_big = b"x" * (nc.max_payload + 1)
    outcomes = await publisher.publish(
        [
            (f"{stream.lower()}.ok", b"first", {}),
            (f"{stream.lower()}.big", too_big, {}),
            (f"nostream.{uuid.uuid4().hex}", b"nobody", {}),
            (f"{stream.lower()}.ok", b"last", {"Nats-Expected-Last-Subject-Sequence": "0"}),
        ],
        timeout=5,
    )
    assert isinstance(outcomes[0], PubAck)
    assert isinstance(outcomes[1], nats.errors.MaxPayloadError)
    assert isinstance(outcomes[2], NoStreamResponseError)
    # JetStream's own refusal (the subject already has a message) comes back as APIError.
    assert getattr(outcomes[3], "err_code", None) == 10071
    assert not publisher._waiting


async def test_a_message_nobody_acknowledges_times_out_without_holding_the_batch(nc, stream):
    silent = f"silent.{uuid.uuid4().hex}"
    listener = await nc.subscribe(silent)  # a responder that never answers: no 503 either
    publisher = BatchPublisher(nc)
    began = time.monotonic()
    outcomes = await publisher.publish([(f"{stream.lower()}.x", b"stored", {}), (silent, b"lost", {})], timeout=0.5)
    assert time.monotonic() - began < 3
    assert isinstance(outcomes[0], PubAck)
    assert isinstance(outcomes[1], TimeoutError)
    assert not publisher._waiting  # nothing left behind for a reply that never comes
    await listener.unsubscribe()
