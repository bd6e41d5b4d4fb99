"""Relays outbox rows to JetStream.

Woken right after every commit that wrote rows (so a new job reaches its worker within a
round trip) and on a slow timer (so rows left by a crashed replica are never stranded).
Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several registry replicas share the
work without waiting on each other, and published with ``Nats-Msg-Id`` so a relay that
publishes and then dies before deleting its rows never duplicates a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core import metrics
from mediatasks.registry.convert import utcnow
from mediatasks.registry.models import OutboxRow

log = logging.getLogger(__name__)
OUTBOX = OutboxRow.__table__
_BATCH = 500


class OutboxRelay:
    def __init__(self, engine: AsyncEngine, js, *, poll_seconds: float) -> None:
        self.engine = engine
        self.js = js
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_lag_check = 0.0

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.relay_once()
            except Exception as exc:  # DB or NATS down: keep the rows, try again shortly
                log.warning("outbox relay failed: %s", exc)
                metrics.ERRORS.labels("outbox", "RELAY").inc()
                published = 0
                await asyncio.sleep(min(self.poll_seconds, 1.0))
            if published >= _BATCH:
                continue  # more waiting: keep draining
            await self._update_lag()
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(OUTBOX.c.id, OUTBOX.c.subject, OUTBOX.c.msg_id, OUTBOX.c.payload)
                    .order_by(OUTBOX.c.id)
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Publish concurrently; JetStream orders by arrival, and per-task event order
            # only matters within one task, whose rows come from serialised transactions.
            await asyncio.gather(
                *(self.js.publish(row.subject, row.payload, headers={"Nats-Msg-Id": row.msg_id}) for row in rows)
            )
            await conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_([row.id for row in rows])))
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels("job" if row.subject.startswith("mediatasks.jobs.") else "event").inc()
        return len(rows)

    async def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < 5.0:
            return
        self._last_lag_check = now
        async with self.engine.connect() as conn:
            oldest = (await conn.execute(select(func.min(OUTBOX.c.created_at)))).scalar_one()
        metrics.OUTBOX_LAG.set((utcnow() - oldest).total_seconds() if oldest else 0.0)
