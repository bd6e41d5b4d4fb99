"""Relays outbox rows to JetStream.

Two ways. The rows a task store's transaction wrote are handed to the relay once it
committed (see .handoff): published at once, so a new job reaches its worker within a
round trip, and deleted in groups. And rounds over the table, woken by the rest of the
registry's writes, by a handed row that was not published, and on a slow timer (so rows
left by a crashed replica are never stranded). A round's rows are claimed with ``FOR
UPDATE SKIP LOCKED``, so several registry replicas share the work without waiting on each
other. Every row is published with ``Nats-Msg-Id``, so a relay that publishes and then
dies before deleting its rows, or a row published both ways, never duplicates a job.

Each row is published on its own: a row that fails affects only itself. A failure that
may pass (NATS restarting, a timeout) leaves the row for the next round; a refusal that
never will (a payload over the server's limit, a subject no stream takes) parks the row
with its reason (``parked_at``): it is counted in ``mediatasks_outbox_parked_total``,
reported by ``/health``, and when it carried a job, its task fails with
``JOB_UNPUBLISHABLE`` instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import PubAck
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core import metrics
from mediatasks.core.batch_publish import BatchPublisher
from mediatasks.core.db import autocommit
from mediatasks.registry.convert import utcnow
from mediatasks.registry.direct_sql import DirectStatement
from mediatasks.registry.models import OutboxRow
from mediatasks.v1 import tasks_pb2

log = logging.getLogger(__name__)
OUTBOX = OutboxRow.__table__
_BATCH = 500
# One text for any number of rows: an IN list was a statement compiled (and never
# prepared) afresh for every batch size.
_DELETE_PUBLISHED = text("DELETE FROM outbox WHERE id = ANY(CAST(:ids AS bigint[]))")
# Rows handed off and published (msg_id is indexed; see migration 0011).
_DELETE_HANDED = DirectStatement(text("DELETE FROM outbox WHERE msg_id = ANY(CAST(:msg_ids AS text[]))"))
# Handed rows waiting for their publish, and published rows waiting for their delete, at
# most; more are left to the rounds (an outage must not grow the registry's memory).
HANDED_LIMIT = 10_000
# The deletes of published rows are grouped: one statement per this long at most, where a
# statement per publish was two or three a job at a steady 100 submits/s. A row kept that
# much longer costs nothing: a round that meets it publishes it again and JetStream drops
# the copy (Nats-Msg-Id).
DELETE_GROUP_SECONDS = 0.05
# How old a row must be for a round on the timer to take it: younger ones are still on
# their way through a relay's hand-off (published, their delete grouped), and a round
# every MEDIATASKS_OUTBOX_POLL_SECONDS published them a second time for JetStream to drop.
# A round woken for a reason (a failed publish, the reconciler, a start) takes them all.
SWEEP_AFTER_SECONDS = 2.0
# The oldest rows still to publish (written before :before, if given), deleted (and so
# locked) by this transaction. RETURNING keeps no order: the caller sorts by id.
_CLAIM_BATCH = text(
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE parked_at IS NULL"
    " AND (CAST(:before AS timestamptz) IS NULL OR created_at < CAST(:before AS timestamptz)) ORDER BY id"
    f" LIMIT {_BATCH} FOR UPDATE SKIP LOCKED) RETURNING id, subject, msg_id, payload"
)


class _NotAllStored(Exception):
    """Rolls the claiming delete back: some rows must stay."""


JOB_PREFIX = "mediatasks.jobs."
HOOK_PREFIX = "mediatasks.hooks."
# How long a batch's acknowledgements may take (a NATS node failing over loses them).
PUBLISH_TIMEOUT_SECONDS = 10.0

# Told a task id and why its job can never be published.
UnpublishableJob = Callable[[str, str], Awaitable[Any]]


def refused_for_good(error: BaseException) -> str | None:
    """Why JetStream will never take this message, or None when trying again may work."""
    if isinstance(error, nats.errors.MaxPayloadError):
        return f"the message is larger than the server's max_payload ({error})"
    if isinstance(error, nats.js.errors.NoStreamResponseError):
        return None  # no stream answered: JetStream recovering after a restart
    if isinstance(error, nats.js.errors.ServiceUnavailableError):
        return None
    if isinstance(error, nats.js.errors.APIError) and error.code in (400, 413):
        return f"JetStream refused the message: {error.description or error}"
    return None


def kind_of(subject: str) -> str:
    """The ``kind`` label of a row: a job, an event, or an event's copy for webhooks."""
    if subject.startswith(JOB_PREFIX):
        return "job"
    return "hook" if subject.startswith(HOOK_PREFIX) else "event"


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        nc: NATS,
        *,
        poll_seconds: float,
        on_unpublishable_job: UnpublishableJob | None = None,
    ) -> None:
        self.engine = engine
        self._autocommit = autocommit(engine)
        self.publisher = BatchPublisher(nc)
        self.poll_seconds = poll_seconds
        self.on_unpublishable_job = on_unpublishable_job
        self._wake = asyncio.Event()
        self._handed: list[dict] = []
        self._handed_wake = asyncio.Event()
        self._published: list[str] = []  # msg_ids of handed rows JetStream stored
        self._published_wake = asyncio.Event()
        self._stopping = False
        self._last_lag_check = 0.0

    def kick(self) -> None:
        """Run a round over the table soon."""
        self._wake.set()

    def hand_off(self, rows: list[dict]) -> None:
        """Publish these committed outbox rows (subject, msg_id, payload) soon, in order."""
        if len(self._handed) + len(rows) > HANDED_LIMIT:
            self.kick()  # they are in the table: the round takes them
            return
        self._handed.extend(rows)
        self._handed_wake.set()

    async def run(self) -> None:
        await asyncio.gather(self._run_rounds(), self._run_handed(), self._run_deletes())

    async def _run_handed(self) -> None:
        while not self._stopping:
            await self._handed_wake.wait()
            self._handed_wake.clear()
            # Everything handed while the last batch was out goes in the next.
            rows, self._handed = self._handed, []
            if not rows:
                continue
            try:
                await self.relay_handed(rows)
            except Exception as exc:  # NATS or the database down: the rows are in the table
                log.warning("outbox: %d handed rows left to the relay's round (%s)", len(rows), exc)
                metrics.ERRORS.labels("outbox", "HANDED").inc()
                self.kick()

    async def relay_handed(self, rows: Sequence[dict]) -> None:
        """Publish ``rows``; the stored ones are deleted with the next group of deletes
        (:meth:`delete_published`). One that was not stored stays in the table, for the
        round the relay then runs, which retries it or parks it."""
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            messages = [(row["subject"], row["payload"], {"Nats-Msg-Id": row["msg_id"]}) for row in batch]
            outcomes = await self.publisher.publish(messages, PUBLISH_TIMEOUT_SECONDS)
            stored = [
                row for row, outcome in zip(batch, outcomes, strict=True) if not isinstance(outcome, BaseException)
            ]
            for row in stored:
                metrics.OUTBOX_PUBLISHED.labels(kind_of(row["subject"])).inc()
            if len(self._published) + len(stored) <= HANDED_LIMIT:
                self._published.extend(row["msg_id"] for row in stored)
                self._published_wake.set()
            if len(stored) < len(batch):
                self.kick()

    async def _run_deletes(self) -> None:
        while not self._stopping:
            await self._published_wake.wait()
            await asyncio.sleep(DELETE_GROUP_SECONDS)  # the publishes of the next moments join
            self._published_wake.clear()
            try:
                await self.delete_published()
            except Exception as exc:  # the database down: the rows stay for the rounds
                log.warning("outbox: published rows not deleted yet (%s)", exc)
                metrics.ERRORS.labels("outbox", "DELETE").inc()
                await asyncio.sleep(min(self.poll_seconds, 1.0))
                self._published_wake.set()  # and again, with what was published meanwhile
        with contextlib.suppress(Exception):  # stopping: what is left, the next rounds take
            await self.delete_published()

    async def delete_published(self) -> None:
        """Delete the handed rows published so far, with one statement per batch."""
        while self._published:
            msg_ids, self._published = self._published[:_BATCH], self._published[_BATCH:]
            try:
                async with self._autocommit.connect() as conn:
                    await _DELETE_HANDED.run(conn, {"msg_ids": msg_ids})
            except BaseException:
                self._published[:0] = msg_ids  # tried again with the next group
                raise

    async def _run_rounds(self) -> None:
        on_timer = False  # the first round takes every row: they may be a dead replica's
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.relay_once(settled_only=on_timer)
            except Exception as exc:  # DB or NATS down: keep the rows, try again shortly
                log.warning("outbox relay failed: %s", exc)
                metrics.ERRORS.labels("outbox", "RELAY").inc()
                published = 0
                await asyncio.sleep(min(self.poll_seconds, 1.0))
            if published >= _BATCH:
                continue  # more waiting: keep draining
            await self._update_lag()
            on_timer = False
            if not self._wake.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    on_timer = True

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._handed_wake.set()
        self._published_wake.set()

    async def relay_once(self, *, settled_only: bool = False) -> int:
        """Publish one batch (of rows older than SWEEP_AFTER_SECONDS only, when
        ``settled_only``); returns how many rows were published or parked.

        The batch is claimed by deleting it (locked until the commit, so other replicas
        skip it), published, and the delete committed: three round trips a round, and no
        list of ids sent back. When any message was not stored, the delete is rolled back
        and the rows settled one by one: the published ones deleted, the refused ones
        parked, the others left for the next round.
        """
        parked: list[tuple[Any, str]] = []
        try:
            async with self.engine.begin() as conn:
                before = utcnow() - dt.timedelta(seconds=SWEEP_AFTER_SECONDS) if settled_only else None
                claimed = await conn.execute(_CLAIM_BATCH, {"before": before})
                rows = sorted(claimed.all(), key=lambda row: row.id)
                if not rows:
                    return 0
                outcomes = await self._publish(rows)
                failed = [(row, o) for row, o in zip(rows, outcomes, strict=True) if isinstance(o, BaseException)]
                if failed:
                    raise _NotAllStored
        except _NotAllStored:
            pass
        published = [row for row, outcome in zip(rows, outcomes, strict=True) if not isinstance(outcome, BaseException)]
        if failed:
            async with self.engine.begin() as conn:
                if published:
                    await conn.execute(_DELETE_PUBLISHED, {"ids": [row.id for row in published]})
                for row, error in failed:
                    if isinstance(error, asyncio.CancelledError):
                        raise error
                    reason = refused_for_good(error)
                    if reason is None:
                        continue  # left for the next round; the others are not held back
                    await conn.execute(
                        update(OUTBOX)
                        .where(OUTBOX.c.id == row.id)
                        .values(parked_at=utcnow(), park_reason=reason[:2000])
                    )
                    parked.append((row, reason))
        for row in published:
            metrics.OUTBOX_PUBLISHED.labels(kind_of(row.subject)).inc()
        await self._after_parking(parked)
        transient = len(failed) - len(parked)
        if transient:
            log.warning("outbox: %d of %d messages not published yet (%s)", transient, len(rows), failed[0][1])
            metrics.ERRORS.labels("outbox", "PUBLISH").inc(transient)
            if not published and not parked:
                raise RuntimeError(f"nothing published: {failed[0][1]!r}")
        return len(published) + len(parked)

    async def _publish(self, rows: Sequence[Any]) -> list[PubAck | BaseException]:
        # JetStream stores them in the order sent; per-task order only matters within a
        # task, whose rows come from serialised transactions.
        messages = [(row.subject, row.payload, {"Nats-Msg-Id": row.msg_id}) for row in rows]
        return await self.publisher.publish(messages, PUBLISH_TIMEOUT_SECONDS)

    async def _after_parking(self, parked: Sequence[tuple[Any, str]]) -> None:
        for row, reason in parked:
            kind = kind_of(row.subject)
            metrics.OUTBOX_PARKED.labels(kind).inc()
            log.error("outbox row %s (%s %s) parked: %s", row.id, kind, row.msg_id, reason)
            if kind == "job" and self.on_unpublishable_job is not None:
                task_id = tasks_pb2.Job.FromString(row.payload).task_id
                try:
                    await self.on_unpublishable_job(task_id, reason)
                except Exception:  # the reconciler meets the task again later
                    log.exception("failing task %s after its job was parked", task_id)
                    metrics.ERRORS.labels("outbox", "PARKED_TASK").inc()

    async def parked_summary(self) -> tuple[int, str]:
        """How many rows are parked, and the newest one's reason."""
        async with self.engine.connect() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.parked_at.is_not(None)))
            ).scalar_one()
            reason = ""
            if count:
                reason = (
                    await conn.execute(
                        select(OUTBOX.c.park_reason)
                        .where(OUTBOX.c.parked_at.is_not(None))
                        .order_by(OUTBOX.c.parked_at.desc())
                        .limit(1)
                    )
                ).scalar_one()
        return int(count), reason or ""

    async def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < 5.0:
            return
        self._last_lag_check = now
        async with self.engine.connect() as conn:
            oldest = (
                await conn.execute(select(func.min(OUTBOX.c.created_at)).where(OUTBOX.c.parked_at.is_(None)))
            ).scalar_one()
        metrics.OUTBOX_LAG.set((utcnow() - oldest).total_seconds() if oldest else 0.0)
