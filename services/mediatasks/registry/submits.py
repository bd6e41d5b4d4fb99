"""Group commit of submits: concurrent new tasks go into PostgreSQL together, with one
statement (its own transaction) per group instead of three statements each.

A submit that needs nothing but its insert (see ``TaskStore.create``) is handed to the
:class:`SubmitGroups` of its process. The first of a quiet moment is written at once, alone;
those that arrive while a group is being written form the next group. A group is one
multi-row INSERT of its tasks (from arrays, so the statement's text never changes), of
their log lines and of their outbox rows, where the lines and rows of a task go in only
with the task itself: a task whose idempotency key another submit already took is left
out, and its submit is answered from the transactional path (the earlier task).

Statements, not rows, are what the registry pays for on these machines (about 0.4 ms of
CPU each, whatever their size), so a burst of submits costs a fraction of a statement
each; PostgreSQL, too, commits once per group.

A group of one (every submit at a steady rate, where nothing arrives together) sends its
task's columns as plain values instead of arrays of one: psycopg packs each array
parameter in Python, about 5 µs apiece, and a task has 37 columns.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import String, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core.coalescing import Coalescer, Pending
from mediatasks.core.db import HeldConnection, autocommit
from mediatasks.registry.direct_sql import DirectStatement
from mediatasks.registry.models import TaskRow

log = logging.getLogger(__name__)

TASKS = TaskRow.__table__
# Submits written together at most; more wait for the next group.
GROUP_LIMIT = 200
GROUP_LOCK_TIMEOUT = "2000ms"

LogRow = tuple[uuid.UUID, dt.datetime, str, str, int]


def column_type(column) -> str:
    # Text, not varchar(n): an explicit cast to varchar(n) cuts a longer value silently,
    # where the insert's assignment refuses it (as the one-task path does).
    if isinstance(column.type, String):
        return "text"
    return column.type.compile(dialect=postgresql.dialect())


def array_type(column) -> str:
    return f"{column_type(column)}[]"


def _group_statement(lone: bool):
    """The group's insert; ``lone``: of one task, its columns as plain values."""
    columns = list(TASKS.c)
    names = ", ".join(f'"{column.name}"' for column in columns)
    if lone:
        rows = ", ".join(f"CAST(:{column.name} AS {column_type(column)})" for column in columns)
    else:
        rows = "* FROM unnest(" + ", ".join(f"CAST(:{column.name} AS {array_type(column)})" for column in columns) + ")"
    return text(
        f"WITH created AS (INSERT INTO tasks ({names}) SELECT {rows}"
        # The statement is its own transaction (the group's connection commits each one),
        # so its lock timeout is set here, before its first row: a key another transaction
        # is inserting makes the insert wait for it, and the group waits 2 s at most, then
        # each of its submits goes alone.
        f" WHERE set_config('lock_timeout', '{GROUP_LOCK_TIMEOUT}', true) IS NOT NULL"
        " ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id),"
        " logged AS (INSERT INTO task_logs (task_id, ts, level, message, attempt)"
        " SELECT line.task_id, line.ts, line.level, line.message, line.attempt"
        " FROM unnest(CAST(:log_task_ids AS uuid[]), CAST(:log_ts AS timestamptz[]),"
        " CAST(:log_levels AS text[]), CAST(:log_messages AS text[]), CAST(:log_attempts AS integer[]))"
        " WITH ORDINALITY AS line(task_id, ts, level, message, attempt, n)"
        " WHERE line.task_id IN (SELECT id FROM created) ORDER BY line.n),"
        " queued AS (INSERT INTO outbox (subject, msg_id, payload, created_at)"
        " SELECT message.subject, message.msg_id, message.payload, message.created_at"
        " FROM unnest(CAST(:out_task_ids AS uuid[]), CAST(:out_subjects AS text[]), CAST(:out_msg_ids AS text[]),"
        " CAST(:out_payloads AS bytea[]), CAST(:out_created AS timestamptz[]))"
        " WITH ORDINALITY AS message(task_id, subject, msg_id, payload, created_at, n)"
        " WHERE message.task_id IN (SELECT id FROM created) ORDER BY message.n)"
        " SELECT id FROM created"
    )


GROUP_INSERT = DirectStatement(_group_statement(lone=False))
LONE_INSERT = DirectStatement(_group_statement(lone=True))
JSON_COLUMNS = frozenset(column.name for column in TASKS.c if isinstance(column.type, JSONB))


@dataclass
class NewTask:
    """A task to insert: its row's values, its log rows, its outbox rows."""

    values: dict[str, Any]
    logs: list[LogRow]
    outbox: list[dict]


def group_parameters(group: Sequence[NewTask]) -> dict[str, Any]:
    """The parameters of :data:`GROUP_INSERT` for ``group`` (of :data:`LONE_INSERT` for a
    group of one): an array per column (a value), then the lines and outbox rows, each
    tagged with its task's id."""
    lone = len(group) == 1
    parameters: dict[str, Any] = {}
    for column in TASKS.c:
        name = column.name
        # JSON as the one-task path writes it (None too is the JSON value null).
        values = [Jsonb(new.values[name]) if name in JSON_COLUMNS else new.values[name] for new in group]
        parameters[name] = values[0] if lone else values
    logs = [row for new in group for row in new.logs]
    outbox = [(new.values["id"], row) for new in group for row in new.outbox]
    parameters.update(
        log_task_ids=[row[0] for row in logs],
        log_ts=[row[1] for row in logs],
        log_levels=[row[2] for row in logs],
        log_messages=[row[3] for row in logs],
        log_attempts=[row[4] for row in logs],
        out_task_ids=[task_id for task_id, _ in outbox],
        out_subjects=[row["subject"] for _, row in outbox],
        out_msg_ids=[row["msg_id"] for _, row in outbox],
        out_payloads=[row["payload"] for _, row in outbox],
        out_created=[row["created_at"] for _, row in outbox],
    )
    return parameters


class SubmitGroups:
    """Writes concurrent :class:`NewTask` s in groups (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        # One statement, committed on its own: no BEGIN, SET LOCAL and COMMIT around it
        # (three round trips of a group's four). Groups are written one at a time: on one
        # connection, kept.
        self._connection = HeldConnection(autocommit(engine))
        self._groups: Coalescer[NewTask, bool] = Coalescer(self._write_group, GROUP_LIMIT)

    async def insert(self, new: NewTask) -> bool:
        """Write ``new`` with whatever group it joins; False when nothing of it was
        written: its idempotency key was taken, or PostgreSQL refused the group (one bad
        submit, or an outage). The caller then goes the way of a submit on its own, which
        answers with the earlier task, or with this submit's own error: one hostile body
        never fails the submits it was grouped with."""
        return await self._groups.submit(new)

    async def _write_group(self, group: list[Pending[NewTask, bool]]) -> None:
        group = self._one_per_key(group)
        tasks = [pending.item for pending in group]
        try:
            async with self._connection.connect() as conn:
                insert = LONE_INSERT if len(tasks) == 1 else GROUP_INSERT
                created = {row[0] for row in await insert.run(conn, group_parameters(tasks))}
        except Exception as error:
            log.info("a group of %d submits was refused (%s); each is written alone", len(group), error)
            created = set()
        for pending in group:
            pending.resolve(pending.item.values["id"] in created)

    async def close(self) -> None:
        await self._connection.close()

    def _one_per_key(self, group: list[Pending[NewTask, bool]]) -> list[Pending[NewTask, bool]]:
        """``group`` with at most one submit per (owner, idempotency key): the others wait
        for the next group, where the key is taken and they are answered with its task."""
        seen: set[tuple[str, str]] = set()
        kept = []
        for pending in group:
            values = pending.item.values
            key = values["idempotency_key"]
            if key is not None and (values["owner"], key) in seen:
                self._groups.defer(pending)
                continue
            if key is not None:
                seen.add((values["owner"], key))
            kept.append(pending)
        return kept
