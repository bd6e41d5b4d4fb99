"""Webhook delivery against real JetStream, PostgreSQL, the registry, the subtitle worker
and a real HTTP receiver on loopback.

Each dispatcher here has its own durable consumer name, so it neither steals events
from a dispatcher the registry itself may run nor sends that one's rows. The receiver
verifies every request with its own Standard Webhooks implementation (written below,
not imported from the code under test) and with the seeds' verifier.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import grpc
import pytest
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.nats_conn import connect
from mediatasks.core.topology import EVENTS_STREAM, HOOKS_STREAM, event_subject, hook_subject
from mediatasks.registry.models import WebhookDeliveryRow
from mediatasks.registry.webhooks import LEGACY_SEQUENCE_OFFSET, WebhookDispatcher
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import select

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIMEOUT = 1.0  # webhook_timeout_seconds of the test dispatchers


# --- an independent Standard Webhooks verifier -------------------------------------------


def standard_webhooks_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Verify like a Standard Webhooks receiver library: whsec_ base64 key, signed
    content "id.timestamp.body", space-separated "v1,<base64>" candidates, 5 min window."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > 300:
        return False
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else None
    key = base64.b64decode(raw) if raw is not None else secret.encode()
    content = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for candidate in headers.get("webhook-signature", "").split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


def seed_verify_webhook(payload: str, signature: str, secret: str) -> bool:
    """The seeds' verifier (seed 001), as its clients run it."""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


# --- a real HTTP receiver ----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server in a thread; each path answers every delivery (webhook-id) from
    its script, then ``200``.

    Scripts are per delivery because every dispatcher of this module sees every event:
    another dispatcher's delivery to the same path must not use up this one's script.
    A script entry is a status code, or ``("sleep", seconds)`` to answer 200 too late.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list] = {}
        self._remaining: dict[tuple[str, str], list] = {}
        self._requests: list[Received] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                action = receiver._next_action(self.path, self.headers.get("webhook-id", ""))
                status = 200
                if isinstance(action, tuple):
                    time.sleep(action[1])
                else:
                    status = action
                receiver._record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
                with contextlib.suppress(OSError):  # the sender may have given up already
                    self.send_response(status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a sender that timed out closed the socket: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, actions: list) -> None:
        with self._lock:
            self._scripts[path] = list(actions)

    def _next_action(self, path: str, webhook_id: str):
        with self._lock:
            key = (path, webhook_id)
            if key not in self._remaining:
                self._remaining[key] = list(self._scripts.get(path, ()))
            actions = self._remaining[key]
            return actions.pop(0) if actions else 200

    def _record(self, item: Received) -> None:
        with self._lock:
            self._requests.append(item)

    def requests(self, path: str, ids: set[str] | None = None) -> list[Received]:
        """Requests to a path (optionally only those with these webhook-ids), in order."""
        with self._lock:
            return [r for r in self._requests if r.path == path and (ids is None or r.headers.get("webhook-id") in ids)]


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    server.start()
    yield server
    server.stop()


def webhook_settings(stack_settings, **overrides):
    values = {
        "webhook_retry_schedule_seconds": "0.2,0.2,0.2,0.2,0.2,0.2,0.2",
        "webhook_max_attempts": 8,
        "webhook_timeout_seconds": TIMEOUT,
        "allow_private_urls": True,
    }
    values.update(overrides)
    return stack_settings.model_copy(update=values)


class Running:
    """A dispatcher running in the background on its own engine and NATS connection."""

    def __init__(self, settings, durable: str, *, keep_consumer: bool = False) -> None:
        self.settings = settings
        self.durable = durable
        self.keep_consumer = keep_consumer

    async def __aenter__(self) -> WebhookDispatcher:
        self.engine = create_engine(self.settings)
        self.nc = await connect(self.settings, name=f"test-{self.durable}")
        self.js = self.nc.jetstream(timeout=5.0)
        self.dispatcher = WebhookDispatcher(self.engine, self.js, self.settings, durable=self.durable)
        self.task = asyncio.create_task(self.dispatcher.run())
        # The consumer starts at new events: wait until it exists before making any.
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(Exception):
                await self.js.consumer_info(HOOKS_STREAM, self.durable)
                break
            assert time.monotonic() < deadline, "the webhook consumer was never created"
            assert not self.task.done(), self.task
            await asyncio.sleep(0.05)
        return self.dispatcher

    async def __aexit__(self, *exc) -> None:
        await self.stop()
        if not self.keep_consumer:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(HOOKS_STREAM, self.durable)
        await self.nc.close()
        await self.engine.dispose()

    async def stop(self) -> None:
        if not self.task.done():
            await asyncio.wait_for(self.dispatcher.stop(), timeout=10)
            await asyncio.wait_for(self.task, timeout=10)


def new_durable() -> str:
    return f"webhooks_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
async def dispatcher(stack_settings, registry_service):
    async with Running(webhook_settings(stack_settings), new_durable()) as running:
        yield running


@pytest.fixture(scope="module")
async def registry(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(channel)
    await channel.close()


def internal(stack_settings, owner: str):
    return (("x-mediatasks-internal", stack_settings.internal_token), ("x-mediatasks-owner", owner))


async def create_task(
    registry,
    stack_settings,
    owner: str,
    url: str,
    *,
    task_type="video_caption",
    secret="",
    events=(),
) -> tasks_pb2.Task:
    """Create a task as a media service does after validating the request.

    (The subtitle service would refuse a loopback webhook_url at submit time with the
    session's settings; the registry stores what it is given.) ``video_caption`` has no
    worker in these tests, so such a task only ever emits ``task.created``.
    """
    options = common_pb2.SubmitOptions(webhook_url=url, webhook_secret=secret, webhook_events=list(events))
    request = tasks_pb2.CreateTaskRequest(task_type=task_type, owner=owner, options=options)
    text = f"Hello there. Webhook test {uuid.uuid4().hex[:8]}. It should become subtitles."
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=text, format="vtt"))
    return await registry.CreateTask(request, metadata=internal(stack_settings, owner), timeout=10)


async def eventually(check, *, timeout: float, what: str):
    """Await ``check()`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def deliveries_in(dispatcher: WebhookDispatcher, task_id: str, state: str, count: int = 1):
    async def check():
        listed = (await dispatcher.list_deliveries(task_id, None)).deliveries
        if len(listed) >= count and all(d.state == state for d in listed):
            return list(listed)
        return None

    return check


def new_owner() -> str:
    return f"wh-{uuid.uuid4().hex[:8]}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


# --- tests -------------------------------------------------------------------------------


async def test_completed_subtitle_job_delivers_every_event_in_order(
    dispatcher, registry, receiver, stack_settings, subtitle_service
):
    owner, secret = new_owner(), new_secret()
    path = f"/ordered/{uuid.uuid4().hex[:8]}"
    # Every delivery's first try fails: each later event must wait behind the retry of
    # the one before it.
    receiver.script(path, [500])
    task = await create_task(
        registry,
        stack_settings,
        owner,
        receiver.url(path),
        task_type="subtitle_generation",
        secret=secret,
    )
    md = internal(stack_settings, owner)

    async def finished():
        got = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=md, timeout=5)
        return got if got.status in (tasks_pb2.Task.COMPLETED, tasks_pb2.Task.FAILED) else None

    done = await eventually(finished, timeout=60, what="the subtitle job to finish")
    assert done.status == tasks_pb2.Task.COMPLETED, done.error

    async def all_delivered():
        listed = (await dispatcher.list_deliveries(task.task_id, owner)).deliveries
        if listed and listed[-1].event_type == "task.completed" and all(d.state == "delivered" for d in listed):
            return list(listed)
        return None

    listed = await eventually(all_delivered, timeout=30, what="every event to be delivered")
    types = [d.event_type for d in listed]
    assert types[0] == "task.created" and types[1] == "task.started", types
    assert types[-1] == "task.completed"
    assert set(types) <= {"task.created", "task.started", "task.progress", "task.completed"}
    for delivery in listed:
        assert [a.status_code for a in delivery.attempts] == [500, 200], delivery

    ids = {d.delivery_id for d in listed}
    requests = receiver.requests(path, ids)
    assert len(requests) == 2 * len(listed)  # each failed once, then succeeded
    for request in requests:
        assert standard_webhooks_verify(secret, request.headers, request.body), request.headers
        assert seed_verify_webhook(request.body.decode(), request.headers["x-webhook-signature"], secret)
        assert request.headers["content-type"] == "application/json"
    # Strictly one at a time: a failed try, its retry (the same webhook-id and body),
    # and only then the next event.
    for failed, retried in zip(requests[::2], requests[1::2], strict=True):
        assert (failed.status, retried.status) == (500, 200)
        assert failed.headers["webhook-id"] == retried.headers["webhook-id"]
        assert failed.body == retried.body
    answered = [r for r in requests if r.status == 200]
    assert [r.json["event_type"] for r in answered] == types
    assert [r.headers["webhook-id"] for r in answered] == [d.delivery_id for d in listed]

    completed = answered[-1].json
    assert completed["task_id"] == task.task_id
    assert completed["user_id"] == owner
    assert completed["data"]["status"] == "completed"
    assert completed["data"]["type"] == "subtitle_generation"
    assert completed["data"]["progress"] == 100
    assert completed["data"]["output_data"]["result"]["content"].startswith("WEBVTT")
    assert completed["task"]["status"] == "COMPLETED"
    assert answered[1].json["data"]["status"] == "processing"

    # The stored payload is the exact body that was sent.
    async with dispatcher.engine.connect() as conn:
        stored = (
            await conn.execute(
                select(WebhookDeliveryRow.payload).where(WebhookDeliveryRow.id == uuid.UUID(listed[-1].delivery_id))
            )
        ).scalar_one()
    assert stored == answered[-1].body


async def test_receiver_failing_three_times_then_succeeding(dispatcher, registry, receiver, stack_settings):
    owner, secret = new_owner(), new_secret()
    path = f"/flaky/{uuid.uuid4().hex[:8]}"
    receiver.script(path, [500, 502, 503])
    task = await create_task(registry, stack_settings, owner, receiver.url(path), secret=secret)
    listed = await eventually(deliveries_in(dispatcher, task.task_id, "delivered"), timeout=20, what="delivery")
    assert len(listed) == 1
    delivery = listed[0]
    assert [a.status_code for a in delivery.attempts] == [500, 502, 503, 200]
    assert all(a.duration_seconds > 0 and a.timestamp.seconds > 0 for a in delivery.attempts)
    assert [a.error for a in delivery.attempts[:3]] == ["HTTP 500", "HTTP 502", "HTTP 503"]
    requests = receiver.requests(path, {delivery.delivery_id})
    assert [r.status for r in requests] == [500, 502, 503, 200]
    assert {r.headers["webhook-id"] for r in requests} == {delivery.delivery_id}
    assert len({r.body for r in requests}) == 1
    assert all(standard_webhooks_verify(secret, r.headers, r.body) for r in requests)
    assert requests[-1].json["event_type"] == "task.created"


async def test_gone_receiver_stops_after_one_attempt(dispatcher, registry, receiver, stack_settings):
    path = f"/gone/{uuid.uuid4().hex[:8]}"
    receiver.script(path, [410] * 10)
    task = await create_task(registry, stack_settings, new_owner(), receiver.url(path))
    listed = await eventually(deliveries_in(dispatcher, task.task_id, "failed"), timeout=20, what="failure")
    await asyncio.sleep(1.0)  # would be several retries by now with a 0.2 s schedule
    listed = (await dispatcher.list_deliveries(task.task_id, None)).deliveries
    assert len(listed) == 1 and listed[0].state == "failed"
    assert [a.status_code for a in listed[0].attempts] == [410]
    assert not listed[0].HasField("next_attempt_at")
    assert len(receiver.requests(path, {listed[0].delivery_id})) == 1


async def test_408_and_timeouts_are_retried(dispatcher, registry, receiver, stack_settings):
    slow_path = f"/slow/{uuid.uuid4().hex[:8]}"
    busy_path = f"/busy/{uuid.uuid4().hex[:8]}"
    receiver.script(slow_path, [("sleep", TIMEOUT + 1.0)])
    receiver.script(busy_path, [408, 429])
    slow = await create_task(registry, stack_settings, new_owner(), receiver.url(slow_path))
    busy = await create_task(registry, stack_settings, new_owner(), receiver.url(busy_path))
    slow_listed = await eventually(
        deliveries_in(dispatcher, slow.task_id, "delivered"), timeout=20, what="slow delivery"
    )
    busy_listed = await eventually(
        deliveries_in(dispatcher, busy.task_id, "delivered"), timeout=20, what="busy delivery"
    )
    first, second = slow_listed[0].attempts
    assert first.status_code == 0 and "no answer" in first.error
    assert TIMEOUT * 0.9 <= first.duration_seconds < TIMEOUT + 1.0
    assert second.status_code == 200
    assert [a.status_code for a in busy_listed[0].attempts] == [408, 429, 200]


async def test_attempts_run_out(dispatcher, registry, receiver, stack_settings):
    path = f"/down/{uuid.uuid4().hex[:8]}"
    receiver.script(path, [503] * 20)
    task = await create_task(registry, stack_settings, new_owner(), receiver.url(path))
    listed = await eventually(deliveries_in(dispatcher, task.task_id, "failed"), timeout=30, what="exhaustion")
    assert [a.status_code for a in listed[0].attempts] == [503] * 8
    assert len(receiver.requests(path, {listed[0].delivery_id})) == 8


async def test_event_filter_and_unsigned_delivery(dispatcher, registry, receiver, stack_settings):
    path = f"/filtered/{uuid.uuid4().hex[:8]}"
    created = await create_task(registry, stack_settings, new_owner(), receiver.url(path), events=["task.cancelled"])
    await registry.CancelTask(
        tasks_pb2.CancelTaskRequest(task_id=created.task_id),
        metadata=internal(stack_settings, created.owner),
        timeout=10,
    )
    listed = await eventually(deliveries_in(dispatcher, created.task_id, "delivered"), timeout=20, what="delivery")
    assert [d.event_type for d in listed] == ["task.cancelled"]
    (request,) = receiver.requests(path, {listed[0].delivery_id})
    assert request.json["data"]["status"] == "cancelled"
    # No secret: no signature headers, but the id and timestamp are still there.
    assert "webhook-signature" not in request.headers
    assert "x-webhook-signature" not in request.headers
    assert request.headers["webhook-id"] == listed[0].delivery_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60


async def test_redeliver_sends_again_with_the_same_id(dispatcher, registry, receiver, stack_settings):
    owner, secret = new_owner(), new_secret()
    path = f"/again/{uuid.uuid4().hex[:8]}"
    task = await create_task(registry, stack_settings, owner, receiver.url(path), secret=secret)
    (delivery,) = await eventually(deliveries_in(dispatcher, task.task_id, "delivered"), timeout=20, what="delivery")
    assert len(delivery.attempts) == 1
    again = await dispatcher.redeliver(delivery.delivery_id, owner)
    assert again.delivery_id == delivery.delivery_id
    assert again.state == "pending"

    async def two_attempts():
        (d,) = (await dispatcher.list_deliveries(task.task_id, owner)).deliveries
        return d if d.state == "delivered" and len(d.attempts) == 2 else None

    await eventually(two_attempts, timeout=20, what="the redelivery")
    requests = receiver.requests(path, {delivery.delivery_id})
    assert len(requests) == 2
    assert requests[0].body == requests[1].body
    assert all(standard_webhooks_verify(secret, r.headers, r.body) for r in requests)


async def test_other_owners_and_unknown_ids_get_not_found(dispatcher, registry, receiver, stack_settings):
    owner = new_owner()
    path = f"/private/{uuid.uuid4().hex[:8]}"
    task = await create_task(registry, stack_settings, owner, receiver.url(path))
    (delivery,) = await eventually(deliveries_in(dispatcher, task.task_id, "delivered"), timeout=20, what="delivery")
    assert (await dispatcher.list_deliveries(task.task_id, owner)).deliveries[0] == delivery

    async def reason(call) -> tuple[str, grpc.StatusCode]:
        with pytest.raises(MediaTasksError) as raised:
            await call
        return raised.value.reason, raised.value.code

    not_task = ("TASK_NOT_FOUND", grpc.StatusCode.NOT_FOUND)
    not_delivery = ("WEBHOOK_DELIVERY_NOT_FOUND", grpc.StatusCode.NOT_FOUND)
    assert await reason(dispatcher.list_deliveries(task.task_id, "someone-else")) == not_task
    assert await reason(dispatcher.list_deliveries(str(uuid.uuid4()), owner)) == not_task
    assert await reason(dispatcher.list_deliveries("not-a-uuid", None)) == not_task
    assert await reason(dispatcher.redeliver(delivery.delivery_id, "someone-else")) == not_delivery
    assert await reason(dispatcher.redeliver(str(uuid.uuid4()), owner)) == not_delivery
    assert await reason(dispatcher.redeliver("nope", None)) == not_delivery
    # Nothing was re-sent by the refused redelivery.
    await asyncio.sleep(0.5)
    assert len(receiver.requests(path, {delivery.delivery_id})) == 1


async def test_loopback_target_refused_without_allow_private_urls(dispatcher, registry, receiver, stack_settings):
    strict = webhook_settings(stack_settings, allow_private_urls=False)
    path = f"/ssrf/{uuid.uuid4().hex[:8]}"
    async with Running(strict, new_durable()) as guarded:
        task = await create_task(registry, stack_settings, new_owner(), receiver.url(path))
        (refused,) = await eventually(deliveries_in(guarded, task.task_id, "failed"), timeout=20, what="refusal")
    assert len(refused.attempts) == 1
    assert refused.attempts[0].status_code == 0
    assert "webhook_url" in refused.attempts[0].error
    # The permissive test dispatcher delivered the same event; the strict one sent nothing.
    await eventually(deliveries_in(dispatcher, task.task_id, "delivered"), timeout=20, what="delivery")
    assert receiver.requests(path, {refused.delivery_id}) == []
    assert len(receiver.requests(path)) >= 1


async def test_retries_and_missed_events_survive_a_restart(registry, receiver, stack_settings):
    """The retry lives in PostgreSQL and the position in the durable consumer: a new
    dispatcher (a restarted registry) sends the retry and events published while down."""
    durable = new_durable()
    path = f"/restart/{uuid.uuid4().hex[:8]}"
    receiver.script(path, [500])
    slow_retry = webhook_settings(stack_settings, webhook_retry_schedule_seconds="1.5")
    first = Running(slow_retry, durable)
    before = await first.__aenter__()
    try:
        task = await create_task(registry, stack_settings, new_owner(), receiver.url(path))
        (retrying,) = await eventually(deliveries_in(before, task.task_id, "retrying"), timeout=20, what="a retry")
    finally:
        await first.stop()
        await first.nc.close()
        await first.engine.dispose()
    assert [a.status_code for a in retrying.attempts] == [500]
    # Published while no dispatcher runs.
    missed_path = f"/missed/{uuid.uuid4().hex[:8]}"
    missed = await create_task(registry, stack_settings, new_owner(), receiver.url(missed_path))

    async with Running(webhook_settings(stack_settings), durable) as after:
        (delivered,) = await eventually(deliveries_in(after, task.task_id, "delivered"), timeout=20, what="the retry")
        (caught_up,) = await eventually(deliveries_in(after, missed.task_id, "delivered"), timeout=20, what="catch-up")
    assert delivered.delivery_id == retrying.delivery_id
    assert [a.status_code for a in delivered.attempts] == [500, 200]
    assert [r.status for r in receiver.requests(path, {delivered.delivery_id})] == [500, 200]
    assert len(receiver.requests(missed_path, {caught_up.delivery_id})) == 1


async def test_replicas_share_one_durable_and_keep_each_task_in_order(registry, receiver, stack_settings):
    """Two dispatchers on one durable (two registry replicas): every event is delivered
    exactly once, and each task's events arrive in order although retries interleave."""
    durable = new_durable()
    path = f"/replicas/{uuid.uuid4().hex[:8]}"
    receiver.script(path, [500])  # every delivery's first try fails
    settings = webhook_settings(stack_settings)
    async with Running(settings, durable) as first:
        async with Running(settings, durable, keep_consumer=True):
            owner = new_owner()
            tasks = [await create_task(registry, stack_settings, owner, receiver.url(path)) for _ in range(4)]
            md = internal(stack_settings, owner)
            for task in tasks:
                started = await registry.StartAttempt(
                    tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1),
                    metadata=md,
                    timeout=10,
                )
                assert started.proceed
                await registry.CompleteTask(
                    tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=started.attempt),
                    metadata=md,
                    timeout=10,
                )
            listings = [
                await eventually(
                    deliveries_in(first, task.task_id, "delivered", count=3),
                    timeout=30,
                    what="three deliveries",
                )
                for task in tasks
            ]
    for listed in listings:
        assert [d.event_type for d in listed] == ["task.created", "task.started", "task.completed"]
        ids = [d.delivery_id for d in listed]
        answered = [r for r in receiver.requests(path, set(ids)) if r.status == 200]
        # Exactly once each (no replica sent a delivery the other had sent), in order.
        assert [r.headers["webhook-id"] for r in answered] == ids
        assert all(len(d.attempts) == 2 for d in listed)


async def _messages_on(js, stream: str, subject: str) -> int:
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except NotFoundError:
        return 0
    return (info.state.subjects or {}).get(subject, 0)


async def test_only_the_events_of_tasks_with_a_webhook_reach_the_hooks_stream(
    dispatcher, registry, receiver, stack_settings
):
    """The dispatcher's consumer reads the hooks stream alone: a task without a webhook
    puts its events on the events stream only; one with a webhook on both, the same
    message (its event id is the delivery's)."""
    owner = new_owner()
    hooked = await create_task(registry, stack_settings, owner, receiver.url(f"/hooked/{uuid.uuid4().hex[:8]}"))
    plain = await create_task(registry, stack_settings, owner, "")
    await eventually(deliveries_in(dispatcher, hooked.task_id, "delivered"), timeout=20, what="the delivery")
    js = dispatcher.js

    async def published():
        counts = [
            await _messages_on(js, EVENTS_STREAM, event_subject(hooked.task_id)),
            await _messages_on(js, HOOKS_STREAM, hook_subject(hooked.task_id)),
            await _messages_on(js, EVENTS_STREAM, event_subject(plain.task_id)),
        ]
        return counts if all(counts) else None

    assert await eventually(published, timeout=10, what="the events") == [1, 1, 1]
    assert await _messages_on(js, HOOKS_STREAM, hook_subject(plain.task_id)) == 0
    event = await js.get_last_msg(EVENTS_STREAM, event_subject(hooked.task_id))
    hook = await js.get_last_msg(HOOKS_STREAM, hook_subject(hooked.task_id))
    assert hook.data == event.data


async def test_an_older_versions_consumer_is_drained_then_deleted(registry, receiver, stack_settings):
    """A deployment upgraded from a version whose dispatcher read the events stream: the
    events its consumer had not read yet are still delivered (sorted before any new event
    of their task), and that consumer is then deleted."""
    durable = new_durable()
    nc = await connect(stack_settings, name="test-legacy-consumer")
    js = nc.jetstream(timeout=5.0)
    config = ConsumerConfig(
        durable_name=durable,
        filter_subject="mediatasks.events.>",
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
    )
    await js.add_consumer(EVENTS_STREAM, config)
    try:
        path = f"/legacy/{uuid.uuid4().hex[:8]}"
        # Published while the old consumer is behind (no dispatcher runs).
        task = await create_task(registry, stack_settings, new_owner(), receiver.url(path))

        async def behind() -> bool:  # the relay publishes the committed event a moment later
            return (await js.consumer_info(EVENTS_STREAM, durable)).num_pending >= 1

        await eventually(behind, timeout=10, what="the event on the old consumer")
        async with Running(webhook_settings(stack_settings), durable) as running:
            (delivered,) = await eventually(
                deliveries_in(running, task.task_id, "delivered"), timeout=20, what="the legacy event"
            )
            async with running.engine.connect() as conn:
                sequence = (
                    await conn.execute(
                        select(WebhookDeliveryRow.sequence).where(
                            WebhookDeliveryRow.task_id == uuid.UUID(task.task_id),
                            WebhookDeliveryRow.consumer == durable,
                        )
                    )
                ).scalar_one()
        assert sequence < 0 and sequence - LEGACY_SEQUENCE_OFFSET > 0
        assert len(receiver.requests(path, {delivered.delivery_id})) == 1
        with pytest.raises(NotFoundError):
            await js.consumer_info(EVENTS_STREAM, durable)
    finally:
        with contextlib.suppress(Exception):
            await js.delete_consumer(EVENTS_STREAM, durable)
        await nc.close()
