"""Signed webhook delivery of task events, with retries that survive restarts.

Path of one event
    The registry publishes every task change as a ``TaskEvent`` on ``MEDIATASKS_EVENTS``,
    and the events of a task that has a ``webhook_url`` once more on ``MEDIATASKS_HOOKS``
    (the same message, from the same outbox transaction). A :class:`WebhookDispatcher`
    reads the hooks stream through ONE durable pull consumer
    (``webhooks`` by default) shared by every registry replica, so each event is handled
    once. For an event whose task has a ``webhook_url`` and whose type passes the task's
    ``webhook_events`` filter (empty: every type), it stores a ``webhook_deliveries`` row
    whose ``payload`` is the exact JSON body that will be sent, and only then acks the
    message. The row id (the ``webhook-id`` header) is derived from the consumer name and
    the event id, so an event JetStream delivers twice still makes one row.

Sending
    Every second (and at once after new rows, finished attempts or a redelivery) each
    replica claims due rows with ``FOR UPDATE SKIP LOCKED`` and leases them by moving
    ``next_attempt_at`` past the attempt's deadline; a replica that dies mid-attempt
    loses its lease and another replica retries. Retries are therefore found in the
    database, never only in memory.

Order
    A task's deliveries go out in event (stream sequence) order: a row is sent only when
    no earlier row of the same task is still pending or retrying, and only once its
    sequence is at or below the consumer's ack floor, i.e. once every earlier event of
    the stream has been stored by whichever replica fetched it. (A replica that dies
    holding unacked events therefore pauses sending for up to the consumer's AckWait.)

Signatures
    Standard Webhooks: ``webhook-id`` (stable across retries), ``webhook-timestamp``
    (unix seconds of this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
    "id.timestamp.body">``. The HMAC key: a secret of the form ``whsec_<base64>`` (the
    Standard Webhooks secret format) is base64-decoded and the bytes are the key, so
    existing verifier libraries work with it; any other secret is used as its UTF-8 bytes
    (what those libraries do only if given the raw key). ``X-Webhook-Signature:
    sha256=<hex HMAC-SHA256 of the body>`` is sent as well, keyed with the UTF-8 bytes of
    the secret exactly as given, so that clients which verify that header keep working.
    A task without a secret gets unsigned deliveries (``webhook-id`` and
    ``webhook-timestamp`` only): a per-process default key would be a secret nobody can
    verify with, and different on every replica.

Retries
    ``webhook_retry_schedule_seconds`` (jittered ±10%) between the
    ``webhook_max_attempts`` tries of one series, each bounded by
    ``webhook_timeout_seconds``. 2xx: ``delivered``. 4xx other than 408/429: ``failed`` at
    once. 408, 429, 3xx (redirects are never followed), 5xx, timeouts and connection
    errors: ``retrying`` until the attempts run out (then ``failed``); a 429/503
    ``Retry-After`` lengthens the wait. A target refused by the SSRF rules
    (:func:`mediatasks.core.inputs.resolve_url`, checked before every attempt; the POST then goes
    to that checked address) fails the
    delivery at once. :meth:`WebhookDispatcher.redeliver` starts a new series with the
    same body and ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
import httpx
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core import metrics, topology
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.inputs import fetch_client
from mediatasks.core.settings import Settings
from mediatasks.core.webhook_sender import (  # noqa: F401 - signing is part of this module's API
    SendResult,
    delivery_headers,
    is_retryable_status,
    legacy_signature,
    send_signed,
    signing_key,
    standard_signature,
)
from mediatasks.dialects.video_analysis import analysis_result
from mediatasks.registry.convert import utcnow
from mediatasks.registry.links import DownloadLinks
from mediatasks.registry.models import TaskRow, WebhookDeliveryRow
from mediatasks.registry.secrets import SecretBox
from mediatasks.registry.store import LOG_EVENT, parse_task_id, task_not_found

# Imported for their side effect: every typed result packed in a TaskOutput's ``Any``
# must be in the descriptor pool for the payload's JSON form.
from mediatasks.v1 import (  # noqa: F401
    audio_pb2,
    image_pb2,
    subtitle_pb2,
    tasks_pb2,
    video_pb2,
)

log = logging.getLogger(__name__)

DELIVERIES = WebhookDeliveryRow.__table__
TASKS = TaskRow.__table__

DEFAULT_DURABLE = "webhooks"
# The dispatcher's consumer reads the hooks stream: the events of tasks with a webhook.
HOOKS_FILTER = "mediatasks.hooks.>"

PENDING, RETRYING, DELIVERED, FAILED = "pending", "retrying", "delivered", "failed"
OPEN_STATES = (PENDING, RETRYING)

# Namespace of delivery ids: uuid5(namespace, "<consumer>/<event id>").
_DELIVERY_NAMESPACE = uuid.UUID("5f0e4a44-5b5e-4d0b-9a39-6a1f1c0b7e21")
_FETCH_BATCH = 64
_FETCH_WAIT_SECONDS = 1.0
# After a fetch that found less than a batch, the next one waits this long first: at a
# steady rate every event was one wake-up, pull request and ack round of its own (three a
# job, for tasks that almost never have a webhook); gathered, a moment's events are one.
# A delivery is stored (and sent) at most this much later.
GATHER_EVENTS_SECONDS = 0.05
_SWEEP_SECONDS = 1.0
# Rows stored from an older version's consumer of the events stream (drained once, at an
# upgrade) get their stream sequence plus this: below every hooks-stream sequence, so they
# are sent first and in their own order, and at or below any ordering gate.
LEGACY_SEQUENCE_OFFSET = -(1 << 62)
_MAX_IN_FLIGHT = 32
_ACK_WAIT_SECONDS = 15.0
# Extra lease beyond the attempt's own deadline before another replica may take a row.
_LEASE_MARGIN_SECONDS = 30.0
_MAX_RETRY_AFTER_SECONDS = 3600.0


# --- payload ----------------------------------------------------------------------------


def _as_dict(message: Message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _task_dict(task: tasks_pb2.Task) -> dict:
    try:
        return _as_dict(task)
    except (TypeError, json_format.Error):
        # A result type this process does not know: send the rest rather than nothing.
        slim = tasks_pb2.Task()
        slim.CopyFrom(task)
        type_url = slim.output.result.type_url
        slim.output.ClearField("result")
        body = _as_dict(slim)
        body.setdefault("output", {})["result_type_url"] = type_url
        return body


def build_payload(event: tasks_pb2.TaskEvent) -> bytes:
    """The JSON body of an event's webhook: the fields existing receivers parse, plus the
    whole task.

    ``{"event_type", "event_id", "task_id", "timestamp", "data": {"status", "type",
    "progress" (0-100), "stage", "attempt", "output_data" | "error", ...}, "user_id",
    "metadata", "task"}``; ``output_data`` holds the output plus ``<role>_url`` of each
    role's first file (``image_url``, ``video_url``...) and the task's ``metadata``.
    """
    task = event.task
    task_json = _task_dict(task)
    data: dict = {
        "status": tasks_pb2.Task.Status.Name(task.status).lower(),
        "type": task.task_type,
        "progress": task.progress,
        "stage": task.stage,
        "attempt": task.attempt,
        "max_attempts": task.max_attempts,
        "provider": task.provider,
    }
    if task.status == tasks_pb2.Task.COMPLETED:
        data["output_data"] = output = task_json.get("output", {})
        if not task.output.HasField("result"):
            # Too large for an event (see store.EVENT_RESULT_LIMIT_BYTES): fetch it.
            output["result_url"] = f"/api/v1/media/tasks/{task.task_id}/result"
        # Seed 001's receivers read output_data.image_url (video_url, transcript_url, ...):
        # the first file of each role, by the link that needs no key where there is one.
        for artifact in output.get("artifacts", []):
            key = f"{artifact.get('role') or 'file'}_url"
            output.setdefault(key, artifact.get("download_url") or artifact.get("url", ""))
        output.setdefault("metadata", task_json.get("metadata", {}))
    if task.HasField("error"):
        data["error"] = task_json["error"]
    if task.HasField("next_attempt_at"):
        data["next_attempt_at"] = task.next_attempt_at.ToJsonString()
    stamp = event.timestamp.ToJsonString() if event.HasField("timestamp") else _iso(utcnow())
    body = {
        "event_type": event.event_type,
        # Seed 000's receivers read "event" (and, for a finished analysis, "result" with its
        # score at the top); the other seeds read event_type.
        "event": event.event_type,
        "event_id": event.event_id,
        "task_id": event.task_id or task.task_id,
        "timestamp": stamp,
        "data": data,
        "user_id": task.owner,
        "metadata": json_format.MessageToDict(task.metadata),
        "task": task_json,
    }
    if (
        task.status == tasks_pb2.Task.COMPLETED
        and task.task_type == "video_analysis"
        and task.output.HasField("result")
    ):
        body["result"] = analysis_result(task_json)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wants_event(event_filter: Iterable[str] | None, event_type: str) -> bool:
    """Whether a task's ``webhook_events`` filter lets an event type through (empty: all).

    Entries match the full name (``task.completed``) or the short one (``completed``).
    ``task.log`` (log lines between progress events) goes only to a filter that names it:
    without one, receivers get what they always got.
    """
    names = {str(name).strip().lower() for name in (event_filter or ()) if str(name).strip()}
    if not names:
        return event_type != LOG_EVENT
    short = event_type.removeprefix("task.")
    return event_type in names or short in names


def delivery_id(consumer: str, event_id: str) -> uuid.UUID:
    """The delivery of one event by one consumer: the same on every redelivery of it."""
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{consumer}/{event_id}")


# --- attempt outcomes -------------------------------------------------------------------


def retry_delay(schedule: Sequence[float], attempts_made: int, retry_after: float | None = None) -> float:
    """Seconds before the next try after ``attempts_made`` tries of a series.

    The schedule's step for that try (its last step repeats), jittered ±10% so one
    receiver's backlog does not come back all at once; at least ``Retry-After``.
    """
    steps = list(schedule) or [60.0]
    base = steps[min(max(attempts_made, 1) - 1, len(steps) - 1)]
    delay = base * random.uniform(0.9, 1.1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, _MAX_RETRY_AFTER_SECONDS))
    return delay


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def delivery_not_found(delivery_id_text: str) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.NOT_FOUND,
        "WEBHOOK_DELIVERY_NOT_FOUND",
        f"no webhook delivery {delivery_id_text!r}",
    )


@dataclass(frozen=True)
class _Claim:
    """A due delivery this replica leased, with what sending it needs."""

    id: uuid.UUID
    task_id: uuid.UUID
    event_type: str
    payload: bytes
    series: int
    series_attempts: int
    url: str
    secret: str
    lease: dt.datetime


async def _ack_in_order(msgs: list) -> int:
    """Ack a fetched batch; how many acks may not have reached the server.

    The ack floor that orders sending must include the batch when this returns. The acks
    travel in order on one connection and the server applies a consumer's acks in order,
    so confirming the last one confirms the batch: one round trip per batch, not per event.
    """
    if not msgs:
        return 0
    try:
        for msg in msgs[:-1]:
            await msg.ack()
        await msgs[-1].ack_sync()
    except Exception:
        return len(msgs)
    return 0


class WebhookDispatcher:
    """Turns task events into stored, signed, retried webhook deliveries.

    ``durable`` names the JetStream consumer (and scopes the rows this dispatcher sends,
    lists and redelivers): every replica of one deployment must use the same name.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        js,
        settings: Settings,
        *,
        durable: str = DEFAULT_DURABLE,
        links: DownloadLinks | None = None,
    ) -> None:
        self.engine = engine
        # Download links in the payloads (made when the delivery is stored; they live
        # MEDIATASKS_PRESIGN_TTL_SECONDS from then). None: artifacts carry their paths only.
        self.links = links
        self.js = js
        self.settings = settings
        self.durable = durable
        self.secrets = SecretBox(settings)
        self._stopping = False
        self._wake = asyncio.Event()
        self._finished = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._gate = 0
        self._client: httpx.AsyncClient | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def kick(self) -> None:
        """Look for due deliveries now rather than at the next sweep."""
        self._wake.set()

    async def run(self) -> None:
        """Consume events and send deliveries until :meth:`stop`."""
        self._finished.clear()
        timeout = self.settings.webhook_timeout_seconds
        # The same client as input fetches: no proxies from the environment, no redirects,
        # no connection reused across host names (each POST goes to its checked address).
        self._client = fetch_client(httpx.Timeout(timeout))
        try:
            # A TaskGroup: should one loop ever crash, the other is cancelled with it.
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume_loop())
                group.create_task(self._send_loop())
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=timeout + 1.0)
            for task in list(self._in_flight):
                task.cancel()
            await self._client.aclose()
            self._finished.set()

    async def stop(self) -> None:
        """Stop fetching and claiming; let attempts in flight finish (bounded)."""
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._finished.wait(),
                timeout=self.settings.webhook_timeout_seconds + _FETCH_WAIT_SECONDS + 2.0,
            )

    # --- consuming events ---------------------------------------------------------------

    async def _ensure_consumer(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subject=HOOKS_FILTER,
            ack_policy=AckPolicy.EXPLICIT,
            # A new consumer starts at new events: its first start must not replay a week
            # of history to every webhook. The durable then remembers where it was, so
            # events published while every registry was down are still delivered.
            deliver_policy=DeliverPolicy.NEW,
            ack_wait=_ACK_WAIT_SECONDS,
            max_deliver=-1,
        )
        try:
            await self.js.consumer_info(topology.HOOKS_STREAM, self.durable)
        except NotFoundError:
            try:
                await self.js.add_consumer(topology.HOOKS_STREAM, config)
            except BadRequestError as exc:  # created concurrently by another replica
                log.debug("consumer %s: %s", self.durable, exc)

    async def _subscribe(self, stream: str):
        while not self._stopping:
            try:
                if stream == topology.HOOKS_STREAM:
                    await self._ensure_consumer()
                return await self.js.pull_subscribe_bind(durable=self.durable, stream=stream)
            except NotFoundError:
                if stream == topology.HOOKS_STREAM:
                    raise
                return None  # the legacy consumer is gone: another replica drained it
            except Exception as exc:  # NATS not reachable yet: keep trying
                log.warning("webhook consumer %s not ready: %s", self.durable, exc)
                metrics.ERRORS.labels("registry", "WEBHOOK_CONSUMER").inc()
                await asyncio.sleep(1.0)
        return None

    async def _drain_legacy(self) -> None:
        """Store the deliveries of events an older version's consumer (the same name, on
        the events stream) had not read yet, then delete that consumer. Their rows sort
        before every hooks-stream row of their task (see LEGACY_SEQUENCE_OFFSET)."""
        while not self._stopping:
            try:
                info = await self.js.consumer_info(topology.EVENTS_STREAM, self.durable)
            except NotFoundError:
                return
            except Exception as exc:  # NATS away: try again shortly
                log.debug("legacy webhook consumer unknown yet: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if not info.num_pending and not info.num_ack_pending:
                with contextlib.suppress(NotFoundError):
                    await self.js.delete_consumer(topology.EVENTS_STREAM, self.durable)
                log.info(
                    "drained and deleted the legacy webhook consumer %s on %s", self.durable, topology.EVENTS_STREAM
                )
                return
            await self._consume(topology.EVENTS_STREAM, until_idle=True)

    async def _consume_loop(self) -> None:
        await self._drain_legacy()
        await self._consume(topology.HOOKS_STREAM)

    async def _consume(self, stream: str, *, until_idle: bool = False) -> None:
        """Fetch and store events of ``stream`` until stopped (``until_idle``: until a fetch
        finds none)."""
        sub = await self._subscribe(stream)
        if sub is None:
            return
        offset = LEGACY_SEQUENCE_OFFSET if stream == topology.EVENTS_STREAM else 0
        log.info("webhook dispatcher consuming %s as %s", stream, self.durable)
        try:
            while not self._stopping:
                try:
                    msgs = await sub.fetch(_FETCH_BATCH, timeout=_FETCH_WAIT_SECONDS)
                except TimeoutError:  # nats.errors.TimeoutError is one too
                    if until_idle:
                        return
                    continue
                except Exception as exc:
                    # NATS restarting, or the consumer deleted: bind (or create) it again.
                    log.warning("fetching task events failed: %s", exc)
                    metrics.ERRORS.labels("registry", "WEBHOOK_FETCH").inc()
                    await asyncio.sleep(1.0)
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    if until_idle:
                        return
                    sub = await self._subscribe(stream)
                    if sub is None:
                        return
                    continue
                await self._handle(msgs, offset)
                if len(msgs) < _FETCH_BATCH:
                    await asyncio.sleep(GATHER_EVENTS_SECONDS)
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _handle(self, msgs: list, offset: int = 0) -> None:
        try:
            stored = await self._store_events(msgs, offset)
        except Exception as exc:  # the database is down: JetStream redelivers them
            log.warning("storing webhook deliveries failed: %s", exc)
            metrics.ERRORS.labels("registry", "WEBHOOK_STORE").inc()
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.nak(delay=1.0)
            await asyncio.sleep(1.0)
            return
        failed_acks = await _ack_in_order(msgs)
        if failed_acks:
            # Harmless: the redelivered event maps to the same delivery id.
            log.warning("%d task event acks failed; they will be redelivered", failed_acks)
        if stored:
            self.kick()

    async def _store_events(self, msgs: list, offset: int = 0) -> int:
        """Store a delivery row for each event that needs one; returns how many. A row's
        sequence is its message's stream sequence plus ``offset``."""
        candidates: list[tuple[int, tasks_pb2.TaskEvent, uuid.UUID]] = []
        for msg in msgs:
            try:
                event = tasks_pb2.TaskEvent.FromString(msg.data)
                task_id = uuid.UUID(event.task_id or event.task.task_id)
            except (DecodeError, ValueError):
                log.error("skipping an unreadable task event on %s", msg.subject)
                metrics.ERRORS.labels("registry", "WEBHOOK_BAD_EVENT").inc()
                continue
            # Most tasks have no webhook: the event itself says so, no query needed.
            if event.task.webhook_url:
                candidates.append((msg.metadata.sequence.stream + offset, event, task_id))
        if not candidates:
            return 0
        now = utcnow()
        async with self.engine.begin() as conn:
            tasks = {
                row.id: row
                for row in (
                    await conn.execute(
                        select(TASKS.c.id, TASKS.c.webhook_url, TASKS.c.webhook_events, TASKS.c.webhook_origin).where(
                            TASKS.c.id.in_({task_id for _, _, task_id in candidates})
                        )
                    )
                ).all()
            }
            rows = []
            for sequence, event, task_id in candidates:
                task = tasks.get(task_id)
                if task is None or not task.webhook_url:
                    continue  # deleted meanwhile
                if not wants_event(task.webhook_events, event.event_type):
                    continue
                if self.links is not None:
                    await self.links.fill_task(event.task, self.links.base_url(task.webhook_origin))
                rows.append(
                    {
                        "id": delivery_id(self.durable, event.event_id),
                        "task_id": task_id,
                        "event_type": event.event_type[:32],
                        "payload": build_payload(event),
                        "state": PENDING,
                        "attempts": [],
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                        "consumer": self.durable,
                        "sequence": sequence,
                        "series": 1,
                        "series_attempts": 0,
                    }
                )
            if rows:
                await conn.execute(pg_insert(DELIVERIES).values(rows).on_conflict_do_nothing(index_elements=["id"]))
        return len(rows)

    # --- sending --------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = _MAX_IN_FLIGHT - len(self._in_flight)
            if free > 0:
                try:
                    await self._dispatch_due(free)
                except Exception as exc:  # database down: the rows wait for the next sweep
                    log.warning("claiming due webhook deliveries failed: %s", exc)
                    metrics.ERRORS.labels("registry", "WEBHOOK_CLAIM").inc()
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=_SWEEP_SECONDS)

    async def _ordering_gate(self) -> int:
        """The stream sequence up to which every event has been stored (ack floor)."""
        try:
            info = await self.js.consumer_info(topology.HOOKS_STREAM, self.durable)
            self._gate = max(self._gate, int(info.ack_floor.stream_seq or 0))
        except Exception as exc:  # NATS away: the last floor seen is still true
            log.debug("webhook consumer info unavailable: %s", exc)
        return self._gate

    async def _dispatch_due(self, limit: int) -> int:
        gate = await self._ordering_gate()
        claims = await self._claim(limit, gate)
        for claim in claims:
            task = asyncio.create_task(self._attempt(claim), name=f"webhook-{claim.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._attempt_done)
        return len(claims)

    def _attempt_done(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a webhook attempt crashed: %r", task.exception())
            metrics.ERRORS.labels("registry", "WEBHOOK_ATTEMPT").inc()
        self.kick()

    async def _claim(self, limit: int, gate: int) -> list[_Claim]:
        now = utcnow()
        lease = now + dt.timedelta(seconds=self.settings.webhook_timeout_seconds + _LEASE_MARGIN_SECONDS)
        row, earlier = DELIVERIES.alias("d"), DELIVERIES.alias("e")
        earlier_open = exists().where(
            earlier.c.task_id == row.c.task_id,
            earlier.c.consumer == row.c.consumer,
            earlier.c.state.in_(OPEN_STATES),
            earlier.c.sequence < row.c.sequence,
        )
        query = (
            select(
                row.c.id,
                row.c.task_id,
                row.c.event_type,
                row.c.payload,
                row.c.series,
                row.c.series_attempts,
                TASKS.c.webhook_url,
                TASKS.c.webhook_secret,
            )
            .join(TASKS, TASKS.c.id == row.c.task_id)
            .where(
                row.c.consumer == self.durable,
                row.c.state.in_(OPEN_STATES),
                row.c.next_attempt_at <= now,
                row.c.sequence <= gate,
                ~earlier_open,
            )
            .order_by(row.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=row, skip_locked=True)
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return []
            await conn.execute(
                update(DELIVERIES).where(DELIVERIES.c.id.in_([r.id for r in rows])).values(next_attempt_at=lease)
            )
        return [
            _Claim(
                id=r.id,
                task_id=r.task_id,
                event_type=r.event_type,
                payload=r.payload,
                series=r.series,
                series_attempts=r.series_attempts,
                url=r.webhook_url,
                secret=self.secrets.open(r.webhook_secret),
                lease=lease,
            )
            for r in rows
        ]

    async def _post(self, claim: _Claim) -> SendResult:
        """One HTTP attempt (SSRF check, signed POST, deadline); never raises."""
        assert self._client is not None
        return await send_signed(
            self._client,
            claim.url,
            claim.payload,
            secret=claim.secret,
            msg_id=str(claim.id),
            timestamp=int(time.time()),
            settings=self.settings,
            timeout=self.settings.webhook_timeout_seconds,
        )

    async def _attempt(self, claim: _Claim) -> None:
        started_at = utcnow()
        started = time.perf_counter()
        result = await self._post(claim)
        duration = time.perf_counter() - started
        attempts_made = claim.series_attempts + 1
        next_attempt_at = None
        delay = 0.0
        if result.status_code and not result.error:
            state = DELIVERED
        elif result.retryable and attempts_made < self.settings.webhook_max_attempts:
            state = RETRYING
            delay = retry_delay(self.settings.webhook_retry_schedule(), attempts_made, result.retry_after)
            next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        else:
            state = FAILED
        attempt = {
            "timestamp": _iso(started_at),
            "status_code": result.status_code,
            "error": result.error,
            "duration_seconds": round(duration, 6),
            "series": claim.series,
            "attempt": attempts_made,
        }
        async with self.engine.begin() as conn:
            # The attempt is history whatever happens to the row's state meanwhile.
            await conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id == claim.id)
                .values(attempts=DELIVERIES.c.attempts.op("||")(literal([attempt], JSONB)))
            )
            # Fenced by the lease: a redelivery by hand (new series) or another replica
            # that took over an expired lease owns the state now.
            await conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.id == claim.id,
                    DELIVERIES.c.series == claim.series,
                    DELIVERIES.c.next_attempt_at == claim.lease,
                )
                .values(
                    state=state,
                    next_attempt_at=next_attempt_at,
                    series_attempts=attempts_made,
                    updated_at=utcnow(),
                )
            )
        metrics.WEBHOOK_DELIVERIES.labels(state).inc()
        log.info(
            "webhook %s (%s, task %s) to %s: attempt %d -> %s %s",
            claim.id,
            claim.event_type,
            claim.task_id,
            urlsplit(claim.url).hostname,
            attempts_made,
            state,
            result.error or result.status_code,
        )
        if state == RETRYING and delay < _SWEEP_SECONDS:
            asyncio.get_running_loop().call_later(delay, self.kick)

    # --- reads and redelivery -------------------------------------------------------------

    async def list_deliveries(self, task_id: str, owner: str | None) -> tasks_pb2.ListWebhookDeliveriesResponse:
        """A task's deliveries in event order; another owner's task is "not found"."""
        task_uuid = parse_task_id(task_id)
        async with self.engine.connect() as conn:
            task = (await conn.execute(select(TASKS.c.owner).where(TASKS.c.id == task_uuid))).first()
            if task is None or (owner is not None and task.owner != owner):
                raise task_not_found(task_id)
            rows = (
                await conn.execute(
                    select(DELIVERIES)
                    .where(DELIVERIES.c.task_id == task_uuid, DELIVERIES.c.consumer == self.durable)
                    .order_by(DELIVERIES.c.sequence, DELIVERIES.c.created_at)
                )
            ).all()
        response = tasks_pb2.ListWebhookDeliveriesResponse()
        response.deliveries.extend(_delivery_proto(row) for row in rows)
        return response

    async def get_delivery(self, delivery_id: str, owner: str | None) -> tasks_pb2.WebhookDelivery:
        """One delivery with its attempts; another owner's is "not found"."""
        try:
            key = uuid.UUID(delivery_id)
        except (ValueError, AttributeError, TypeError):
            raise delivery_not_found(delivery_id) from None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(DELIVERIES, TASKS.c.owner.label("task_owner"))
                    .join(TASKS, TASKS.c.id == DELIVERIES.c.task_id)
                    .where(DELIVERIES.c.id == key, DELIVERIES.c.consumer == self.durable)
                )
            ).first()
        if row is None or (owner is not None and row.task_owner != owner):
            raise delivery_not_found(delivery_id)
        return _delivery_proto(row)

    async def count_by_state(self, owner: str | None) -> dict[str, int]:
        """Deliveries of ``owner``'s tasks (every owner's for None) by state."""
        query = (
            select(DELIVERIES.c.state, func.count())
            .join(TASKS, TASKS.c.id == DELIVERIES.c.task_id)
            .where(DELIVERIES.c.consumer == self.durable)
            .group_by(DELIVERIES.c.state)
        )
        if owner is not None:
            query = query.where(TASKS.c.owner == owner)
        async with self.engine.connect() as conn:
            return {state: count for state, count in (await conn.execute(query)).all()}

    async def redeliver(self, delivery_id: str, owner: str | None) -> tasks_pb2.WebhookDelivery:
        """Send a delivery again: a new series of attempts, the same body and webhook-id."""
        try:
            key = uuid.UUID(delivery_id)
        except (ValueError, AttributeError, TypeError):
            raise delivery_not_found(delivery_id) from None
        now = utcnow()
        async with self.engine.begin() as conn:
            found = (
                await conn.execute(
                    select(DELIVERIES.c.id, TASKS.c.owner)
                    .join(TASKS, TASKS.c.id == DELIVERIES.c.task_id)
                    .where(DELIVERIES.c.id == key, DELIVERIES.c.consumer == self.durable)
                    .with_for_update(of=DELIVERIES)
                )
            ).first()
            if found is None or (owner is not None and found.owner != owner):
                raise delivery_not_found(delivery_id)
            row = (
                await conn.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id == key)
                    .values(
                        state=PENDING,
                        next_attempt_at=now,
                        series=DELIVERIES.c.series + 1,
                        series_attempts=0,
                        updated_at=now,
                    )
                    .returning(DELIVERIES)
                )
            ).one()  # the delivery is locked in this transaction, so the update returns it
        log.info("webhook %s redelivery requested (series %d)", key, row.series)
        self.kick()
        return _delivery_proto(row)


def _delivery_proto(row) -> tasks_pb2.WebhookDelivery:
    delivery = tasks_pb2.WebhookDelivery(
        delivery_id=str(row.id),
        task_id=str(row.task_id),
        event_type=row.event_type,
        state=row.state,
    )
    for entry in row.attempts or []:
        attempt = delivery.attempts.add(
            status_code=int(entry.get("status_code") or 0),
            error=str(entry.get("error") or ""),
            duration_seconds=float(entry.get("duration_seconds") or 0.0),
        )
        if entry.get("timestamp"):
            attempt.timestamp.FromJsonString(entry["timestamp"])
    if row.next_attempt_at is not None and row.state in OPEN_STATES:
        delivery.next_attempt_at.FromDatetime(row.next_attempt_at)
    return delivery
