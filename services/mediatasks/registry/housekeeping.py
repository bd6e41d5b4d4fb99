"""Scheduled clean-up: expired tasks and their artifacts, uploads no live task uses, the
result cache's bounds; and the artifact store's size for /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core import metrics, topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.settings import Settings
from mediatasks.registry import rollups
from mediatasks.registry.convert import utcnow
from mediatasks.registry.models import ExpiredTaskRow, ResultCacheRow, TaskRow
from mediatasks.registry.uploads import UploadSessions
from mediatasks.v1 import tasks_pb2

log = logging.getLogger(__name__)
TASKS = TaskRow.__table__
CACHE = ResultCacheRow.__table__
TOMBSTONES = ExpiredTaskRow.__table__
_BATCH = 500
_QUEUE_GAUGE_SECONDS = 5.0


class Housekeeper:
    def __init__(
        self,
        engine: AsyncEngine,
        artifacts: ArtifactStore,
        settings: Settings,
        *,
        interval: float = 60.0,
        uploads: UploadSessions | None = None,
    ):
        self.engine = engine
        self.artifacts = artifacts
        self.settings = settings
        self.interval = interval
        self.uploads = uploads
        self._seen_queues: set[tuple[str, str]] = set()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        last_sweep = last_usage = -1e9
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                await self.observe_queues()
                if loop.time() - last_sweep >= self.interval:
                    last_sweep = loop.time()
                    await self.sweep()
                if loop.time() - last_usage >= self.settings.store_usage_interval_seconds:
                    last_usage = loop.time()
                    metrics.ARTIFACT_STORE_BYTES.set(await self.artifacts.usage())
            except Exception as exc:  # a DB hiccup: try again next round
                log.warning("housekeeping failed: %s", exc)
                metrics.ERRORS.labels("housekeeping", "SWEEP").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=_QUEUE_GAUGE_SECONDS)

    async def observe_queues(self) -> None:
        """Queue depth by task type and priority, for /metrics (and the dashboard)."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(TASKS.c.task_type, TASKS.c.priority, func.count())
                    .where(TASKS.c.status == "QUEUED")
                    .group_by(TASKS.c.task_type, TASKS.c.priority)
                )
            ).all()
        depth = {(task_type, priority): count for task_type, priority, count in rows}
        # The media types always, the types workers declared once seen (back to 0 when
        # their queue empties, rather than keeping their last depth).
        labels = {(t, p) for t in topology.TASK_TYPES for p in topology.PRIORITIES} | set(depth) | self._seen_queues
        self._seen_queues = labels
        for task_type, priority in labels:
            metrics.QUEUE_DEPTH.labels(task_type, priority).set(depth.get((task_type, priority), 0))

    async def stop(self) -> None:
        self._stop.set()

    async def sweep(self) -> dict[str, int]:
        """One round; returns what it removed (tasks, artifacts, cache entries)."""
        removed = {"tasks": 0, "artifacts": 0, "cache_entries": 0, "tombstones": 0, "uploads": 0}
        while True:
            purged, artifact_ids = await self._purge_expired_batch()
            if artifact_ids:
                await self.artifacts.delete_many(artifact_ids)
            removed["tasks"] += purged
            removed["artifacts"] += len(artifact_ids)
            if purged < _BATCH:
                break
        removed["cache_entries"] = await self._trim_cache()
        removed["tombstones"] = await self._drop_old_tombstones()
        if self.uploads is not None:
            removed["uploads"] = await self.uploads.expire()
            metrics.UPLOADS_EXPIRED.inc(removed["uploads"])
        if any(removed.values()):
            log.info("housekeeping removed %s", removed)
        return removed

    async def _purge_expired_batch(self) -> tuple[int, list[str]]:
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(TASKS.c.id, TASKS.c.owner, TASKS.c.expires_at, TASKS.c.output, TASKS.c.cache_hit)
                    .where(TASKS.c.expires_at <= utcnow())
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0, []
            artifact_ids: list[str] = []
            for row in rows:
                # A cache hit points at another task's artifacts: those go with that task.
                if row.output and not row.cache_hit:
                    output = tasks_pb2.TaskOutput.FromString(row.output)
                    artifact_ids.extend(a.artifact_id for a in output.artifacts)
            # Expired stays expired: a tombstone answers 410 once the row is gone.
            await conn.execute(
                pg_insert(TOMBSTONES)
                .values([{"id": row.id, "owner": row.owner, "expired_at": row.expires_at} for row in rows])
                .on_conflict_do_nothing(index_elements=["id"])
            )
            ids = [row.id for row in rows]
            # Expired terminal tasks leave the statistics rollups in the same transaction.
            await rollups.take_out(conn, ids)
            await conn.execute(delete(TASKS).where(TASKS.c.id.in_(ids)))
        return len(rows), artifact_ids

    async def _drop_old_tombstones(self) -> int:
        cutoff = utcnow() - dt.timedelta(seconds=self.settings.tombstone_ttl_seconds)
        async with self.engine.begin() as conn:
            dropped = await conn.execute(delete(TOMBSTONES).where(TOMBSTONES.c.expired_at <= cutoff))
        return dropped.rowcount or 0

    async def _trim_cache(self) -> int:
        async with self.engine.begin() as conn:
            expired = await conn.execute(delete(CACHE).where(CACHE.c.expires_at <= utcnow()))
            removed = expired.rowcount or 0
            count = (await conn.execute(select(func.count()).select_from(CACHE))).scalar_one()
            excess = count - self.settings.result_cache_max_entries
            if excess > 0:
                oldest = select(CACHE.c.cache_key).order_by(CACHE.c.created_at).limit(excess).scalar_subquery()
                trimmed = await conn.execute(delete(CACHE).where(CACHE.c.cache_key.in_(oldest)))
                removed += trimmed.rowcount or 0
        return removed
