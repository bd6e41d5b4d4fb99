"""How a task's state change is written: one statement per change, or one for many.

A change (:class:`Change`) is the new values of a task's columns, its log lines and its
outbox rows. :func:`change_statement` writes one change with one statement. In a shared
transaction (see :mod:`.transactions`) the changes of a group are instead written
together by :func:`write_changes`: one multi-row statement per set of columns written,
from arrays, so its text never changes with the group's size.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from mediatasks.registry.direct_sql import DirectStatement
from mediatasks.registry.submits import JSON_COLUMNS, TASKS, array_type

# The queued_reason of a task held back by its owner's concurrency limit.
OWNER_LIMIT_REASON = "owner_concurrency_limit"


# A change's log lines and outbox rows go in with one statement (and, through
# change_statement, the task row's update with them): on these machines each statement
# costs the registry ~0.4 ms of CPU whatever its size, so a state change is paid per
# statement, not per row. Arrays keep the text the same for any number of rows.
LOGS_AND_OUTBOX = """logged AS (
  INSERT INTO task_logs (task_id, ts, level, message, attempt)
  SELECT * FROM unnest(CAST(:log_task_ids AS uuid[]), CAST(:log_ts AS timestamptz[]),
                       CAST(:log_levels AS text[]), CAST(:log_messages AS text[]), CAST(:log_attempts AS integer[]))
)
INSERT INTO outbox (subject, msg_id, payload, created_at)
SELECT * FROM unnest(CAST(:out_subjects AS text[]), CAST(:out_msg_ids AS text[]),
                     CAST(:out_payloads AS bytea[]), CAST(:out_created AS timestamptz[]))"""


# A completion's reusable output, for identical inputs later (only when it has a cache key).
_CACHE_ENTRY = """cached AS (
  INSERT INTO result_cache (cache_key, task_id, output, provider, model, created_at, expires_at, hits)
  VALUES (:cache_key, :task_id, :output, :provider, :model, :updated_at, :cache_expires_at, 0)
  ON CONFLICT (cache_key) DO NOTHING
)"""
# The owner's next task held back by its concurrency limit, locked: the caller lets it in.
_NEXT_HELD = f"""SELECT id FROM tasks
WHERE owner = :held_owner AND status = 'QUEUED' AND queued_reason = '{OWNER_LIMIT_REASON}'
ORDER BY priority_rank, created_at LIMIT 1 FOR UPDATE SKIP LOCKED"""


@functools.cache
def change_statement(columns: tuple[str, ...], cache_entry: bool = False, next_held: bool = False) -> DirectStatement:
    """UPDATE of ``columns`` of one task (``:task_id``), its log lines and its outbox rows,
    as one statement; without columns, only the lines and rows. ``cache_entry`` adds the
    result cache's row (from the new output's columns); ``next_held`` makes the statement
    answer, locked, the id of the owner's next held task (no row: none is held)."""
    parts = []
    if columns:
        assignments = ", ".join(f'"{column}" = :{column}' for column in columns)
        parts.append(f"changed AS (UPDATE tasks SET {assignments} WHERE id = :task_id)")
    if cache_entry:
        parts.append(_CACHE_ENTRY)
    body = LOGS_AND_OUTBOX
    if next_held:
        body = body.replace("\nINSERT INTO outbox", ", queued AS (INSERT INTO outbox") + ")\n" + _NEXT_HELD
    statement = text("WITH " + ", ".join([*parts, body]))
    types = {column: TASKS.c[column].type for column in columns}
    if cache_entry:
        types.update(
            output=TASKS.c.output.type, cache_key=TASKS.c.cache_key.type, cache_expires_at=TASKS.c.expires_at.type
        )
        types.update({column: TASKS.c[column].type for column in ("provider", "model", "updated_at")})
    return DirectStatement(
        statement.bindparams(
            *(bindparam(column, type_=type_) for column, type_ in types.items()),
            *([bindparam("task_id", type_=TASKS.c.id.type)] if columns or cache_entry else []),
        )
    )


@dataclass
class Change:
    """What one transition writes besides the row lock it holds: the new values of the
    task's columns, its log lines and its outbox rows; :meth:`TaskStore._write` sends
    them as one statement."""

    task_id: uuid.UUID
    values: dict[str, Any]
    logs: list[tuple[uuid.UUID, dt.datetime, str, str, int]]
    outbox: list[dict]
    # The result cache's new entry: its key and expiry (output, provider and model are the values').
    cache_entry: tuple[str, dt.datetime] | None = None
    # Whose next held task the statement should find (see _NEXT_HELD).
    held_owner: str | None = None

    def statement(self) -> DirectStatement:
        return change_statement(tuple(self.values), self.cache_entry is not None, self.held_owner is not None)

    def parameters(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.cache_entry is not None:
            extra.update(cache_key=self.cache_entry[0], cache_expires_at=self.cache_entry[1])
        if self.held_owner is not None:
            extra["held_owner"] = self.held_owner
        return {**self.values, "task_id": self.task_id, **rows_parameters(self.logs, self.outbox), **extra}


def rows_parameters(logs: list[tuple[uuid.UUID, dt.datetime, str, str, int]], outbox: list[dict]) -> dict[str, Any]:
    """The array parameters of :data:`LOGS_AND_OUTBOX`."""
    return {
        "log_task_ids": [row[0] for row in logs],
        "log_ts": [row[1] for row in logs],
        "log_levels": [row[2] for row in logs],
        "log_messages": [row[3] for row in logs],
        "log_attempts": [row[4] for row in logs],
        "out_subjects": [row["subject"] for row in outbox],
        "out_msg_ids": [row["msg_id"] for row in outbox],
        "out_payloads": [row["payload"] for row in outbox],
        "out_created": [row["created_at"] for row in outbox],
    }


# The owners' next held tasks, as many per owner as the group ended of its tasks, locked:
# the caller lets them in (one per ended task, as the one-change statement does).
_NEXT_HELD_OF_OWNERS = f"""SELECT held.id FROM unnest(CAST(:held_owners AS text[]), CAST(:held_counts AS integer[]))
  AS wanted(owner, n)
CROSS JOIN LATERAL (
  SELECT id FROM tasks
  WHERE owner = wanted.owner AND status = 'QUEUED' AND queued_reason = '{OWNER_LIMIT_REASON}'
  ORDER BY priority_rank, created_at LIMIT wanted.n FOR UPDATE SKIP LOCKED
) AS held"""
_CACHE_ENTRIES = """cached AS (
  INSERT INTO result_cache (cache_key, task_id, output, provider, model, created_at, expires_at, hits)
  SELECT entry.*, 0 FROM unnest(CAST(:cache_keys AS text[]), CAST(:cache_task_ids AS uuid[]),
    CAST(:cache_outputs AS bytea[]), CAST(:cache_providers AS text[]), CAST(:cache_models AS text[]),
    CAST(:cache_created AS timestamptz[]), CAST(:cache_expires AS timestamptz[])) AS entry
  ON CONFLICT (cache_key) DO NOTHING
)"""


@functools.cache
def _changes_statement(columns: tuple[str, ...], cache_entries: bool, next_held: bool) -> DirectStatement:
    """The multi-row form of :func:`change_statement` for changes that write ``columns``."""
    parts = []
    if columns:
        names = ", ".join(f'"{column}"' for column in columns)
        arrays = ", ".join(f"CAST(:c_{column} AS {array_type(TASKS.c[column])})" for column in columns)
        assignments = ", ".join(f'"{column}" = new."{column}"' for column in columns)
        parts.append(
            f"changed AS (UPDATE tasks SET {assignments}"
            f" FROM unnest(CAST(:task_ids AS uuid[]), {arrays}) AS new(id, {names}) WHERE tasks.id = new.id)"
        )
    if cache_entries:
        parts.append(_CACHE_ENTRIES)
    body = LOGS_AND_OUTBOX
    if next_held:
        body = body.replace("\nINSERT INTO outbox", ", queued AS (INSERT INTO outbox") + ")\n" + _NEXT_HELD_OF_OWNERS
    return DirectStatement(text("WITH " + ", ".join([*parts, body])))


def _column_values(column: str, changes: Sequence[Change]) -> list[Any]:
    if column in JSON_COLUMNS:  # as the one-change statement writes it: None is JSON null
        return [Jsonb(change.values[column]) for change in changes]
    return [change.values[column] for change in changes]


def _changes_parameters(columns: tuple[str, ...], changes: Sequence[Change]) -> dict[str, Any]:
    parameters: dict[str, Any] = {"task_ids": [change.task_id for change in changes]}
    for column in columns:
        parameters[f"c_{column}"] = _column_values(column, changes)
    parameters.update(
        rows_parameters(
            [row for change in changes for row in change.logs], [row for change in changes for row in change.outbox]
        )
    )
    cached = [change for change in changes if change.cache_entry is not None]
    if cached:
        parameters.update(
            cache_keys=[change.cache_entry[0] for change in cached if change.cache_entry],
            cache_task_ids=[change.task_id for change in cached],
            cache_outputs=[change.values["output"] for change in cached],
            cache_providers=[change.values["provider"] for change in cached],
            cache_models=[change.values["model"] for change in cached],
            cache_created=[change.values["updated_at"] for change in cached],
            cache_expires=[change.cache_entry[1] for change in cached if change.cache_entry],
        )
    held = Counter(change.held_owner for change in changes if change.held_owner is not None)
    if held:
        parameters.update(held_owners=list(held), held_counts=list(held.values()))
    return parameters


async def write_changes(conn: AsyncConnection, changes: Sequence[Change]) -> list[uuid.UUID]:
    """Write ``changes`` (of distinct tasks, whose rows the caller holds locked) with one
    statement per set of columns; the ids of the held tasks their owners may now let in."""
    by_columns: dict[tuple[str, ...], list[Change]] = {}
    for change in changes:
        by_columns.setdefault(tuple(change.values), []).append(change)
    held: list[uuid.UUID] = []
    for columns, group in by_columns.items():
        cache_entries = any(change.cache_entry is not None for change in group)
        next_held = any(change.held_owner is not None for change in group)
        result = await _changes_statement(columns, cache_entries, next_held).run(
            conn, _changes_parameters(columns, group)
        )
        if next_held:
            held.extend(row[0] for row in result)
    return held
