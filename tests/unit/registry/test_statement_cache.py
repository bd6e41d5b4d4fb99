"""The submit path's statements are compiled once per process: each has a cache key (the
PostgreSQL Insert construct has none, and compiling it on every submit cost a few
percent of the registry's CPU per job); the ON CONFLICT one inserts every column, and
both write the task's log lines and outbox rows only when the task was inserted."""

from __future__ import annotations

import pytest
from mediatasks.registry import changes, store
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert


def test_the_submit_statements_have_cache_keys() -> None:
    assert pg_insert(store.TASKS)._generate_cache_key() is None  # why they are not built with it
    assert store._CREATE._generate_cache_key() is not None
    assert store._CREATE_IDEMPOTENT._generate_cache_key() is not None


@pytest.mark.parametrize("statement", [store._CREATE, store._CREATE_IDEMPOTENT], ids=["plain", "idempotent"])
def test_a_submit_inserts_every_column_and_its_rows_only_with_the_task(statement) -> None:
    sql = str(statement.compile(dialect=postgresql.dialect()))
    inserted = sql.split("VALUES")[0]
    for column in store.TASKS.c:
        assert f'"{column.name}"' in inserted
    assert sql.count("WHERE EXISTS (SELECT FROM created)") == 2  # the log lines and the outbox rows
    assert ("ON CONFLICT (owner, idempotency_key)" in sql) == (statement is store._CREATE_IDEMPOTENT)


def test_a_change_statement_updates_only_its_columns() -> None:
    sql = str(changes.change_statement(("progress", "stage")).clause.compile(dialect=postgresql.dialect()))
    assert 'UPDATE tasks SET "progress" = %(progress)s, "stage" = %(stage)s WHERE id = %(task_id)s' in sql
    assert "INSERT INTO task_logs" in sql and "INSERT INTO outbox" in sql
    assert "UPDATE" not in str(changes.change_statement(()).clause)


def test_the_statement_of_many_changes_updates_only_their_columns_from_arrays() -> None:
    sql = str(
        changes._changes_statement(("progress", "stage"), False, False).clause.compile(dialect=postgresql.dialect())
    )
    assert 'UPDATE tasks SET "progress" = new."progress", "stage" = new."stage"' in sql
    assert (
        "FROM unnest(CAST(%(task_ids)s AS uuid[]), CAST(%(c_progress)s AS SMALLINT[]), CAST(%(c_stage)s AS text[]))"
        in sql
    )
    assert "INSERT INTO task_logs" in sql and "INSERT INTO outbox" in sql
    assert "result_cache" not in sql and "held" not in sql
    # One text for any group size: the statement is built once per column set.
    assert changes._changes_statement(("progress", "stage"), False, False) is changes._changes_statement(
        ("progress", "stage"), False, False
    )
    full = str(changes._changes_statement(("status",), True, True).clause)
    assert "INSERT INTO result_cache" in full and "LIMIT wanted.n FOR UPDATE SKIP LOCKED" in full
