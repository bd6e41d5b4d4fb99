"""Daily schedules of background tasks (seed 004's ``analytics/schedule-daily``).

A schedule is a row of ``schedules``: owner, task type, payload and a UTC time of day.
The scheduler (a loop in every registry replica) takes due rows with ``FOR UPDATE SKIP
LOCKED``, so two replicas never take the same one, creates the task and moves
``next_run_at`` to the next day, in that order. The task's idempotency key is the schedule
and the run's time, so a replica that dies between the two steps only makes the next
replica find the same task, not a second one. A registry that was down for days makes one
run when it is back, not one per missed day.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core import metrics
from mediatasks.core.errors import MediaTasksError, not_found
from mediatasks.registry.models import ScheduleRow

log = logging.getLogger(__name__)
SCHEDULES = ScheduleRow.__table__
# How many due schedules one round takes.
_BATCH = 50

# Creates one run's task: (owner, task_type, name, payload, priority, idempotency key) -> task id.
CreateRun = Callable[[str, str, str, dict, str, str], Awaitable[str]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def next_run(hour: int, minute: int, after: dt.datetime) -> dt.datetime:
    """The first hour:minute UTC strictly after ``after``."""
    candidate = after.astimezone(dt.UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    while candidate <= after:
        candidate += dt.timedelta(days=1)
    return candidate


class ScheduleStore:
    """The ``schedules`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(
        self,
        *,
        owner: str,
        name: str,
        task_type: str,
        payload: dict[str, Any],
        priority: str,
        hour: int,
        minute: int,
        run_now: bool,
    ) -> Any:
        now = _now()
        first = now if run_now else next_run(hour, minute, now)
        values = {
            "owner": owner,
            "name": name,
            "task_type": task_type,
            "payload": payload,
            "priority": priority,
            "hour_utc": hour,
            "minute": minute,
            "next_run_at": first,
        }
        statement = (
            pg_insert(SCHEDULES)
            .values(id=uuid.uuid4(), created_at=now, **values)
            .on_conflict_do_update(constraint="uq_schedules_owner_name", set_=values)
            .returning(SCHEDULES)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).one()

    async def list(self, owner: str) -> list[Any]:
        query = sa.select(SCHEDULES).where(SCHEDULES.c.owner == owner).order_by(SCHEDULES.c.created_at)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def delete(self, owner: str, schedule_id: str) -> Any:
        try:
            key = uuid.UUID(schedule_id)
        except ValueError:
            raise not_found("SCHEDULE_NOT_FOUND", f"no schedule {schedule_id!r}") from None
        statement = sa.delete(SCHEDULES).where(SCHEDULES.c.id == key, SCHEDULES.c.owner == owner).returning(SCHEDULES)
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise not_found("SCHEDULE_NOT_FOUND", f"no schedule {schedule_id!r}")
        return row


class DailyScheduler:
    """Runs due schedules every ``interval`` seconds until stopped."""

    def __init__(self, engine: AsyncEngine, create_run: CreateRun, *, interval: float = 30.0) -> None:
        self.engine = engine
        self.create_run = create_run
        self.interval = interval
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a DB hiccup: next round
                log.warning("scheduler round failed: %s", exc)
                metrics.ERRORS.labels("scheduler", "ROUND").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    async def stop(self) -> None:
        self._stop.set()

    async def tick(self) -> int:
        """One round: run every due schedule once; how many ran."""
        now = _now()
        ran = 0
        async with self.engine.begin() as conn:
            due = (
                await conn.execute(
                    sa.select(SCHEDULES)
                    .where(SCHEDULES.c.next_run_at <= now)
                    .order_by(SCHEDULES.c.next_run_at)
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in due:
                key = f"schedule:{row.id.hex}:{row.next_run_at.astimezone(dt.UTC).isoformat()}"
                try:
                    task_id = await self.create_run(
                        row.owner, row.task_type, row.name, dict(row.payload or {}), row.priority, key
                    )
                except MediaTasksError as exc:  # e.g. the type is no longer declared
                    log.warning("schedule %s (%s) could not run: %s", row.name, row.owner, exc)
                    task_id = ""
                await conn.execute(
                    sa.update(SCHEDULES)
                    .where(SCHEDULES.c.id == row.id)
                    .values(
                        next_run_at=next_run(row.hour_utc, row.minute, now),
                        last_run_at=now,
                        last_task_id=task_id,
                    )
                )
                ran += 1
        return ran
