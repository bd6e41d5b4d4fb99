"""/statistics from incremental rollups instead of a scan of the window's tasks.

``task_rollups`` holds, per owner, 5-minute bucket of ``created_at``, task type, status
and provider, the terminal tasks' count, cost, and the duration figures of the completed
ones not answered from the cache (count, sum, a histogram over :data:`DURATION_BOUNDS`).
A task is in it, exactly once, when it is terminal and its ``completed_at`` is at or
before the one-row ``rollup_watermark``:

* :func:`roll` (the registry's :class:`RollupLoop`, on every replica) takes the watermark
  row FOR UPDATE, adds the terminal tasks with ``completed_at`` in (watermark, bound] and
  moves the watermark to bound in the same transaction. bound is ``lag`` behind the
  database clock and behind the oldest transaction still writing, so a task that ends in a
  transaction committing after the roll is not passed over (its ``completed_at`` is taken
  from the registry's clock before its transaction begins: the lag covers that gap, a pool
  wait and clock skew).
* Changes that take a rolled task out of that set (a manual retry, a delete, the purge of
  expired tasks, deleting finished background tasks) subtract it in their own transaction
  with :func:`take_out`, under the watermark row FOR SHARE: a roll waits for them and they
  for a roll, so a task is never counted twice nor subtracted when it was not added.
* :func:`statistics` reads, in one snapshot, the rollup rows of the whole buckets from the
  first bucket boundary in the window on, and the tasks themselves for the rest: those
  created before that boundary (at most one bucket) and the later ones not rolled yet
  (active, or ended past the watermark; few, found by index).

Means, counts and costs are exact. p95 is estimated from the histogram: bins 10^(1/20)
wide (12 %), interpolated within the bin, so the estimate lies within the bins holding the
order statistics that ``percentile_cont(0.95)`` interpolates between.

The rows are only right if every change to a terminal task goes through one of those
paths. A task inserted by hand with a ``completed_at`` already behind the watermark (a
backdated import) is not seen by the loop: :func:`rebuild` starts the rollups over.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import datetime as dt
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Float, and_, case, cast, delete, func, literal_column, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnClause

from mediatasks.core import metrics, topology
from mediatasks.core.settings import Settings
from mediatasks.registry.convert import ACTIVE, COMPLETED, FAILED, QUEUED, TERMINAL
from mediatasks.registry.models import RollupWatermarkRow, TaskRollupRow, TaskRow
from mediatasks.v1 import tasks_pb2

log = logging.getLogger(__name__)

TASKS = TaskRow.__table__
ROLLUPS = TaskRollupRow.__table__
WATERMARK = RollupWatermarkRow.__table__

BUCKET = dt.timedelta(minutes=5)
# date_bin's origin: buckets start at whole 5 minutes of UTC (a multiple of 300 s from the epoch).
ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Bin k holds durations in [DURATION_BOUNDS[k-1], DURATION_BOUNDS[k]) seconds (bin 0 below
# 10 ms, the last bin 100,000 s and more): 20 bins a decade.
DURATION_BOUNDS: tuple[float, ...] = tuple(10 ** (k / 20) for k in range(-40, 101))
# Tasks added per roll transaction while catching up (a fresh table, a long outage).
ROLL_BATCH = 50_000
_UPSERT_CHUNK = 1_000

_KEY = ("owner", "bucket_start", "task_type", "status", "provider")
_BOUNDS_SQL: ColumnClause[Any] = literal_column("'{" + ",".join(repr(b) for b in DURATION_BOUNDS) + "}'::float8[]")
_TERMINAL = tuple(sorted(TERMINAL))

# Per task: its bucket, its duration when it counts for the duration figures (the live
# aggregate's rule: completed, not a cache hit; no start gives no duration), and its bin.
_BUCKET_START = func.date_bin(
    literal_column("interval '300 seconds'"),
    TASKS.c.created_at,
    literal_column("timestamptz '2000-01-01 00:00:00+00'"),
)
_DURATION = case(
    (
        and_(TASKS.c.status == literal_column(f"'{COMPLETED}'"), TASKS.c.cache_hit.is_(False)),
        cast(func.extract("epoch", TASKS.c.completed_at - TASKS.c.started_at), Float),
    ),
    else_=None,
)
_BIN = func.width_bucket(_DURATION, _BOUNDS_SQL)

# What take_out needs of a task row (also as RETURNING of a DELETE).
TASK_COLUMNS = (
    TASKS.c.owner,
    _BUCKET_START.label("bucket_start"),
    TASKS.c.task_type,
    TASKS.c.status,
    TASKS.c.provider,
    _BIN.label("bin"),
    TASKS.c.cost_usd,
    _DURATION.label("duration"),
    TASKS.c.completed_at,
)


@dataclasses.dataclass
class Figures:
    """Sums of one rollup key (or of one task type's answer)."""

    count: int = 0
    cost_sum: float = 0.0
    duration_count: int = 0
    duration_sum: float = 0.0
    histogram: list[int] = dataclasses.field(default_factory=list)

    def add(self, count: int, cost: float, duration_sum: float | None, bin_: int | None, *, sign: int = 1) -> None:
        self.count += sign * count
        self.cost_sum += sign * cost
        if bin_ is not None:
            self.duration_count += sign * count
            self.duration_sum += sign * float(duration_sum or 0.0)
            if len(self.histogram) <= bin_:
                self.histogram.extend([0] * (bin_ + 1 - len(self.histogram)))
            self.histogram[bin_] += sign * count

    def merge(self, other: Figures) -> None:
        self.count += other.count
        self.cost_sum += other.cost_sum
        self.duration_count += other.duration_count
        self.duration_sum += other.duration_sum
        add_histogram(self.histogram, other.histogram)


def add_histogram(into: list[int], other: Sequence[int]) -> None:
    if len(into) < len(other):
        into.extend([0] * (len(other) - len(into)))
    for index, value in enumerate(other):
        into[index] += value


def sum_histograms(histograms: Iterable[Sequence[int]]) -> list[int]:
    return [sum(column) for column in itertools.zip_longest(*histograms, fillvalue=0)]


def duration_bin(seconds: float) -> int:
    """The histogram bin of a duration (PostgreSQL's width_bucket over the bounds)."""
    return bisect.bisect_right(DURATION_BOUNDS, seconds)


def bin_range(bin_: int) -> tuple[float, float]:
    """The durations bin ``bin_`` holds, [low, high) (the last bin: its low bound twice)."""
    low = 0.0 if bin_ == 0 else DURATION_BOUNDS[bin_ - 1]
    high = DURATION_BOUNDS[bin_] if bin_ < len(DURATION_BOUNDS) else low
    return low, high


def percentile(histogram: Sequence[int], fraction: float) -> float:
    """``percentile_cont(fraction)`` estimated from a histogram: the values of a bin are
    taken as spread evenly over it, then interpolated between ranks as PostgreSQL does."""
    total = sum(histogram)
    if total <= 0:
        return 0.0
    rank = fraction * (total - 1)
    lower = math.floor(rank)

    def value_at(index: int) -> float:
        seen = 0
        for bin_, count in enumerate(histogram):
            if count > 0 and index < seen + count:
                low, high = bin_range(bin_)
                return low + (high - low) * (index - seen + 0.5) / count
            seen += count
        return bin_range(len(histogram) - 1)[0]

    value = value_at(lower)
    if rank > lower:
        value += (rank - lower) * (value_at(lower + 1) - value)
    return value


def bucket_ceiling(moment: dt.datetime) -> dt.datetime:
    """The first bucket boundary at or after ``moment``."""
    step = BUCKET // dt.timedelta(microseconds=1)
    offset = (moment - ORIGIN) // dt.timedelta(microseconds=1)
    return ORIGIN + dt.timedelta(microseconds=-(-offset // step) * step)


def _fold(rows: Iterable[Any], key_of) -> dict[tuple, Figures]:
    """Rows of (key..., bin, tasks, cost_sum, duration_sum) summed per key."""
    folded: dict[tuple, Figures] = {}
    for row in rows:
        key = key_of(row)
        folded.setdefault(key, Figures()).add(row.tasks, row.cost_sum, row.duration_sum, row.bin)
    return folded


def _grouped(*filters: Any, keys: Sequence[Any]) -> Any:
    """The tasks matching ``filters`` summed per ``keys`` and duration bin."""
    columns = [*keys, _BIN.label("bin")]
    return (
        select(
            *columns,
            func.count().label("tasks"),
            func.coalesce(func.sum(TASKS.c.cost_usd), 0.0).label("cost_sum"),
            func.sum(_DURATION).label("duration_sum"),
        )
        .where(*filters)
        # By position: the same expression twice would be two sets of bound parameters.
        .group_by(*(literal_column(str(index + 1)) for index in range(len(columns))))
    )


async def _apply(conn: AsyncConnection, deltas: Mapping[tuple, Figures]) -> None:
    """Add ``deltas`` (negative to take out) to their rollup rows, in key order (two
    transactions touching the same rows lock them in the same order)."""
    if not deltas:
        return
    rows = [
        {
            **dict(zip(_KEY, key, strict=True)),
            "count": figures.count,
            "cost_sum": figures.cost_sum,
            "duration_count": figures.duration_count,
            "duration_sum": figures.duration_sum,
            "histogram": figures.histogram,
        }
        for key, figures in sorted(deltas.items())
    ]
    for start in range(0, len(rows), _UPSERT_CHUNK):
        statement = pg_insert(ROLLUPS).values(rows[start : start + _UPSERT_CHUNK])
        excluded = statement.excluded
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=list(_KEY),
                set_={
                    "count": ROLLUPS.c["count"] + excluded["count"],
                    "cost_sum": ROLLUPS.c.cost_sum + excluded.cost_sum,
                    "duration_count": ROLLUPS.c.duration_count + excluded.duration_count,
                    "duration_sum": ROLLUPS.c.duration_sum + excluded.duration_sum,
                    # Element-wise sum; the shorter array counts as zeros past its end.
                    "histogram": text(
                        "(SELECT coalesce(array_agg(coalesce(a, 0) + coalesce(b, 0) ORDER BY i), '{}')"
                        " FROM unnest(task_rollups.histogram, excluded.histogram) WITH ORDINALITY AS u(a, b, i))"
                    ),
                },
            )
        )


# --- the roll loop ------------------------------------------------------------------


@dataclasses.dataclass
class Rolled:
    tasks: int
    watermark: dt.datetime
    caught_up: bool


async def roll(
    engine: AsyncEngine, *, lag_seconds: float, batch: int = ROLL_BATCH, until: dt.datetime | None = None
) -> Rolled:
    """Add the terminal tasks that ended after the watermark, up to ``lag_seconds`` ago
    (and ``until`` when given) and at most about ``batch`` of them, to the rollups; move
    the watermark there. ``caught_up`` is False when the batch bound stopped it short."""
    lag = dt.timedelta(seconds=lag_seconds)
    async with engine.begin() as conn:
        watermark = (
            await conn.execute(select(WATERMARK.c.watermark).where(WATERMARK.c.id == 1).with_for_update())
        ).scalar_one()
        # Behind the clock by the lag, and behind every transaction of this database
        # still writing (one may yet commit a task that ended when it began).
        oldest_writer = (
            select(func.min(literal_column("xact_start")))
            .select_from(text("pg_stat_activity"))
            .where(text("datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"))
            .scalar_subquery()
        )
        bound = (await conn.execute(select(func.least(func.now(), oldest_writer)))).scalar_one() - lag
        if until is not None:
            bound = min(bound, until)
        caught_up = True
        nth = (
            await conn.execute(
                select(TASKS.c.completed_at)
                .where(TASKS.c.completed_at > watermark)
                .order_by(TASKS.c.completed_at)
                .offset(max(batch, 1) - 1)
                .limit(1)
            )
        ).scalar_one_or_none()
        if nth is not None and nth < bound:
            bound, caught_up = nth, False
        if bound <= watermark:
            return Rolled(0, watermark, True)
        rows = (
            await conn.execute(
                _grouped(
                    TASKS.c.completed_at > watermark,
                    TASKS.c.completed_at <= bound,
                    TASKS.c.status.in_(_TERMINAL),
                    keys=[
                        TASKS.c.owner,
                        _BUCKET_START.label("bucket_start"),
                        TASKS.c.task_type,
                        TASKS.c.status,
                        TASKS.c.provider,
                    ],
                )
            )
        ).all()
        deltas = _fold(rows, lambda row: (row.owner, row.bucket_start, row.task_type, row.status, row.provider))
        await _apply(conn, deltas)
        await conn.execute(update(WATERMARK).where(WATERMARK.c.id == 1).values(watermark=bound, updated_at=func.now()))
    return Rolled(sum(figures.count for figures in deltas.values()), bound, caught_up)


async def roll_until_caught_up(engine: AsyncEngine, *, lag_seconds: float, batch: int = ROLL_BATCH, **kw: Any) -> int:
    """:func:`roll` until a batch comes short; returns how many tasks were added."""
    added = 0
    while True:
        rolled = await roll(engine, lag_seconds=lag_seconds, batch=batch, **kw)
        added += rolled.tasks
        if rolled.caught_up:
            return added


async def rebuild(engine: AsyncEngine) -> None:
    """Start over: no rollup rows, the watermark at the epoch (the loop adds every task
    again). For tasks written behind the watermark by hand, which the loop never sees."""
    async with engine.begin() as conn:
        await conn.execute(select(WATERMARK.c.id).where(WATERMARK.c.id == 1).with_for_update())
        await conn.execute(delete(ROLLUPS))
        await conn.execute(
            update(WATERMARK).where(WATERMARK.c.id == 1).values(watermark=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        )


class RollupLoop:
    """Rolls every ``rollup_interval_seconds``, at once again while catching up."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            caught_up = True
            try:
                rolled = await roll(self.engine, lag_seconds=self.settings.rollup_lag_seconds)
                caught_up = rolled.caught_up
            except Exception as exc:  # a DB hiccup: the watermark did not move, try again
                log.warning("statistics roll-up failed: %s", exc)
                metrics.ERRORS.labels("rollups", "ROLL").inc()
            if caught_up:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.settings.rollup_interval_seconds)

    async def stop(self) -> None:
        self._stop.set()


# --- taking rolled tasks out ---------------------------------------------------------


async def lock_watermark(conn: AsyncConnection) -> dt.datetime:
    """The watermark, locked FOR SHARE until ``conn``'s transaction ends (no roll meanwhile)."""
    return (
        await conn.execute(select(WATERMARK.c.watermark).where(WATERMARK.c.id == 1).with_for_update(read=True))
    ).scalar_one()


async def take_out(conn: AsyncConnection, task_ids: Sequence[Any], *, sign: int = -1) -> int:
    """Subtract the tasks ``task_ids`` from the rollups where they were rolled, before the
    caller changes them in the same transaction. The caller holds the tasks' row locks."""
    if not task_ids:
        return 0
    watermark = await lock_watermark(conn)
    rows = (
        await conn.execute(
            select(*TASK_COLUMNS).where(
                TASKS.c.id.in_(list(task_ids)),
                TASKS.c.status.in_(_TERMINAL),
                TASKS.c.completed_at <= watermark,
            )
        )
    ).all()
    return await take_out_rows(conn, rows, watermark, sign=sign)


async def put_back(conn: AsyncConnection, task_ids: Sequence[Any]) -> int:
    """Add the tasks ``task_ids`` back where they were rolled, after the caller changed
    their figures in place (a cancelled task's cost, confirmed after the roll): taken out
    before the change, put back after it."""
    return await take_out(conn, task_ids, sign=1)


async def take_out_rows(conn: AsyncConnection, rows: Iterable[Any], watermark: dt.datetime, *, sign: int = -1) -> int:
    """Subtract tasks given as :data:`TASK_COLUMNS` rows (a DELETE's RETURNING, say) that
    were rolled by ``watermark``, which the caller locked with :func:`lock_watermark`
    before it read or deleted them."""
    deltas: dict[tuple, Figures] = {}
    taken = 0
    for row in rows:
        if row.status not in TERMINAL or row.completed_at is None or row.completed_at > watermark:
            continue
        key = (row.owner, row.bucket_start, row.task_type, row.status, row.provider)
        deltas.setdefault(key, Figures()).add(1, row.cost_usd, row.duration, row.bin, sign=sign)
        taken += 1
    if deltas:
        await _apply(conn, deltas)
        await conn.execute(
            delete(ROLLUPS).where(
                ROLLUPS.c["count"] <= 0,
                ROLLUPS.c.owner.in_(sorted({key[0] for key in deltas})),
                ROLLUPS.c.bucket_start.in_(sorted({key[1] for key in deltas})),
            )
        )
    return taken


# --- the answer ----------------------------------------------------------------------


async def statistics(
    engine: AsyncEngine, owner: str | None, window_seconds: float, now: dt.datetime
) -> tasks_pb2.Statistics:
    since = now - dt.timedelta(seconds=window_seconds)
    boundary = bucket_ceiling(since)
    owned = [TASKS.c.owner == owner] if owner is not None else []
    rolled_owned = [ROLLUPS.c.owner == owner] if owner is not None else []
    per_type: dict[str, Figures] = {}
    by_status: dict[str, int] = {}
    by_provider: dict[str, Figures] = {}
    async with engine.connect() as conn:
        # One snapshot: the rollup rows, the watermark and the tasks agree.
        await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        async with conn.begin():
            rolled = (
                await conn.execute(
                    select(
                        ROLLUPS.c.task_type,
                        ROLLUPS.c.status,
                        ROLLUPS.c.provider,
                        func.sum(ROLLUPS.c["count"]),
                        func.sum(ROLLUPS.c.cost_sum),
                        func.sum(ROLLUPS.c.duration_count),
                        func.sum(ROLLUPS.c.duration_sum),
                    )
                    .where(ROLLUPS.c.bucket_start >= boundary, *rolled_owned)
                    .group_by(ROLLUPS.c.task_type, ROLLUPS.c.status, ROLLUPS.c.provider)
                )
            ).all()
            histograms = (
                await conn.execute(
                    select(ROLLUPS.c.task_type, ROLLUPS.c.histogram).where(
                        ROLLUPS.c.bucket_start >= boundary, ROLLUPS.c.duration_count > 0, *rolled_owned
                    )
                )
            ).all()
            # Not rolled: the head of the window (before its first whole bucket), and the
            # later tasks still active or ended past the watermark. Three index ranges.
            keys = [TASKS.c.task_type, TASKS.c.status, TASKS.c.provider]
            head = and_(TASKS.c.created_at >= since, TASKS.c.created_at < boundary, *owned)
            active = and_(TASKS.c.created_at >= boundary, TASKS.c.status.in_(sorted(ACTIVE)), *owned)
            recent = and_(
                TASKS.c.created_at >= boundary,
                TASKS.c.completed_at > select(WATERMARK.c.watermark).where(WATERMARK.c.id == 1).scalar_subquery(),
                TASKS.c.status.in_(_TERMINAL),
                *owned,
            )
            parts = union_all(*(_grouped(where, keys=keys) for where in (head, active, recent))).subquery()
            raw = (await conn.execute(select(parts))).all()
            queue_scope = [TASKS.c.status == QUEUED, *owned]
            queues = (
                await conn.execute(
                    select(TASKS.c.priority, func.count()).where(*queue_scope).group_by(TASKS.c.priority)
                )
            ).all()

    completed: dict[str, int] = {}
    failed: dict[str, int] = {}

    def tally(task_type: str, status: str, provider: str, tasks: int, cost: float) -> Figures:
        by_status[status] = by_status.get(status, 0) + tasks
        if status == COMPLETED:
            completed[task_type] = completed.get(task_type, 0) + tasks
        elif status == FAILED:
            failed[task_type] = failed.get(task_type, 0) + tasks
        by_provider[provider] = by_provider.get(provider, Figures())
        by_provider[provider].add(tasks, cost, None, None)
        return per_type.setdefault(task_type, Figures())

    for task_type, status, provider, tasks, cost, duration_count, duration_sum in rolled:
        figures = tally(task_type, status, provider, int(tasks), float(cost))
        figures.merge(Figures(int(tasks), float(cost), int(duration_count), float(duration_sum)))
    arrays: dict[str, list[list[int]]] = {}
    for task_type, histogram in histograms:
        arrays.setdefault(task_type, []).append(histogram)
    for task_type, lists in arrays.items():
        # Column sums in one pass (hundreds of rows a day of window).
        add_histogram(per_type.setdefault(task_type, Figures()).histogram, sum_histograms(lists))
    for row in raw:
        tally(row.task_type, row.status, row.provider, row.tasks, row.cost_sum).add(
            row.tasks, row.cost_sum, row.duration_sum, row.bin
        )

    stats = tasks_pb2.Statistics(window_seconds=window_seconds)
    done_total = failed_total = 0
    for task_type in sorted(per_type):
        figures = per_type[task_type]
        if figures.count <= 0:
            continue  # rollup rows whose tasks were all taken out
        done, bad = completed.get(task_type, 0), failed.get(task_type, 0)
        stats.by_type.add(
            task_type=task_type,
            total=figures.count,
            completed=done,
            failed=bad,
            mean_duration_seconds=figures.duration_sum / figures.duration_count if figures.duration_count else 0.0,
            p95_duration_seconds=percentile(figures.histogram, 0.95),
        )
        stats.total_tasks += figures.count
        done_total += done
        failed_total += bad
    stats.success_rate = done_total / (done_total + failed_total) if done_total + failed_total else 0.0
    for status, count in sorted(by_status.items()):
        if count > 0:
            stats.by_status[status] = count
    for provider, figures in sorted(by_provider.items()):
        if provider and figures.count > 0:
            stats.cost_by_provider[provider] = figures.cost_sum
    for priority in topology.PRIORITIES:
        stats.queue_by_priority[priority] = 0
    for priority, count in queues:
        stats.queue_by_priority[priority] = count
    return stats
