"""The submit path's INSERTs are compiled once per process: each has a cache key (the
PostgreSQL Insert construct has none, and compiling it on every submit cost a few
percent of the registry's CPU per job), and the ON CONFLICT one names every column."""

from __future__ import annotations

from mediatasks.registry import store
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert


def test_the_submit_inserts_have_cache_keys() -> None:
    assert pg_insert(store.TASKS)._generate_cache_key() is None  # why they are not built with it
    assert store._INSERT._generate_cache_key() is not None
    assert store._INSERT_IDEMPOTENT._generate_cache_key() is not None


def test_the_idempotent_insert_sets_and_returns_every_column() -> None:
    sql = str(store._INSERT_IDEMPOTENT.compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING" in sql
    inserted, returned = sql.split("RETURNING")
    for column in store.TASKS.c:
        assert f'"{column.name}"' in inserted and f'"{column.name}"' in returned
    assert [column.name for column in store._INSERT_IDEMPOTENT.selected_columns] == list(store.TASKS.c.keys())
