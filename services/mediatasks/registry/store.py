"""Task state transitions in PostgreSQL, each in one transaction with its outbox rows.

Every change that other components must hear about writes its JetStream message (a job
or a TaskEvent) to the ``outbox`` table in the same transaction; :mod:`.outbox` relays
them. Worker writes are fenced by attempt number: a write from an older attempt than the
task's current one is refused with ``STALE_ATTEMPT``.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import hashlib
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import grpc
from google.protobuf import any_pb2
from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    Row,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from mediatasks.core import topology
from mediatasks.core.catalog import KINDS
from mediatasks.core.db import HeldConnection, autocommit
from mediatasks.core.errors import (
    ALREADY_RUNNING,
    CAPACITY,
    DEAD_LETTERED,
    STALE_ATTEMPT,
    START_REFUSED,
    TASK_CANCELLED,
    UNKNOWN_TASK,
    WORKER_SHUTDOWN,
    MediaTasksError,
    invalid_input,
)
from mediatasks.core.metadata import check_metadata
from mediatasks.core.options import check_webhook_events
from mediatasks.core.settings import Settings
from mediatasks.registry import rollups
from mediatasks.registry.changes import LOGS_AND_OUTBOX, OWNER_LIMIT_REASON, Change, rows_parameters, write_changes
from mediatasks.registry.convert import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    EVENT_FOR_STATUS,
    FAILED,
    PRIORITY_RANK,
    PROCESSING,
    QUEUED,
    TERMINAL,
    error_to_json,
    set_time,
    task_to_proto,
    utcnow,
)
from mediatasks.registry.direct_sql import DirectStatement
from mediatasks.registry.handoff import HandOff, remember, transaction
from mediatasks.registry.models import ExpiredTaskRow, OutboxRow, ResultCacheRow, TaskLogRow, TaskRow, TaskTypeRow
from mediatasks.registry.paging import decode_token, encode_token, page_limit, sort_spec
from mediatasks.registry.secrets import SecretBox
from mediatasks.registry.submits import NewTask, SubmitGroups
from mediatasks.registry.transactions import SharedConnection, SharedTransactions, locked_row
from mediatasks.v1 import common_pb2, tasks_pb2

TASKS = TaskRow.__table__
OUTBOX = OutboxRow.__table__
LOGS = TaskLogRow.__table__
CACHE = ResultCacheRow.__table__
TOMBSTONES = ExpiredTaskRow.__table__
TASK_TYPES = TaskTypeRow.__table__


CONCURRENCY_RETRY_AFTER_SECONDS = 5.0
# Concurrent submits of one owner (or starts of one type) that may race past the limit
# check without its lock.
_LOCK_HEADROOM = 64
# An owner this far below its limit is counted at most once per _ACTIVE_CACHE_SECONDS.
_FAR_BELOW_LIMIT = 1024
_ACTIVE_CACHE_SECONDS = 1.0


def task_not_found(task_id: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", f"no task {task_id!r}")


def task_expired(task_id: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.NOT_FOUND, "TASK_EXPIRED", f"task {task_id} has expired", http_status=410)


def stale_attempt(task_id: str, attempt: int, current: int) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.FAILED_PRECONDITION,
        STALE_ATTEMPT,
        f"attempt {attempt} of task {task_id} is not the current attempt ({current})",
    )


def start_refused(task_id: str, reason: str) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.FAILED_PRECONDITION,
        START_REFUSED,
        f"task {task_id} did not start: {reason}",
        metadata={"start_reason": reason},
    )


def owner_cache_key(owner: str, cache_key: str) -> str:
    """The result-cache key of ``cache_key`` for ``owner``: cache entries belong to their
    owner, so another owner's identical input never gets (or learns of) this output."""
    return hashlib.sha256(f"{owner}\x00{cache_key}".encode()).hexdigest()


def parse_task_id(task_id: str) -> uuid.UUID:
    key = _task_key(task_id)
    if key is None:
        raise task_not_found(task_id)
    return key


def _task_key(task_id: str) -> uuid.UUID | None:
    """``task_id`` as the key of its row, or None when it names no task."""
    try:
        return uuid.UUID(task_id)
    except (ValueError, AttributeError):
        return None


# One text for any number of ids (an IN list would be a new statement, compiled and
# prepared again, for every group size), typed as the table's columns.
_LOCKED_COLUMNS = ", ".join(f'tasks."{column.name}"' for column in TASKS.c)
# set_config(…, true) is SET LOCAL as a function: in the WHERE clause it runs as each row
# is read, before the row is locked, so the lock timeout holds for every lock taken here.
_LOCK_TASKS = DirectStatement(
    text(
        f"SELECT {_LOCKED_COLUMNS} FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"
        " AND set_config('lock_timeout', :lock_timeout, true) IS NOT NULL ORDER BY id FOR UPDATE"
    )
)


async def _lock_tasks(conn: AsyncConnection, ids: list[uuid.UUID], lock_timeout: str) -> dict[uuid.UUID, Row[Any]]:
    """The task rows of ``ids``, locked in id order, by id (a shared transaction's rows),
    the transaction's lock timeout set first (see transactions.LockRows)."""
    rows = await _LOCK_TASKS.run(conn, {"ids": ids, "lock_timeout": lock_timeout})
    return {row.id: row for row in rows}


@dataclass
class _Start:
    """A start StartAttempt decided on: the new attempt, the row's values, the log lines."""

    attempt: int
    values: dict[str, Any]
    lines: list[str]


@dataclass
class Outgoing:
    """How many jobs and events a submit wrote to the outbox."""

    jobs: int = 0
    events: int = 0


# The event of log lines written between progress events (the live log).
LOG_EVENT = "task.log"
# Log lines an event carries at most (the task log keeps them all).
EVENT_LOG_LINES = 50
LOG_LINE_LIMIT = 4000


def _event_rows(
    task: tasks_pb2.Task, event_type: str, now: dt.datetime, logs: Sequence[tasks_pb2.LogEntry] = ()
) -> list[dict]:
    """The outbox rows of one event: on the events stream, and for a task with a webhook
    the same message on the hooks stream too (the webhook dispatcher reads only that one:
    most tasks have no webhook, and reading and acking all their events was a sixth of the
    registry's work per job)."""
    event_id = uuid.uuid4().hex
    event = tasks_pb2.TaskEvent(event_id=event_id, event_type=event_type, task_id=task.task_id, task=task)
    set_time(event.timestamp, now)
    event.log_entries.extend(logs[-EVENT_LOG_LINES:])
    payload = event.SerializeToString()
    rows = [
        {"subject": topology.event_subject(task.task_id), "msg_id": event_id, "payload": payload, "created_at": now}
    ]
    if task.webhook_url:
        rows.append(
            {"subject": topology.hook_subject(task.task_id), "msg_id": event_id, "payload": payload, "created_at": now}
        )
    return rows


# A job message carries its task (with the input) up to this size: a worker may then run a
# quick job before StartAttempt (see CompleteTaskRequest.start); a bigger one it fetches.
JOB_TASK_LIMIT_BYTES = 16 * 1024


def _job_row(task: tasks_pb2.Task, msg_id: str, now: dt.datetime) -> dict:
    job = tasks_pb2.Job(task_id=task.task_id, task_type=task.task_type, owner=task.owner, priority=task.priority)
    if task.HasField("input") and task.ByteSize() <= JOB_TASK_LIMIT_BYTES:
        job.task.CopyFrom(task)
    return {
        "subject": topology.job_subject(task.task_type, task.priority),
        "msg_id": msg_id,
        "payload": job.SerializeToString(),
        "created_at": now,
    }


def _without_secrets(task_type: str, packed: any_pb2.Any) -> any_pb2.Any:
    """The task's input as stored and shown (``GetTask``): the request without its
    ``webhook_secret``, which is kept apart, encrypted, and never returned."""
    kind = KINDS.get(task_type)
    if kind is None:  # a declared background type: its input carries no secret
        return packed
    request = kind.request()
    if not packed.Unpack(request) or not request.DESCRIPTOR.fields_by_name.get("webhook_secret"):
        return packed
    request.ClearField("webhook_secret")
    cleaned = any_pb2.Any()
    cleaned.Pack(request)
    return cleaned


# Events (watch, SSE, webhooks) stay small whatever a job produced: a result bigger than
# this (a ten-hour transcript, say) travels by reference; GET …/result has it whole.
EVENT_RESULT_LIMIT_BYTES = 32 * 1024


def _event_task(task: tasks_pb2.Task) -> tasks_pb2.Task:
    """The task as carried in events: without its (possibly large) input, and without its
    result when that is over :data:`EVENT_RESULT_LIMIT_BYTES` (its artifacts stay)."""
    slim = tasks_pb2.Task()
    slim.CopyFrom(task)
    slim.ClearField("input")
    if slim.output.result.ByteSize() > EVENT_RESULT_LIMIT_BYTES:
        slim.output.ClearField("result")
    return slim


# ListTasks counts matching tasks exactly below this many; a larger total is reported as
# this figure, with the response header x-total-capped: true (see total_capped).
LIST_TOTAL_CAP = 1_000


def total_capped(response: tasks_pb2.ListTasksResponse) -> bool:
    """Whether a list answer's total is the cap: at least that many tasks match."""
    return response.total >= LIST_TOTAL_CAP


def _log_lines(
    task_id: uuid.UUID, attempt: int, now: dt.datetime, lines: Iterable[str], level: str = "INFO"
) -> tuple[list[tuple[uuid.UUID, dt.datetime, str, str, int]], list[tasks_pb2.LogEntry]]:
    """Log rows of ``lines`` and the same lines as entries for the change's event."""
    messages = [line[:LOG_LINE_LIMIT] for line in lines]
    entries = []
    for message in messages:
        entry = tasks_pb2.LogEntry(level=level, message=message, attempt=attempt)
        entry.timestamp.FromDatetime(now)
        entries.append(entry)
    return [(task_id, now, level, message, attempt) for message in messages], entries


def _updated(row: Row | SimpleNamespace, values: dict[str, Any]) -> SimpleNamespace:
    """``row`` (or an earlier ``_updated`` of it) as it is after ``values`` are written: the
    caller holds its lock, so this is exactly what an UPDATE … RETURNING would answer,
    without asking."""
    current = vars(row) if isinstance(row, SimpleNamespace) else row._mapping
    return SimpleNamespace(**{**current, **values})


def _column_param(column: Column) -> BindParameter:
    """A typed parameter for ``column``; a column with a constant default (as the Core
    insert would fill in) takes it when the values leave it out."""
    if isinstance(column.default, ScalarElementColumnDefault):
        return bindparam(column.name, column.default.arg, type_=column.type)
    return bindparam(column.name, type_=column.type)


_TASK_COLUMNS = ", ".join(f'"{column.name}"' for column in TASKS.c)


def _create_statement(on_conflict: str) -> TextClause:
    """A new task's row, its log lines and its outbox rows in one statement; the lines
    and rows only when the task was inserted (``on_conflict`` may skip it). Returns the
    new task's id, or nothing. Built once, as text: PostgreSQL's Insert construct has no
    cache key, so SQLAlchemy compiled it afresh on every submit."""
    values = ", ".join(f":{column.name}" for column in TASKS.c)
    only_if_created = " WHERE EXISTS (SELECT FROM created)"
    logs_and_outbox = (
        LOGS_AND_OUTBOX.replace("AS integer[]))", "AS integer[]))" + only_if_created)
        .replace("AS timestamptz[]))", "AS timestamptz[]))" + only_if_created)
        .replace("\nINSERT INTO outbox", ", queued AS (INSERT INTO outbox")
    )
    statement = (
        f"WITH created AS (INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({values}) {on_conflict} RETURNING id),"
        f" {logs_and_outbox}) SELECT id FROM created"
    )
    return text(statement).bindparams(*(_column_param(column) for column in TASKS.c))


@dataclass
class _NewRow:
    """What a submit brings, checked: the inputs of :meth:`TaskStore._new_task`."""

    request: tasks_pb2.CreateTaskRequest
    priority: str
    max_attempts: int
    metadata: Any
    input_bytes: bytes
    request_hash: str
    cache_key: str
    now: dt.datetime
    origin: str = ""


@dataclass
class _Created:
    """A new task as answered, what it sends, and its rows."""

    task: tasks_pb2.Task
    outgoing: Outgoing
    rows: NewTask


_CREATE = _create_statement("")
_CREATE_IDEMPOTENT = _create_statement(
    "ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
)


class TaskStore:
    """All reads and writes of task state."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        # Reads outside a transaction: each statement on its own, without the BEGIN and
        # the ROLLBACK at check-in that a transaction's connection pays (two round trips
        # of a GetTask's four).
        self.reads = autocommit(engine)
        self.settings = settings
        self.secrets = SecretBox(settings)
        self._submits = SubmitGroups(engine)
        # Shared transactions run one at a time: they keep one connection.
        self._shared_connection = HeldConnection(engine)
        self._shared = SharedTransactions(
            engine, _lock_tasks, self._write_group_changes, self._transaction, begin_shared=self._shared_transaction
        )
        # Given the outbox rows of each commit (the relay's hand_off; see .handoff).
        self.hand_off: HandOff | None = None
        # Approximate figures read on hot paths, refreshed at most every few seconds.
        self._queued_cache: dict[str, tuple[float, int]] = {}
        # Per owner: when its active tasks were last counted, and that count plus the
        # submits admitted here since (see _admission).
        self._active_cache: dict[str, tuple[float, int]] = {}
        self._mean_cache: dict[str, tuple[float, float]] = {}
        # Per task type: when its running tasks were last counted, plus the starts admitted
        # here since (see _below_capacity).
        self._running_cache: dict[str, tuple[float, int]] = {}
        # The admission counts being refreshed, per (owner, type) (see _admits_from_counts).
        self._refreshing: dict[tuple[str, str], asyncio.Future[None]] = {}

    # --- helpers ------------------------------------------------------------------

    async def _load(self, conn: AsyncConnection, task_id: uuid.UUID, *, lock: bool = False):
        if lock:
            prefetched, row = locked_row(conn, task_id)
            if prefetched:
                return row
        query = select(TASKS).where(TASKS.c.id == task_id)
        if lock:
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction whose outbox rows go to the relay once it committed."""
        return transaction(self.engine, self.hand_off)

    def _shared_transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self.hand_off, connect=self._shared_connection.connect)

    async def close(self) -> None:
        """Give back the connections the store's serial writers keep."""
        await self._shared_connection.close()
        await self._submits.close()

    async def _emit(self, conn: AsyncConnection, rows: list[dict]) -> None:
        if rows:
            await conn.execute(insert(OUTBOX), rows)
            remember(conn, rows)

    async def _write(self, conn: AsyncConnection, change: Change) -> uuid.UUID | None:
        """Write ``change`` (in the caller's transaction) with one statement; with a
        ``held_owner``, the id of that owner's next held task (locked), if any. In a
        shared transaction the change joins its group's writes instead (one statement
        for them all, see _write_group_changes), which let the held tasks in."""
        remember(conn, change.outbox)  # forgotten if the transaction rolls back
        if isinstance(conn, SharedConnection):
            conn.defer(change)
            return None
        rows = await change.statement().run(conn, change.parameters())
        return rows[0][0] if change.held_owner is not None and rows else None

    async def _write_group_changes(self, conn: AsyncConnection, changes: list[Change]) -> None:
        """The deferred changes of a shared transaction, and the held tasks they let in."""
        held = await write_changes(conn, changes)
        now = utcnow()
        for task_id in held:
            await self._release_held_task(conn, task_id, now)

    @staticmethod
    def _check_owner(row, task_id: str, owner: str | None) -> None:
        if row is None or (owner is not None and row.owner != owner):
            raise task_not_found(task_id)

    def _check_expired(self, row) -> None:
        if row.expires_at <= utcnow():
            raise task_expired(str(row.id))

    # --- create -------------------------------------------------------------------

    async def create(self, request: tasks_pb2.CreateTaskRequest, origin: str = "") -> tuple[tasks_pb2.Task, Outgoing]:
        """Create the task ``request`` asks for; ``origin``: where its submit came to (the
        webhook's download links point there when no public base URL is set)."""
        options = request.options
        priority = topology.priority_of(options.priority)
        if priority is None:
            raise invalid_input(f"priority must be one of {', '.join(topology.PRIORITIES)}", field="priority")
        max_attempts = options.max_attempts or self.settings.max_attempts
        if not 1 <= max_attempts <= 10:
            raise invalid_input("max_attempts must be between 1 and 10", field="max_attempts")
        metadata = check_metadata(options.metadata, self.settings)
        check_webhook_events(options)
        input_bytes = _without_secrets(request.task_type, request.input).SerializeToString(deterministic=True)
        request_hash = hashlib.sha256(
            request.task_type.encode() + input_bytes + options.SerializeToString(deterministic=True)
        ).hexdigest()
        owner = request.owner
        now = utcnow()
        cache_key = owner_cache_key(owner, request.cache_key) if request.cache_key else ""
        row = _NewRow(request, priority, max_attempts, metadata, input_bytes, request_hash, cache_key, now, origin)
        if request.task_type in topology.TASK_TYPES and await self._admits_from_counts(owner, request.task_type):
            # Nothing to decide in a transaction: the submit joins a group commit (see
            # .submits), unless its result is cached. A taken idempotency key writes
            # nothing and is answered below, with the earlier task.
            cached = await self._cached_output(cache_key, now) if cache_key and not options.no_cache else None
            if cached is None:
                new = self._new_task(row, held=False, cached=None)
                if await self._submits.insert(new.rows):
                    if self.hand_off is not None:
                        self.hand_off(new.rows.outbox)  # committed with its group
                    return new.task, new.outgoing
        # The idempotency key (the client's, or one the media service made up for its own
        # retries) is looked up only when the insert finds it taken or admission refuses:
        # nearly every submit is a first try, and the lookup up front cost a round trip each.
        async with self._transaction() as conn:
            await self._check_task_type(conn, request.task_type)
            cached = None
            if cache_key and not options.no_cache:
                cached = (
                    await conn.execute(select(CACHE).where(CACHE.c.cache_key == cache_key, CACHE.c.expires_at > now))
                ).first()
            # A cache hit uses no slot and no queue: it skips admission. Otherwise admission
            # comes last before the inserts: it takes the owner's lock, held to commit.
            try:
                held = (
                    False
                    if cached is not None
                    else await self._admission(conn, owner, request.task_type, options.wait_turn)
                )
            except MediaTasksError:
                # A retry of a submit that committed answers with its task, never a refusal.
                if request.idempotency_key:
                    existing = await self._by_idempotency_key(conn, owner, request.idempotency_key, request_hash)
                    if existing is not None:
                        return existing, Outgoing()
                raise
            new = self._new_task(row, held=held, cached=cached)
            statement = _CREATE_IDEMPOTENT if request.idempotency_key else _CREATE
            inserted = await conn.execute(
                statement, {**new.rows.values, **rows_parameters(new.rows.logs, new.rows.outbox)}
            )
            if inserted.first() is None:  # a concurrent request with the same key won the race
                existing = await self._by_idempotency_key(conn, owner, request.idempotency_key, request_hash)
                assert existing is not None
                return existing, Outgoing()
            remember(conn, new.rows.outbox)
            if cached is not None:
                await conn.execute(update(CACHE).where(CACHE.c.cache_key == cache_key).values(hits=CACHE.c.hits + 1))
        return new.task, new.outgoing

    def _new_task(self, row: _NewRow, *, held: bool, cached: Any) -> _Created:
        """The rows of a new task: queued, held back for its turn, or ``cached`` (a hit of
        the result cache, completed at once)."""
        request, options, now = row.request, row.request.options, row.now
        task_id = uuid.uuid4()
        values = {
            "id": task_id,
            "task_type": request.task_type,
            "status": QUEUED,
            "progress": 0,
            "stage": "queued",
            "priority": row.priority,
            "priority_rank": PRIORITY_RANK[row.priority],
            "owner": request.owner,
            "input": row.input_bytes,
            "output": None,
            "error": None,
            "attempt": 0,
            "max_attempts": row.max_attempts,
            "failures": 0,
            "lost_attempts": 0,
            "provider": request.provider or options.provider,
            "model": "",
            "cost_usd": 0.0,
            "cache_hit": False,
            "cancel_confirmed": False,
            "webhook_url": options.webhook_url,
            "webhook_secret": self.secrets.seal(options.webhook_secret),
            "webhook_events": list(options.webhook_events),
            "webhook_origin": row.origin[:255] if options.webhook_url else "",
            "metadata": row.metadata,
            "queued_reason": OWNER_LIMIT_REASON if held else "",
            "claim": "",
            "idempotency_key": request.idempotency_key or None,
            "request_hash": row.request_hash,
            "cache_key": row.cache_key or None,
            "dead_lettered_at": None,
            "created_at": now,
            "started_at": None,
            "updated_at": now,
            "completed_at": None,
            "expires_at": now + dt.timedelta(seconds=self.settings.task_ttl_seconds),
            "next_attempt_at": None,
        }
        if cached is not None:
            values.update(
                status=COMPLETED,
                progress=100,
                stage="completed",
                output=cached.output,
                cache_hit=True,
                provider=cached.provider,
                model=cached.model,
                completed_at=now,
                started_at=now,
                queued_reason="",
            )
        elif held:
            values["stage"] = "waiting_for_turn"
        task = task_to_proto(SimpleNamespace(**values))
        slim = _event_task(task)
        if cached is not None:
            line = f"completed from the result cache (provider {cached.provider or 'local'}"
            line += f", model {cached.model})" if cached.model else ")"
        elif held:
            line = f"waiting for its turn: the owner has {self.settings.owner_concurrency_limit} tasks running"
        else:
            line = f"queued ({row.priority} priority, up to {row.max_attempts} attempts)"
        logs, created = _log_lines(task_id, 0, now, [f"created as {request.task_type}", line])
        outbox = _event_rows(slim, "task.created", now, created)
        outgoing = Outgoing(events=1)
        if cached is not None:
            outbox.extend(_event_rows(slim, "task.completed", now))
            outgoing.events += 1
        elif not held:
            outbox.append(_job_row(task, str(task_id), now))
            outgoing.jobs = 1
        return _Created(task, outgoing, NewTask(values, logs, outbox))

    async def _cached_output(self, cache_key: str, now: dt.datetime) -> Any:
        """The live result-cache entry of ``cache_key``, read outside any transaction."""
        async with self.reads.connect() as conn:
            query = select(CACHE.c.cache_key).where(CACHE.c.cache_key == cache_key, CACHE.c.expires_at > now)
            return (await conn.execute(query)).first()

    async def _check_task_type(self, conn: AsyncConnection, task_type: str) -> None:
        """A media type of the catalog, or a type some worker declared; else INVALID_INPUT."""
        if task_type in topology.TASK_TYPES:
            return
        declared = (await conn.execute(select(TASK_TYPES.c.name).where(TASK_TYPES.c.name == task_type))).first()
        if declared is None:
            raise invalid_input(f"unknown task_type {task_type!r}", field="task_type")

    async def _admission(self, conn: AsyncConnection, owner: str, task_type: str, wait_turn: bool) -> bool:
        """Apply the per-owner concurrency limit and the queue bound; True when the new
        task must be held back (queued in the database, not yet published) for its turn.

        Holding an owner's excess tasks out of JetStream is also what makes scheduling
        fair: no owner ever has more than ``owner_concurrency_limit`` jobs in the queue,
        so one owner's backlog cannot starve another owner's job.
        """
        queued = await self._queued_count(conn, task_type)
        if queued >= self.settings.queue_bound:
            raise MediaTasksError(
                grpc.StatusCode.UNAVAILABLE,
                "SERVER_BUSY",
                f"{queued} {task_type} tasks are already queued; try again later",
                http_status=503,
                metadata={"queued": str(queued)},
            )
        limit = self.settings.owner_concurrency_limit
        if self._far_below_limit(owner):
            return False
        active = await self._active_count(conn, owner)
        if active + _FAR_BELOW_LIMIT < limit:
            if len(self._active_cache) > 10_000:  # many owners: start over rather than grow
                self._active_cache.clear()
            self._active_cache[owner] = (time.monotonic(), active + 1)
        if active + _LOCK_HEADROOM < limit:
            # Far below the limit: no concurrent burst can cross it, so skip the lock that
            # would serialise every submit of this owner (and hold pool connections).
            return False
        # Near the limit: serialise this owner's submits (lock held to commit) and recount.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner})
        active = await self._active_count(conn, owner)
        if active < self.settings.owner_concurrency_limit:
            return False
        if wait_turn:
            return True
        raise MediaTasksError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "CONCURRENCY_LIMIT",
            f"owner has {active} tasks queued or running; the limit is {self.settings.owner_concurrency_limit} "
            "(send wait_turn: true to queue behind them)",
            metadata={"limit": str(self.settings.owner_concurrency_limit)},
            # Waiting and trying again is exactly right: one of the owner's tasks will end.
            retryable=True,
            retry_after_seconds=CONCURRENCY_RETRY_AFTER_SECONDS,
        )

    def _far_below_limit(self, owner: str) -> bool:
        """Whether ``owner`` was very far below its limit a second ago, counting this
        replica's admissions since then (each call is one): other replicas would need
        _FAR_BELOW_LIMIT submits in that second to reach the limit. Counting thousands
        of an owner's active tasks on every submit of a burst was most of PostgreSQL's
        CPU per job."""
        recent = self._active_cache.get(owner)
        if recent is None or time.monotonic() - recent[0] >= _ACTIVE_CACHE_SECONDS:
            return False
        self._active_cache[owner] = (recent[0], recent[1] + 1)
        return recent[1] + _FAR_BELOW_LIMIT < self.settings.owner_concurrency_limit

    def _admits_uncounted(self, owner: str, task_type: str) -> bool:
        """Admission from the last second's counts alone: the type's queue is far from
        its bound and the owner far below its limit. False means: count, in a transaction."""
        queued = self._queued_cache.get(task_type)
        if queued is None or time.monotonic() - queued[0] >= 1.0 or queued[1] >= self.settings.queue_bound:
            return False
        return self._far_below_limit(owner)

    async def _admits_from_counts(self, owner: str, task_type: str) -> bool:
        """:meth:`_admits_uncounted`, after bringing counts older than a second up to date.

        When the counts expire, every submit in flight would otherwise find them stale and
        take the counting transaction of its own (in a burst, dozens of them each second,
        each counting the same rows: two fifths of a submit's time in the registry). One
        refresh per owner and type runs; the submits meanwhile wait for it.
        """
        if self._admits_uncounted(owner, task_type):
            return True
        if not self._counts_stale(owner, task_type):
            return False  # fresh, and near a limit: count in a transaction, with the lock
        key = (owner, task_type)
        refresh = self._refreshing.get(key)
        if refresh is None:
            refresh = self._refreshing[key] = asyncio.ensure_future(self._refresh_counts(owner, task_type))
            refresh.add_done_callback(lambda _: self._refreshing.pop(key, None))
        try:
            await asyncio.shield(refresh)
        except Exception:  # the database is away: the transaction below says so
            return False
        return self._admits_uncounted(owner, task_type)

    def _counts_stale(self, owner: str, task_type: str) -> bool:
        now = time.monotonic()
        queued = self._queued_cache.get(task_type)
        active = self._active_cache.get(owner)
        return queued is None or now - queued[0] >= 1.0 or active is None or now - active[0] >= _ACTIVE_CACHE_SECONDS

    async def _refresh_counts(self, owner: str, task_type: str) -> None:
        """Count a type's queued tasks and an owner's active ones for admission, outside a
        transaction: both are advisory far from the limits (see _admission)."""
        async with self.reads.connect() as conn:
            await self._queued_count(conn, task_type)
            recent = self._active_cache.get(owner)
            if recent is not None and time.monotonic() - recent[0] < _ACTIVE_CACHE_SECONDS:
                return
            counted_at = time.monotonic()
            active = await self._active_count(conn, owner)
        if len(self._active_cache) > 10_000:  # many owners: start over rather than grow
            self._active_cache.clear()
        # Kept near the limit too: _far_below_limit then says no (count, with the lock),
        # and the next second's submits do not refresh again first.
        self._active_cache[owner] = (counted_at, active)

    async def _active_count(self, conn: AsyncConnection, owner: str) -> int:
        """The owner's queued (not held) and running tasks, counted up to the limit: only
        whether the limit is reached matters, and counting all of an owner's thousands of
        active tasks on every submit was ~6% of the registry's CPU in a burst."""
        active = (
            select(TASKS.c.id)
            .where(TASKS.c.owner == owner, TASKS.c.status.in_((QUEUED, PROCESSING)), TASKS.c.queued_reason == "")
            .limit(self.settings.owner_concurrency_limit)
            .subquery()
        )
        return int((await conn.execute(select(func.count()).select_from(active))).scalar_one())

    async def _queued_count(self, conn: AsyncConnection, task_type: str) -> int:
        """Queued tasks of a type; the bound is a coarse guard, so a 1 s old count will do."""
        now = time.monotonic()
        cached = self._queued_cache.get(task_type)
        if cached and now - cached[0] < 1.0:
            return cached[1]
        count = (
            await conn.execute(
                select(func.count()).select_from(TASKS).where(TASKS.c.task_type == task_type, TASKS.c.status == QUEUED)
            )
        ).scalar_one()
        self._queued_cache[task_type] = (now, int(count))
        return int(count)

    async def _release_held(self, conn: AsyncConnection, owner: str, now: dt.datetime) -> int:
        """An owner's task ended: publish that owner's next held task, if any."""
        row = (
            await conn.execute(
                select(TASKS.c.id)
                .where(TASKS.c.owner == owner, TASKS.c.status == QUEUED, TASKS.c.queued_reason == OWNER_LIMIT_REASON)
                .order_by(TASKS.c.priority_rank, TASKS.c.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return 0
        await self._release_held_task(conn, row.id, now)
        return 1

    async def _release_held_task(self, conn: AsyncConnection, task_id: uuid.UUID, now: dt.datetime) -> None:
        """Publish a held task (locked by the caller): its owner's turn came."""
        updated = (
            await conn.execute(
                update(TASKS)
                .where(TASKS.c.id == task_id)
                .values(queued_reason="", stage="queued", updated_at=now)
                .returning(TASKS)
            )
        ).one()
        # Keyed by attempt: a task held again after a retry must not collide with its first
        # job in JetStream's duplicate window, yet a relay retry of this row still dedupes.
        msg_id = f"{task_id}:turn:{updated.attempt}" if updated.attempt else str(task_id)
        await self._emit(conn, [_job_row(task_to_proto(updated, include_input=False), msg_id, now)])

    async def _by_idempotency_key(self, conn, owner: str, key: str, request_hash: str):
        row = (await conn.execute(select(TASKS).where(TASKS.c.owner == owner, TASKS.c.idempotency_key == key))).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise MediaTasksError(
                grpc.StatusCode.ALREADY_EXISTS,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was already used with a different request body",
                metadata={"task_id": str(row.id)},
            )
        return task_to_proto(row)

    # --- reads --------------------------------------------------------------------

    async def _check_tombstone(self, conn: AsyncConnection, task_id: str, owner: str | None) -> None:
        """Raise TASK_EXPIRED for a task the housekeeper purged (an expired task stays
        expired, not unknown); nothing for a task that never was, or was someone else's."""
        found = (
            await conn.execute(select(TOMBSTONES.c.owner).where(TOMBSTONES.c.id == parse_task_id(task_id)))
        ).first()
        if found is not None and (owner is None or found.owner == owner):
            raise task_expired(task_id)

    async def get(self, task_id: str, owner: str | None) -> tasks_pb2.Task:
        async with self.reads.connect() as conn:
            row = await self._load(conn, parse_task_id(task_id))
            if row is None:
                await self._check_tombstone(conn, task_id, owner)
            self._check_owner(row, task_id, owner)
            self._check_expired(row)
            task = task_to_proto(row)
            if row.status == QUEUED:
                task.queue_position = await self._queue_position(conn, row)
        return task

    async def get_row(self, task_id: str, owner: str | None):
        async with self.reads.connect() as conn:
            row = await self._load(conn, parse_task_id(task_id))
            if row is None:
                await self._check_tombstone(conn, task_id, owner)
        self._check_owner(row, task_id, owner)
        self._check_expired(row)
        return row

    async def _queue_position(self, conn: AsyncConnection, row) -> int:
        ahead = await conn.execute(
            select(func.count())
            .select_from(TASKS)
            .where(
                TASKS.c.task_type == row.task_type,
                TASKS.c.status == QUEUED,
                or_(
                    TASKS.c.priority_rank < row.priority_rank,
                    and_(TASKS.c.priority_rank == row.priority_rank, TASKS.c.created_at < row.created_at),
                ),
            )
        )
        return int(ahead.scalar_one()) + 1

    async def list(self, owner: str | None, request: tasks_pb2.ListTasksRequest) -> tasks_pb2.ListTasksResponse:
        limit = page_limit(request.limit, default=50, maximum=200)
        if request.offset < 0:
            raise invalid_input("offset must not be negative", field="offset")
        column_name, descending = sort_spec(request.sort)
        column = TASKS.c[column_name]
        filters = [TASKS.c.expires_at > utcnow()]
        if owner is not None:
            filters.append(TASKS.c.owner == owner)
        if request.task_type:
            async with self.reads.connect() as conn:
                await self._check_task_type(conn, request.task_type)
            filters.append(TASKS.c.task_type == request.task_type)
        if request.status:
            status = request.status.upper()
            if status not in ACTIVE | TERMINAL:
                raise invalid_input(f"unknown status {request.status!r}", field="status")
            filters.append(TASKS.c.status == status)
        page_filters = list(filters)
        offset = request.offset
        if request.page_token:
            cursor = decode_token(request.page_token, request.sort)
            value, last_id = cursor
            if descending:
                page_filters.append(or_(column < value, and_(column == value, TASKS.c.id < last_id)))
            else:
                page_filters.append(or_(column > value, and_(column == value, TASKS.c.id > last_id)))
            offset = 0
        order = (column.desc(), TASKS.c.id.desc()) if descending else (column.asc(), TASKS.c.id.asc())
        async with self.reads.connect() as conn:
            # Counted up to LIST_TOTAL_CAP rows only: an exact count(*) over a million
            # matching tasks took most of a list call; at the cap the servicer says the
            # total is capped (total_capped()).
            matching = select(TASKS.c.id).where(*filters).limit(LIST_TOTAL_CAP).subquery()
            total = (await conn.execute(select(func.count()).select_from(matching))).scalar_one()
            rows = (
                await conn.execute(select(TASKS).where(*page_filters).order_by(*order).limit(limit + 1).offset(offset))
            ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        response = tasks_pb2.ListTasksResponse(total=total, limit=limit, offset=request.offset)
        response.items.extend(task_to_proto(row, include_input=False) for row in rows)
        if more and rows:
            last = rows[-1]
            response.next_page_token = encode_token(getattr(last, column_name), last.id, request.sort)
        return response

    async def logs(self, task_id: str, owner: str | None, limit: int) -> Sequence[Row[Any]]:
        row = await self.get_row(task_id, owner)
        async with self.reads.connect() as conn:
            return (
                await conn.execute(
                    select(LOGS)
                    .where(LOGS.c.task_id == row.id)
                    .order_by(LOGS.c.id)
                    .limit(page_limit(limit, default=500, maximum=5000))
                )
            ).all()

    # --- client actions -----------------------------------------------------------

    async def cancel(self, task_id: str, owner: str | None, reason: str) -> tuple[tasks_pb2.Task, bool]:
        """Cancel; returns the task and whether a worker is running it (must be told)."""
        now = utcnow()
        async with self._transaction() as conn:
            row = await self._load(conn, parse_task_id(task_id), lock=True)
            self._check_owner(row, task_id, owner)
            self._check_expired(row)
            if row.status in TERMINAL:
                if row.status == CANCELLED:
                    return task_to_proto(row), False
                raise MediaTasksError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "TASK_ALREADY_FINISHED",
                    f"task {task_id} is already {row.status}",
                    http_status=409,
                )
            error = {
                "code": "CANCELLED",
                "reason": "CANCELLED",
                "message": reason or "cancelled by the client",
                "retryable": False,
            }
            updated = (
                await conn.execute(
                    update(TASKS)
                    .where(TASKS.c.id == row.id)
                    .values(
                        status=CANCELLED,
                        stage="cancelled",
                        error=error,
                        updated_at=now,
                        completed_at=now,
                        # A held task that is cancelled is no longer waiting for its turn.
                        queued_reason="",
                    )
                    .returning(TASKS)
                )
            ).first()
            task = task_to_proto(updated)
            note = f"cancelled: {reason}" if reason else "cancelled by the client"
            if row.status == PROCESSING:
                note += f" during attempt {row.attempt} (the worker is told to stop)"
            logs, logged = _log_lines(row.id, row.attempt, now, [note])
            cancelled = _event_rows(_event_task(task), "task.cancelled", now, logged)
            await self._write(conn, Change(row.id, {}, logs, cancelled))
            if not row.queued_reason:
                await self._release_held(conn, row.owner, now)
        return task, row.status == PROCESSING

    async def retry(self, task_id: str, owner: str | None) -> tasks_pb2.Task:
        now = utcnow()
        async with self._transaction() as conn:
            row = await self._load(conn, parse_task_id(task_id), lock=True)
            self._check_owner(row, task_id, owner)
            self._check_expired(row)
            if row.status not in (FAILED, CANCELLED):
                raise MediaTasksError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "TASK_NOT_RETRYABLE",
                    f"only FAILED or CANCELLED tasks can be retried; task {task_id} is {row.status}",
                    http_status=409,
                )
            # A retry is a new submit for the owner's limit: past it, the task waits its turn
            # (held, not published), so retrying thousands of tasks cannot crowd others out.
            held = await self._admission(conn, row.owner, row.task_type, wait_turn=True)
            # Back to QUEUED: out of the statistics rollups, if it was in them.
            await rollups.take_out(conn, [row.id])
            updated = (
                await conn.execute(
                    update(TASKS)
                    .where(TASKS.c.id == row.id)
                    .values(
                        status=QUEUED,
                        stage="waiting_for_turn" if held else "queued",
                        queued_reason=OWNER_LIMIT_REASON if held else "",
                        progress=0,
                        error=None,
                        output=None,
                        updated_at=now,
                        completed_at=None,
                        next_attempt_at=None,
                        dead_lettered_at=None,
                        cancel_confirmed=False,
                        # A manual retry grants a fresh budget of attempts.
                        failures=0,
                        lost_attempts=0,
                    )
                    .returning(TASKS)
                )
            ).first()
            task = task_to_proto(updated)
            note = f"retried by hand after {row.status}: a fresh budget of {row.max_attempts} attempts"
            if held:
                note += "; waiting for its turn (owner concurrency limit)"
            logs, logged = _log_lines(row.id, row.attempt, now, [note])
            outbox = _event_rows(_event_task(task), "task.retrying", now, logged)
            if not held:
                outbox.append(_job_row(task, f"{task_id}:retry:{row.attempt}:{uuid.uuid4().hex[:8]}", now))
            await self._write(conn, Change(row.id, {}, logs, outbox))
        return task

    # ``builtins.list``: in this class ``list`` names the method above.
    async def delete(self, task_id: str, owner: str | None) -> tuple[tasks_pb2.Task, builtins.list[str]]:
        """Delete a finished task; returns it and the artifact ids to remove."""
        async with self._transaction() as conn:
            row = await self._load(conn, parse_task_id(task_id), lock=True)
            self._check_owner(row, task_id, owner)
            task = task_to_proto(row)
            artifact_ids = [a.artifact_id for a in task.output.artifacts] if not row.cache_hit else []
            await rollups.take_out(conn, [row.id])
            await conn.execute(delete(TASKS).where(TASKS.c.id == row.id))
        return task, artifact_ids

    # --- worker side --------------------------------------------------------------

    async def start_attempt(self, request: tasks_pb2.StartAttemptRequest) -> tasks_pb2.StartAttemptResponse:
        now = utcnow()
        task_id = _task_key(request.task_id)
        if task_id is None:
            return tasks_pb2.StartAttemptResponse(proceed=False, reason=UNKNOWN_TASK)

        async def change(conn: AsyncConnection):
            row = await self._load(conn, task_id, lock=True)
            decided = await self._decide_start(conn, row, request, now)
            if isinstance(decided, tasks_pb2.StartAttemptResponse):
                return decided
            task = task_to_proto(_updated(row, decided.values))
            logs, logged = _log_lines(task_id, decided.attempt, now, decided.lines)
            started = _event_rows(_event_task(task), "task.started", now, logged)
            await self._write(conn, Change(task_id, decided.values, logs, started))
            return tasks_pb2.StartAttemptResponse(proceed=True, attempt=decided.attempt, task=task)

        return await self._shared.run(change, lock=task_id)

    async def _decide_start(
        self,
        conn: AsyncConnection,
        row: Any,
        request: tasks_pb2.StartAttemptRequest,
        now: dt.datetime,
        *,
        started_at: dt.datetime | None = None,
        recorded: str = "",
    ) -> tasks_pb2.StartAttemptResponse | _Start:
        """What StartAttempt does with ``row`` (locked): the answer when it does not start
        a new attempt (a refusal, or the same delivery asking again), else the start's
        values and log lines, for the caller to write. ``started_at`` (default ``now``) and
        ``recorded`` (appended to the start's log line) are for a start recorded later
        than it happened."""
        if row is None:
            return tasks_pb2.StartAttemptResponse(proceed=False, reason=UNKNOWN_TASK)
        if row.status in TERMINAL:
            return tasks_pb2.StartAttemptResponse(proceed=False, reason=row.status)
        if row.status == QUEUED and not await self._below_capacity(conn, row.task_type):
            # Global capacity: the job waits in JetStream (the worker naks it).
            return tasks_pb2.StartAttemptResponse(proceed=False, reason=CAPACITY)
        claim = f"{request.worker_id}/{request.delivery_count}"
        if row.status == PROCESSING and request.worker_id and row.claim == claim:
            # The same worker asking again for the same delivery: its first call
            # committed but the answer was lost (a registry replica died).
            return tasks_pb2.StartAttemptResponse(proceed=True, attempt=row.attempt, task=task_to_proto(row))
        if row.status == PROCESSING and request.delivery_count <= 1:
            # A job message the relay published twice (dedupe window passed): the first
            # delivery's attempt is alive; this copy must not start a second one.
            return tasks_pb2.StartAttemptResponse(proceed=False, reason=ALREADY_RUNNING)
        lost_attempts = row.lost_attempts
        if row.status == PROCESSING:
            # JetStream redelivered a job whose attempt never ended: that attempt is lost.
            lost_attempts += 1
            if lost_attempts >= self.settings.max_deliver:
                await self._dead_letter(conn, row, lost_attempts, now)
                return tasks_pb2.StartAttemptResponse(proceed=False, reason=DEAD_LETTERED)
        attempt = row.attempt + 1
        values = {
            "status": PROCESSING,
            "attempt": attempt,
            "stage": "starting",
            "progress": 0,
            "started_at": started_at or now,
            "updated_at": now,
            "next_attempt_at": None,
            "queued_reason": "",
            "claim": claim,
            "lost_attempts": lost_attempts,
        }
        lines = []
        if row.status == PROCESSING:
            lines.append(f"attempt {row.attempt} was lost (its worker stopped answering)")
        lines.append(
            f"started attempt {attempt} of {row.max_attempts} on worker {request.worker_id or 'unknown'}"
            f" (delivery {request.delivery_count}){recorded}"
        )
        return _Start(attempt, values, lines)

    async def _below_capacity(self, conn: AsyncConnection, task_type: str) -> bool:
        """Whether one more ``task_type`` job may start. Far below ``capacity_per_type`` the
        running tasks are counted without a lock: no burst of concurrent starts can cross
        it. Within :data:`_LOCK_HEADROOM` of it, concurrent starts (any replica) count one
        after another under a transaction-scoped advisory lock per type, so together they
        never overshoot. The lock is per type and only near the cap: never global. Very far
        below it, a count under a second old will do."""
        capacity = self.settings.capacity_per_type
        recent = self._running_cache.get(task_type)
        if recent is not None and time.monotonic() - recent[0] < _ACTIVE_CACHE_SECONDS:
            # Counted under a second ago, plus the starts admitted here since: as with an
            # owner's limit, other replicas would need _FAR_BELOW_LIMIT starts in that
            # second to reach the cap, so this start needs no count of its own.
            self._running_cache[task_type] = (recent[0], recent[1] + 1)
            if recent[1] + _FAR_BELOW_LIMIT < capacity:
                return True
        running = await self._running_count(conn, task_type)
        if running + _FAR_BELOW_LIMIT < capacity:
            if len(self._running_cache) > 10_000:
                self._running_cache.clear()
            self._running_cache[task_type] = (time.monotonic(), running + 1)
        if running + _LOCK_HEADROOM < capacity:
            return True
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"capacity:{task_type}", 0))))
        return await self._running_count(conn, task_type) < capacity

    async def _running_count(self, conn: AsyncConnection, task_type: str) -> int:
        """``task_type``'s running tasks, counted up to the capacity (more never matters)."""
        running = (
            select(TASKS.c.id)
            .where(TASKS.c.task_type == task_type, TASKS.c.status == PROCESSING)
            .limit(self.settings.capacity_per_type)
            .subquery()
        )
        return int((await conn.execute(select(func.count()).select_from(running))).scalar_one())

    async def _dead_letter(self, conn: AsyncConnection, row: Any, lost_attempts: int, now: dt.datetime) -> None:
        """End a task whose attempts keep vanishing (a job that kills its worker, say)."""
        error = common_pb2.TaskError(
            code="ABORTED",
            reason="DELIVERY_EXHAUSTED",
            message=f"{lost_attempts} attempts started and never finished (max_deliver={self.settings.max_deliver})",
            retryable=False,
        )
        await self._end_failed(conn, row, error, now, lost_attempts=lost_attempts, dead_lettered_at=now)

    async def _end_failed(
        self, conn: AsyncConnection, row: Any, error: common_pb2.TaskError, now: dt.datetime, **values: Any
    ) -> tasks_pb2.Task:
        """Move ``row``'s task to FAILED with ``error`` (and ``values``), tell the events
        stream, and let the owner's next held task in."""
        updated = (
            await conn.execute(
                update(TASKS)
                .where(TASKS.c.id == row.id)
                .values(
                    status=FAILED,
                    stage="failed",
                    error=error_to_json(error),
                    updated_at=now,
                    completed_at=now,
                    **values,
                )
                .returning(TASKS)
            )
        ).one()
        task = task_to_proto(updated)
        logs, logged = _log_lines(row.id, row.attempt, now, [f"failed: {error.reason}: {error.message}"], "ERROR")
        failed = _event_rows(_event_task(task), EVENT_FOR_STATUS[FAILED], now, logged)
        await self._write(conn, Change(row.id, {}, logs, failed))
        await self._release_held(conn, row.owner, now)
        return task

    async def _fenced_row(self, conn: AsyncConnection, task_id: str, attempt: int):
        return self._fence(await self._load(conn, parse_task_id(task_id), lock=True), task_id, attempt)

    @staticmethod
    def _fence(row, task_id: str, attempt: int):
        """``row`` when ``attempt`` is its task's current, running attempt; else the error
        that says why not."""
        if row is None:
            raise task_not_found(task_id)
        if row.status == CANCELLED:
            raise MediaTasksError(grpc.StatusCode.FAILED_PRECONDITION, TASK_CANCELLED, f"task {task_id} was cancelled")
        if row.attempt != attempt or row.status != PROCESSING:
            raise stale_attempt(task_id, attempt, row.attempt)
        return row

    async def report_progress(
        self, request: tasks_pb2.ReportProgressRequest, *, emit_event: bool
    ) -> tuple[bool, tasks_pb2.Task | None]:
        """Returns (cancel_requested, the task if a progress event was emitted)."""
        now = utcnow()

        async def change(conn: AsyncConnection):
            try:
                row = await self._fenced_row(conn, request.task_id, request.attempt)
            except MediaTasksError as error:
                if error.reason == TASK_CANCELLED:
                    return True, None
                raise
            values = {
                "progress": max(0, min(100, request.progress)),
                "stage": request.stage or row.stage,
                "updated_at": now,
            }
            updated = _updated(row, values)
            logs, logged = _log_lines(row.id, request.attempt, now, request.log_lines)
            task = None
            outbox = []
            # A heartbeat (nothing new) refreshes updated_at, the reconciler's sign of life,
            # but is no progress event. Progress events keep their rate (``emit_event``);
            # log lines between them go out at once as task.log events, so the live log
            # loses nothing and webhooks (which skip task.log unless asked) see no more.
            changed = updated.progress != row.progress or updated.stage != row.stage
            progressed = emit_event and changed
            if progressed or logged:
                task = _event_task(task_to_proto(updated, include_input=False))
                outbox.extend(_event_rows(task, "task.progress" if progressed else LOG_EVENT, now, logged))
            await self._write(conn, Change(row.id, values, logs, outbox))
            return False, task if progressed else None

        return await self._shared.run(change, lock=_task_key(request.task_id))

    async def complete(self, request: tasks_pb2.CompleteTaskRequest) -> tasks_pb2.Task:
        now = utcnow()
        starting = request.HasField("start")
        if starting and (request.start.delivery_count != 1 or request.start.task_id != request.task_id):
            raise invalid_input("a completion carries its start only for the first delivery of its own task")

        async def change(conn: AsyncConnection):
            row = await self._load(conn, parse_task_id(request.task_id), lock=True)
            if row is not None and row.status == COMPLETED and row.attempt == request.attempt:
                return task_to_proto(row)  # the same attempt completing again (a retried RPC)
            values: dict[str, Any] = {}
            logs: list[Any] = []
            outbox: list[dict] = []
            if starting:
                # A quick job run before StartAttempt: started here, with StartAttempt's
                # checks, and completed in the same write.
                ran = dt.timedelta(seconds=min(max(request.run_seconds, 0.0), 3600.0))
                decided = await self._decide_start(
                    conn,
                    row,
                    request.start,
                    now,
                    started_at=now - ran,
                    recorded=", recorded with its completion (a quick job)",
                )
                if isinstance(decided, tasks_pb2.StartAttemptResponse):
                    raise start_refused(request.task_id, decided.reason if not decided.proceed else ALREADY_RUNNING)
                if decided.attempt != request.attempt:
                    raise stale_attempt(request.task_id, request.attempt, decided.attempt)
                row = _updated(row, decided.values)
                logs, logged = _log_lines(row.id, decided.attempt, now, decided.lines)
                outbox.extend(_event_rows(_event_task(task_to_proto(row)), "task.started", now, logged))
                values.update(decided.values)
            else:
                row = self._fence(row, request.task_id, request.attempt)
            output = request.output.SerializeToString()
            completion = {
                "status": COMPLETED,
                "progress": 100,
                "stage": "completed",
                "output": output,
                "error": None,
                "provider": request.provider or row.provider,
                "model": request.model,
                "cost_usd": row.cost_usd + request.cost_usd,
                "updated_at": now,
                "completed_at": now,
            }
            values.update(completion)
            cache_entry = None
            if row.cache_key:
                cache_entry = (row.cache_key, now + dt.timedelta(seconds=self.settings.result_cache_ttl_seconds))
            task = task_to_proto(_updated(row, completion))
            took = (now - row.started_at).total_seconds() if row.started_at else 0.0
            line = f"completed attempt {request.attempt} in {took:.1f}s with provider {task.provider or 'local'}"
            if request.model:
                line += f", model {request.model}"
            if request.cost_usd:
                line += f", cost ${request.cost_usd:.4f}"
            produced = len(request.output.artifacts)
            line += f"; {produced} file{'s' if produced != 1 else ''} produced"
            # The handler's last lines ride on the completion (one call, one event fewer).
            completed_logs, logged = _log_lines(row.id, request.attempt, now, [*request.log_lines, line])
            logs = [*logs, *completed_logs]
            outbox.extend(_event_rows(_event_task(task), "task.completed", now, logged))
            # One statement: the row, its cache entry, lines and events, and whether the
            # owner has a task held back for its turn (rarely: only at its limit).
            change = Change(row.id, values, logs, outbox, cache_entry=cache_entry, held_owner=row.owner)
            held = await self._write(conn, change)
            if held is not None:
                await self._release_held_task(conn, held, now)
            return task

        return await self._shared.run(change, lock=_task_key(request.task_id))

    async def fail_unpublishable(self, task_id: str, reason: str) -> bool:
        """Fail a task whose job message JetStream refused for good (the outbox relay
        parked it): it can never reach a worker, so waiting would strand it. True when the
        task was failed; a task that already moved on is left alone."""
        now = utcnow()
        error = common_pb2.TaskError(
            code="FAILED_PRECONDITION",
            reason="JOB_UNPUBLISHABLE",
            message=f"the job could not be queued: {reason}",
            retryable=False,
        )
        async with self._transaction() as conn:
            row = await self._load(conn, parse_task_id(task_id), lock=True)
            if row is None or row.status != QUEUED:
                return False
            await self._end_failed(conn, row, error, now)
        return True

    # --- reconciliation -------------------------------------------------------------

    async def requeue_lost(self, task_types: Iterable[str], silent_since: dt.datetime, limit: int = 200) -> int:
        """PROCESSING tasks of ``task_types`` whose attempt showed no sign of life (start,
        progress, heartbeat) since ``silent_since``: their worker is gone and no delivery
        of their job is coming (a stale attempt acked it, say). Each lost attempt counts
        against ``max_deliver``: the task is queued again with a new job (the next start
        fences the lost attempt out) or, with the budget used up, dead-lettered."""
        types = list(task_types)
        if not types:
            return 0
        now = utcnow()
        async with self._transaction() as conn:
            rows = (
                await conn.execute(
                    select(TASKS)
                    .where(
                        TASKS.c.status == PROCESSING, TASKS.c.updated_at < silent_since, TASKS.c.task_type.in_(types)
                    )
                    .order_by(TASKS.c.updated_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                lost_attempts = row.lost_attempts + 1
                if lost_attempts >= self.settings.max_deliver:
                    await self._dead_letter(conn, row, lost_attempts, now)
                    continue
                updated = (
                    await conn.execute(
                        update(TASKS)
                        .where(TASKS.c.id == row.id)
                        .values(
                            status=QUEUED,
                            stage="requeued_after_lost_worker",
                            lost_attempts=lost_attempts,
                            updated_at=now,
                        )
                        .returning(TASKS)
                    )
                ).one()
                task = task_to_proto(updated, include_input=False)
                line = f"attempt {row.attempt} showed no sign of life; queued again ({lost_attempts} lost so far)"
                logs, logged = _log_lines(row.id, row.attempt, now, [line], "WARNING")
                outbox = [
                    *_event_rows(_event_task(task), "task.retrying", now, logged),
                    _job_row(task, f"{row.id}:lost:{row.attempt}", now),
                ]
                await self._write(conn, Change(row.id, {}, logs, outbox))
        return len(rows)

    async def stale_queued(self, quiet_since: dt.datetime) -> dict[tuple[str, str], int]:
        """(task type, priority) -> how many QUEUED tasks there have waited since
        ``quiet_since`` (held tasks, which have no job by design, are not counted)."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(TASKS.c.task_type, TASKS.c.priority, func.count())
                    .where(
                        TASKS.c.status == QUEUED,
                        TASKS.c.queued_reason == "",
                        TASKS.c.updated_at < quiet_since,
                        or_(TASKS.c.next_attempt_at.is_(None), TASKS.c.next_attempt_at < quiet_since),
                    )
                    .group_by(TASKS.c.task_type, TASKS.c.priority)
                )
            ).all()
        return {(task_type, priority): count for task_type, priority, count in rows}

    async def republish_missing(self, task_type: str, priority: str, quiet_since: dt.datetime, limit: int = 500) -> int:
        """Give a new job to QUEUED tasks of one (type, priority) that waited since
        ``quiet_since`` with none in the outbox: the caller has seen that JetStream holds
        no job of theirs (the consumer has nothing pending), so without this they would
        wait for ever. A duplicate job would be harmless: fencing starts one attempt."""
        now = utcnow()
        pending_job = (
            select(OUTBOX.c.id)
            .where(OUTBOX.c.parked_at.is_(None), OUTBOX.c.msg_id.startswith(cast(TASKS.c.id, Text)))
            .exists()
        )
        async with self._transaction() as conn:
            rows = (
                await conn.execute(
                    select(TASKS)
                    .where(
                        TASKS.c.status == QUEUED,
                        TASKS.c.task_type == task_type,
                        TASKS.c.priority == priority,
                        TASKS.c.queued_reason == "",
                        TASKS.c.updated_at < quiet_since,
                        or_(TASKS.c.next_attempt_at.is_(None), TASKS.c.next_attempt_at < quiet_since),
                        ~pending_job,
                    )
                    .order_by(TASKS.c.priority_rank, TASKS.c.created_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await conn.execute(update(TASKS).where(TASKS.c.id.in_([row.id for row in rows])).values(updated_at=now))
            await self._emit(
                conn,
                [
                    _job_row(task_to_proto(row, include_input=False), f"{row.id}:requeued:{uuid.uuid4().hex[:8]}", now)
                    for row in rows
                ],
            )
        return len(rows)

    def backoff(self, attempt: int) -> float:
        """Seconds before the next attempt: the schedule's step, with ±20% jitter."""
        schedule = self.settings.retry_schedule() or [30.0]
        base = schedule[min(attempt - 1, len(schedule) - 1)]
        return base * random.uniform(0.8, 1.2)

    async def _backoff_of(self, conn: AsyncConnection, task_type: str, attempt: int) -> float:
        """The backoff of a declared type's own retry policy (exponential, capped, ±20%
        jitter), or the settings' schedule for media types."""
        if task_type in topology.TASK_TYPES:
            return self.backoff(attempt)
        policy = (await conn.execute(select(TASK_TYPES).where(TASK_TYPES.c.name == task_type))).first()
        if policy is None:
            return self.backoff(attempt)
        base = min(policy.base_delay_seconds * policy.backoff_factor ** (attempt - 1), policy.max_delay_seconds)
        return base * random.uniform(0.8, 1.2)

    async def fail(self, request: tasks_pb2.FailTaskRequest) -> tasks_pb2.FailTaskResponse:
        now = utcnow()
        error = error_to_json(request.error)
        async with self._transaction() as conn:
            if request.attempt == 0:
                # The runtime dead-lettering a job: no attempt holds the task any more.
                row = await self._load(conn, parse_task_id(request.task_id), lock=True)
                if row is None:
                    raise task_not_found(request.task_id)
                if row.status in TERMINAL:
                    return tasks_pb2.FailTaskResponse(task=task_to_proto(row))
                values: dict[str, Any] = {"dead_lettered_at": now}
                requeue = False
            elif request.error.reason == "CANCELLED":
                row = await self._load(conn, parse_task_id(request.task_id), lock=True)
                if row is None or row.status != CANCELLED:
                    raise stale_attempt(request.task_id, request.attempt, row.attempt if row else 0)
                if request.cost_usd:  # the cost of a task the statistics may have rolled already
                    await rollups.take_out(conn, [row.id])
                updated = (
                    await conn.execute(
                        update(TASKS)
                        .where(TASKS.c.id == row.id)
                        .values(cancel_confirmed=request.cancel_confirmed, cost_usd=row.cost_usd + request.cost_usd)
                        .returning(TASKS)
                    )
                ).first()
                if request.cost_usd:
                    await rollups.put_back(conn, [row.id])
                return tasks_pb2.FailTaskResponse(task=task_to_proto(updated))
            elif request.error.reason == WORKER_SHUTDOWN:
                # A worker stopping hands its job back: no budget is used, it runs again now.
                row = await self._fenced_row(conn, request.task_id, request.attempt)
                updated = (
                    await conn.execute(
                        update(TASKS)
                        .where(TASKS.c.id == row.id)
                        .values(status=QUEUED, stage="queued", updated_at=now, next_attempt_at=None)
                        .returning(TASKS)
                    )
                ).one()
                line = f"attempt {request.attempt} handed back: its worker is stopping; queued again (no attempt used)"
                logs, _ = _log_lines(row.id, request.attempt, now, [line], "WARNING")
                await self._write(conn, Change(row.id, {}, logs, []))
                return tasks_pb2.FailTaskResponse(task=task_to_proto(updated), requeued=True, retry_delay_seconds=0.0)
            else:
                row = await self._fenced_row(conn, request.task_id, request.attempt)
                values = {"failures": row.failures + 1}
                requeue = request.error.retryable and row.failures + 1 < row.max_attempts
            delay = await self._backoff_of(conn, row.task_type, row.failures + 1) if requeue else 0.0
            if requeue:
                values.update(
                    status=QUEUED,
                    stage="retry_scheduled",
                    error=error,
                    updated_at=now,
                    next_attempt_at=now + dt.timedelta(seconds=delay),
                )
                event_type = "task.retrying"
            else:
                values.update(status=FAILED, stage="failed", error=error, updated_at=now, completed_at=now)
                event_type = EVENT_FOR_STATUS[FAILED]
            values["cost_usd"] = row.cost_usd + request.cost_usd
            if request.provider:
                values["provider"] = request.provider
            updated = (
                await conn.execute(update(TASKS).where(TASKS.c.id == row.id).values(**values).returning(TASKS))
            ).first()
            task = task_to_proto(updated)
            why = f"{request.error.reason}: {request.error.message}"
            if requeue:
                line = (
                    f"attempt {request.attempt} failed ({why}); retrying in {delay:.1f}s"
                    f" as attempt {request.attempt + 1} of {row.max_attempts}"
                )
                level = "WARNING"
            elif request.attempt == 0:
                line, level = f"failed: {why} (dead-lettered)", "ERROR"
            else:
                line = f"failed on attempt {request.attempt} of {row.max_attempts}: {why}"
                if request.error.retryable:
                    line += " (no attempts left)"
                level = "ERROR"
            logs, logged = _log_lines(row.id, request.attempt, now, [line], level)
            await self._write(conn, Change(row.id, {}, logs, _event_rows(_event_task(task), event_type, now, logged)))
            if not requeue:
                await self._release_held(conn, row.owner, now)
        return tasks_pb2.FailTaskResponse(task=task, requeued=requeue, retry_delay_seconds=delay)

    # --- statistics ---------------------------------------------------------------

    async def statistics(
        self, owner: str | None, window_seconds: float, *, now: dt.datetime | None = None
    ) -> tasks_pb2.Statistics:
        """The window's figures from the incremental rollups (see :mod:`.rollups`)."""
        return await rollups.statistics(self.engine, owner, window_seconds, now or utcnow())

    async def cache_statistics(self, owner: str | None) -> tuple[int, int, int]:
        """``owner``'s live result-cache entries, the hits they answered, and the tasks
        completed from the cache (every owner's for None)."""
        entries = select(func.count(), func.coalesce(func.sum(CACHE.c.hits), 0)).select_from(
            CACHE.join(TASKS, TASKS.c.id == CACHE.c.task_id)
        )
        entries = entries.where(CACHE.c.expires_at > func.now())
        cached = select(func.count()).select_from(TASKS).where(TASKS.c.cache_hit.is_(True))
        if owner is not None:
            entries = entries.where(TASKS.c.owner == owner)
            cached = cached.where(TASKS.c.owner == owner)
        async with self.engine.connect() as conn:
            count, hits = (await conn.execute(entries)).one()
            tasks = (await conn.execute(cached)).scalar_one()
        return int(count), int(hits), int(tasks)

    async def mean_duration(self, task_type: str) -> float:
        """Mean run time of recent completed tasks of a type (for estimates; cached 10 s)."""
        now = time.monotonic()
        cached = self._mean_cache.get(task_type)
        if cached and now - cached[0] < 10.0:
            return cached[1]
        since = utcnow() - dt.timedelta(hours=1)
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.avg(func.extract("epoch", TASKS.c.completed_at - TASKS.c.started_at))).where(
                        TASKS.c.task_type == task_type,
                        TASKS.c.status == COMPLETED,
                        TASKS.c.completed_at >= since,
                        TASKS.c.cache_hit.is_(False),
                    )
                )
            ).scalar_one()
        self._mean_cache[task_type] = (now, float(value or 0.0))
        return float(value or 0.0)

    async def dead_letters(self, owner: str | None, task_type: str, limit: int) -> Sequence[Row[Any]]:
        filters: list[ColumnElement[bool]] = [TASKS.c.dead_lettered_at.isnot(None)]
        if owner is not None:
            filters.append(TASKS.c.owner == owner)
        if task_type:
            filters.append(TASKS.c.task_type == task_type)
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(TASKS)
                    .where(*filters)
                    .order_by(TASKS.c.dead_lettered_at.desc())
                    .limit(page_limit(limit, default=50, maximum=500))
                )
            ).all()


def task_error(code: str, reason: str, message: str, retryable: bool = False) -> common_pb2.TaskError:
    return common_pb2.TaskError(code=code, reason=reason, message=message, retryable=retryable)


@dataclass(frozen=True)
class QueueCount:
    """Waiting and running tasks of one (task type, priority)."""

    task_type: str
    priority: str
    pending: int
    running: int
    oldest_pending_age_seconds: float


class TaskTypeStore:
    """The task types workers declared, and the queue figures and cleanup the background
    API offers over every task type (declared or media)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(self, specs: Iterable[dict[str, Any]]) -> builtins.list[Row[Any]]:
        """Store each declared type (a later declaration of a name replaces the earlier
        one: the newest worker release defines the type); returns the rows."""
        now = utcnow()
        rows = []
        async with self.engine.begin() as conn:
            for spec in specs:
                values = {**spec, "updated_at": now}
                statement = (
                    pg_insert(TASK_TYPES)
                    .values(**values, created_at=now)
                    .on_conflict_do_update(index_elements=["name"], set_=values)
                    .returning(TASK_TYPES)
                )
                rows.append((await conn.execute(statement)).one())
        return rows

    async def get(self, name: str) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(TASK_TYPES).where(TASK_TYPES.c.name == name))).first()

    async def all(self) -> Sequence[Row[Any]]:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(TASK_TYPES).order_by(TASK_TYPES.c.name))).all()

    async def queue_counts(self, owner: str | None, task_types: Iterable[str] | None = None) -> list[QueueCount]:
        """Pending and running tasks per (type, priority), with the oldest pending age;
        every owner's when ``owner`` is None."""
        filters: list[ColumnElement[bool]] = [TASKS.c.status.in_((QUEUED, PROCESSING))]
        if owner is not None:
            filters.append(TASKS.c.owner == owner)
        if task_types is not None:
            filters.append(TASKS.c.task_type.in_(builtins.list(task_types)))
        now = utcnow()
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        TASKS.c.task_type,
                        TASKS.c.priority,
                        func.count().filter(TASKS.c.status == QUEUED),
                        func.count().filter(TASKS.c.status == PROCESSING),
                        func.min(TASKS.c.created_at).filter(TASKS.c.status == QUEUED),
                    )
                    .where(*filters)
                    .group_by(TASKS.c.task_type, TASKS.c.priority)
                    .order_by(TASKS.c.task_type, func.min(TASKS.c.priority_rank))
                )
            ).all()
        return [
            QueueCount(
                task_type, priority, int(pending), int(running), (now - oldest).total_seconds() if oldest else 0.0
            )
            for task_type, priority, pending, running, oldest in rows
        ]

    async def delete_finished(
        self, owner: str | None, older_than: dt.datetime, task_types: Iterable[str] | None = None
    ) -> tuple[int, builtins.list[str]]:
        """Delete finished tasks (completed, failed, cancelled) that ended before
        ``older_than``; every owner's when ``owner`` is None. Returns how many, and the
        artifact ids they owned (cache hits share another task's artifacts: not theirs)."""
        filters: list[ColumnElement[bool]] = [TASKS.c.status.in_(tuple(TERMINAL)), TASKS.c.completed_at < older_than]
        if owner is not None:
            filters.append(TASKS.c.owner == owner)
        if task_types is not None:
            filters.append(TASKS.c.task_type.in_(builtins.list(task_types)))
        async with self.engine.begin() as conn:
            # Locked before the delete: the statistics rollups lose exactly the rows it removes.
            watermark = await rollups.lock_watermark(conn)
            rows = (
                await conn.execute(
                    delete(TASKS).where(*filters).returning(TASKS.c.output, TASKS.c.cache_hit, *rollups.TASK_COLUMNS)
                )
            ).all()
            await rollups.take_out_rows(conn, rows, watermark)
        artifact_ids: builtins.list[str] = []
        for output, cache_hit, *_ in rows:
            if output and not cache_hit:
                artifact_ids.extend(a.artifact_id for a in tasks_pb2.TaskOutput.FromString(output).artifacts)
        return len(rows), artifact_ids
