"""/statistics from the incremental rollups answers what the live aggregate over the
window's tasks answers: counts, statuses, costs and means exactly, p95 within the
histogram's bins; after a roll, with tasks not rolled yet, across the window's edge in the
middle of a bucket, after a retry by hand, a delete, the purge and deleting finished
tasks, and with two roll loops racing. The roll is called directly (no waiting)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import uuid
from typing import Any

import pytest
from mediatasks.core.db import create_engine
from mediatasks.registry import rollups
from mediatasks.registry.convert import PRIORITY_RANK, utcnow
from mediatasks.registry.housekeeping import Housekeeper
from mediatasks.registry.models import TaskRow
from mediatasks.registry.store import TaskStore, TaskTypeStore
from mediatasks.v1 import common_pb2, tasks_pb2
from sqlalchemy import Float, cast, func, insert, select, text, update

pytestmark = pytest.mark.asyncio(loop_scope="session")
TASKS = TaskRow.__table__
# Types no test worker serves (a retried task's job must stay unclaimed).
TYPES = ("video_caption", "video_generation", "video_analysis")
PROVIDERS = ("local", "openai", "")


@pytest.fixture()
async def engine(registry_service, stack_settings):
    engine = create_engine(stack_settings)
    yield engine
    await engine.dispose()


@pytest.fixture()
def store(engine, stack_settings) -> TaskStore:
    return TaskStore(engine, stack_settings)


@pytest.fixture()
async def owner(engine):
    """An owner of this test alone; its tasks (active ones count against the session's
    per-type capacity) and rollup rows are removed afterwards, no roll in between."""
    name = f"rollups-{uuid.uuid4().hex[:8]}"
    yield name
    async with engine.begin() as conn:
        await conn.execute(text("SELECT watermark FROM rollup_watermark FOR UPDATE"))
        await conn.execute(text("DELETE FROM tasks WHERE owner = :owner"), {"owner": name})
        await conn.execute(text("DELETE FROM task_rollups WHERE owner = :owner"), {"owner": name})


async def watermark(engine) -> dt.datetime:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT watermark FROM rollup_watermark"))).scalar_one()


async def roll_past(engine, moment: dt.datetime, *, batch: int = rollups.ROLL_BATCH) -> None:
    """Roll (lag 0) until the watermark passes ``moment``: a writer still open elsewhere
    holds the bound back for a moment; the outcome does not depend on how long."""
    for _ in range(200):
        await rollups.roll_until_caught_up(engine, lag_seconds=0.0, batch=batch)
        if await watermark(engine) >= moment:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the watermark never passed {moment}")


def task_row(owner: str, *, created_at: dt.datetime, status: str, completed_at: dt.datetime | None, **values: Any):
    row = {
        "id": uuid.uuid4(),
        "task_type": TYPES[0],
        "status": status,
        "priority": "medium",
        "priority_rank": PRIORITY_RANK["medium"],
        "owner": owner,
        "input": b"",
        "max_attempts": 3,
        "created_at": created_at,
        "updated_at": utcnow(),
        "completed_at": completed_at,
        "expires_at": utcnow() + dt.timedelta(days=7),
    }
    row.update(values)
    return row


async def insert_mix(engine, owner: str, count: int, *, seed: int, span: dt.timedelta) -> list[dict]:
    """``count`` tasks created over the last ``span``: every status, three types and
    providers, costs, cache hits, tasks without a start, durations from 20 ms to 20 min.
    The terminal ones end after the current watermark (so a roll takes them)."""
    rng = random.Random(seed)
    now = utcnow()
    ended = max(await watermark(engine), now - dt.timedelta(seconds=1)) + dt.timedelta(milliseconds=1)
    rows = []
    for index in range(count):
        status = rng.choices(["COMPLETED", "FAILED", "CANCELLED", "QUEUED", "PROCESSING"], [60, 15, 10, 10, 5])[0]
        completed_at = (
            ended + dt.timedelta(microseconds=index) if status in {"COMPLETED", "FAILED", "CANCELLED"} else None
        )
        duration = dt.timedelta(seconds=math.exp(rng.uniform(math.log(0.02), math.log(1200))))
        cache_hit = status == "COMPLETED" and rng.random() < 0.1
        started_at = None if cache_hit or rng.random() < 0.03 else (completed_at or now) - duration
        rows.append(
            task_row(
                owner,
                created_at=now - span * rng.random(),
                status=status,
                completed_at=completed_at,
                started_at=started_at,
                task_type=rng.choice(TYPES),
                provider=rng.choice(PROVIDERS),
                cost_usd=round(rng.uniform(0, 0.05), 6),
                cache_hit=cache_hit,
                priority=rng.choice(["urgent", "high", "medium", "low"]),
            )
        )
    async with engine.begin() as conn:
        await conn.execute(insert(TASKS), rows)
    return rows


async def live(engine, owner: str, since: dt.datetime) -> dict:
    """The figures straight from the window's tasks (the aggregate the rollups replace)."""
    scope = [TASKS.c.created_at >= since, TASKS.c.owner == owner]
    duration = func.extract("epoch", TASKS.c.completed_at - TASKS.c.started_at)
    sample = [TASKS.c.status == "COMPLETED", TASKS.c.cache_hit.is_(False)]
    async with engine.connect() as conn:
        by_type = (
            await conn.execute(
                select(
                    TASKS.c.task_type,
                    func.count(),
                    func.count().filter(TASKS.c.status == "COMPLETED"),
                    func.count().filter(TASKS.c.status == "FAILED"),
                    func.avg(duration).filter(*sample),
                    func.percentile_cont(0.95).within_group(duration).filter(*sample),
                    func.array_agg(cast(duration, Float)).filter(*sample, TASKS.c.started_at.isnot(None)),
                )
                .where(*scope)
                .group_by(TASKS.c.task_type)
            )
        ).all()
        by_status = (
            await conn.execute(select(TASKS.c.status, func.count()).where(*scope).group_by(TASKS.c.status))
        ).all()
        cost = (
            await conn.execute(
                select(TASKS.c.provider, func.sum(TASKS.c.cost_usd)).where(*scope).group_by(TASKS.c.provider)
            )
        ).all()
        queues = (
            await conn.execute(
                select(TASKS.c.priority, func.count())
                .where(TASKS.c.status == "QUEUED", TASKS.c.owner == owner)
                .group_by(TASKS.c.priority)
            )
        ).all()
    return {
        "by_type": {
            task_type: {
                "total": total,
                "completed": done,
                "failed": bad,
                "mean": float(mean or 0.0),
                "p95": float(p95 or 0.0),
                "durations": sorted(durations or []),
            }
            for task_type, total, done, bad, mean, p95, durations in by_type
        },
        "by_status": dict(by_status),
        "cost": {provider: float(total) for provider, total in cost if provider},
        "queues": {"urgent": 0, "high": 0, "medium": 0, "low": 0} | dict(queues),
    }


def p95_bins(durations: list[float]) -> tuple[float, float]:
    """The durations between which a p95 read from the histogram may fall: from the low
    end of the bin of the lower order statistic percentile_cont uses to the high end of
    the bin of the upper one."""
    rank = 0.95 * (len(durations) - 1)
    low = rollups.bin_range(rollups.duration_bin(durations[math.floor(rank)]))[0]
    high_bin = rollups.duration_bin(durations[math.ceil(rank)])
    high = rollups.bin_range(high_bin)[1] if high_bin < len(rollups.DURATION_BOUNDS) else math.inf
    return low, high


def assert_same(stats: tasks_pb2.Statistics, expected: dict) -> None:
    types = {entry.task_type: entry for entry in stats.by_type}
    assert set(types) == set(expected["by_type"])
    for task_type, want in expected["by_type"].items():
        got = types[task_type]
        assert (got.total, got.completed, got.failed) == (want["total"], want["completed"], want["failed"]), task_type
        assert got.mean_duration_seconds == pytest.approx(want["mean"], rel=1e-9, abs=1e-9), task_type
        if want["durations"]:
            low, high = p95_bins(want["durations"])
            assert low <= want["p95"] <= high  # the reference itself
            assert low <= got.p95_duration_seconds <= high, (task_type, got.p95_duration_seconds, want["p95"])
        else:
            assert got.p95_duration_seconds == 0.0
    assert stats.total_tasks == sum(want["total"] for want in expected["by_type"].values())
    assert dict(stats.by_status) == expected["by_status"]
    assert set(stats.cost_by_provider) == set(expected["cost"])
    for provider, total in expected["cost"].items():
        assert stats.cost_by_provider[provider] == pytest.approx(total, rel=1e-9, abs=1e-12)
    done = sum(want["completed"] for want in expected["by_type"].values())
    bad = sum(want["failed"] for want in expected["by_type"].values())
    assert stats.success_rate == pytest.approx(done / (done + bad) if done + bad else 0.0)
    assert dict(stats.queue_by_priority) == expected["queues"]


async def check(store: TaskStore, engine, owner: str, window: float) -> tasks_pb2.Statistics:
    now = utcnow()
    stats = await store.statistics(owner, window, now=now)
    assert_same(stats, await live(engine, owner, now - dt.timedelta(seconds=window)))
    return stats


# The window's start falls 137.5 s into a bucket (its head is read from the tasks).
def mid_bucket_window(now: dt.datetime, hours: int) -> float:
    since = now - dt.timedelta(hours=hours)
    boundary = rollups.bucket_ceiling(since)
    return (now - (boundary - rollups.BUCKET + dt.timedelta(seconds=137.5))).total_seconds()


async def test_rollups_answer_what_the_live_aggregate_answers(engine, store, owner):
    rows = await insert_mix(engine, owner, 900, seed=1, span=dt.timedelta(hours=3))
    windows = [mid_bucket_window(utcnow(), 2), 4 * 3600.0, 600.0, 86400.0]
    for window in windows:  # nothing rolled yet: all from the tasks
        await check(store, engine, owner, window)
    await roll_past(engine, max(row["completed_at"] for row in rows if row["completed_at"]))
    async with engine.connect() as conn:
        buckets = (
            await conn.execute(
                text("SELECT count(DISTINCT bucket_start) FROM task_rollups WHERE owner = :owner"), {"owner": owner}
            )
        ).scalar_one()
    assert buckets > 30  # three hours of 5-minute buckets
    for window in windows:
        await check(store, engine, owner, window)
    # More tasks after the roll: ended past the watermark, active, in the head bucket.
    await insert_mix(engine, owner, 200, seed=2, span=dt.timedelta(hours=3))
    for window in windows:
        stats = await check(store, engine, owner, window)
    assert stats.total_tasks == 1100 and stats.by_status["COMPLETED"] > 500


async def test_retry_delete_purge_and_delete_finished_take_rolled_tasks_out(engine, store, stack_settings, owner):
    rows = await insert_mix(engine, owner, 400, seed=3, span=dt.timedelta(hours=2))
    await roll_past(engine, max(row["completed_at"] for row in rows if row["completed_at"]))
    # The window starts mid-bucket an hour before the first task: counts can be compared.
    window = mid_bucket_window(utcnow(), 3)
    before = await check(store, engine, owner, window)
    in_window = rows
    failed = [row for row in in_window if row["status"] == "FAILED" and row["task_type"] == TYPES[0]]
    completed = [row for row in in_window if row["status"] == "COMPLETED"]
    cancelled = [row for row in in_window if row["status"] == "CANCELLED"]

    # A retry by hand: QUEUED again, out of the rollups; it ends again and is rolled again.
    retried = await store.retry(str(failed[0]["id"]), owner)
    assert retried.status == tasks_pb2.Task.Status.QUEUED
    after_retry = await check(store, engine, owner, window)
    assert after_retry.by_status["FAILED"] == before.by_status["FAILED"] - 1
    ended = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            update(TASKS)
            .where(TASKS.c.id == failed[0]["id"])
            .values(status="COMPLETED", started_at=ended - dt.timedelta(seconds=3), completed_at=ended)
        )
    await roll_past(engine, ended)
    await check(store, engine, owner, window)

    # A cancelled task's cost, confirmed by its worker after the task was rolled.
    confirmed = await store.fail(
        tasks_pb2.FailTaskRequest(
            task_id=str(cancelled[1]["id"]),
            attempt=1,
            error=common_pb2.TaskError(code="CANCELLED", reason="CANCELLED", message="stopped"),
            cancel_confirmed=True,
            cost_usd=0.25,
        )
    )
    assert confirmed.task.cost_usd == pytest.approx(cancelled[1]["cost_usd"] + 0.25)
    after_cost = await check(store, engine, owner, window)
    assert sum(after_cost.cost_by_provider.values()) == pytest.approx(sum(after_retry.cost_by_provider.values()) + 0.25)

    # A delete of a rolled task, then a task not rolled yet (nothing to take out).
    await store.delete(str(completed[0]["id"]), owner)
    await check(store, engine, owner, window)

    # The purge of expired tasks, rolled and active ones together.
    expiring = [completed[1]["id"], completed[2]["id"], cancelled[0]["id"]]
    expiring += [row["id"] for row in in_window if row["status"] == "QUEUED"][:2]
    async with engine.begin() as conn:
        await conn.execute(
            update(TASKS).where(TASKS.c.id.in_(expiring)).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    housekeeper = Housekeeper(engine, None, stack_settings)  # type: ignore[arg-type]  # no artifacts here
    while (await housekeeper._purge_expired_batch())[0]:
        pass
    after_purge = await check(store, engine, owner, window)
    assert after_purge.total_tasks == before.total_tasks - 1 - len(expiring)

    # Deleting finished tasks (the background façade's clean-up) of one type.
    deleted, _ = await TaskTypeStore(engine).delete_finished(owner, utcnow(), [TYPES[1]])
    assert deleted > 0
    after = await check(store, engine, owner, window)
    left = next(entry for entry in after.by_type if entry.task_type == TYPES[1])
    assert (left.completed, left.failed) == (0, 0) and after.total_tasks == after_purge.total_tasks - deleted
    async with engine.connect() as conn:
        empty = (
            await conn.execute(text("SELECT count(*) FROM task_rollups WHERE count <= 0 AND owner = :o"), {"o": owner})
        ).scalar_one()
    assert empty == 0  # rows whose tasks all left are gone, never negative


async def test_two_roll_loops_racing_count_each_task_once(engine, store, stack_settings, owner):
    rows = await insert_mix(engine, owner, 600, seed=4, span=dt.timedelta(hours=1))
    last = max(row["completed_at"] for row in rows if row["completed_at"])
    other = create_engine(stack_settings)
    try:
        # Small batches: the two loops take turns on the watermark many times.
        await asyncio.gather(
            roll_past(engine, last, batch=37),
            roll_past(other, last, batch=41),
            rollups.roll_until_caught_up(other, lag_seconds=0.0, batch=13),
        )
    finally:
        await other.dispose()
    async with engine.connect() as conn:
        rolled = (
            await conn.execute(text("SELECT coalesce(sum(count), 0) FROM task_rollups WHERE owner = :o"), {"o": owner})
        ).scalar_one()
    assert rolled == sum(1 for row in rows if row["completed_at"])
    await check(store, engine, owner, 2 * 3600.0)
