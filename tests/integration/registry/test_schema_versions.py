"""The schema across versions: an older version runs on a schema a newer one migrated (a
rolling upgrade's old replica restarting after the new one ran, a ``helm rollback``),
and every migration can be undone and done again with the data of the tables it keeps."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from mediatasks.bench import fill_tasks
from mediatasks.registry import migrate
from mediatasks.registry.models import Base

FROM_A_NEWER_VERSION = "9999_from_a_newer_version"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def tables(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def columns(url: str, table: str) -> list[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [row[0] for row in rows]


def version(url: str) -> list[str]:
    with connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version").fetchall()]


def run_migrate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDIATASKS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "mediatasks.cli.main", "migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_older_version_starts_on_a_schema_a_newer_one_migrated(fresh_database):
    url, settings = fresh_database
    assert migrate.upgrade(settings) == []
    schema = {table: columns(url, table) for table in tables(url)}
    with connect(url) as conn:  # what a newer release's migration leaves
        conn.execute("UPDATE alembic_version SET version_num = %s", (FROM_A_NEWER_VERSION,))
        conn.execute("ALTER TABLE tasks ADD COLUMN added_later text NOT NULL DEFAULT ''")

    # Alembic alone refused ("Can't locate revision"): the old replicas crash-looped.
    assert migrate.upgrade(settings) == [FROM_A_NEWER_VERSION]
    command = run_migrate(url)
    assert command.returncode == 0, command.stderr
    assert FROM_A_NEWER_VERSION in command.stderr + command.stdout
    assert version(url) == [FROM_A_NEWER_VERSION]
    assert {table: columns(url, table) for table in tables(url)} == {
        **schema,
        "tasks": [*schema["tasks"], "added_later"],
    }
    # The migration lock was let go: a second run does not wait for it.
    assert migrate.upgrade(settings) == [FROM_A_NEWER_VERSION]
    # Downgrading what only the newer version knows is refused, and changes nothing.
    with pytest.raises(RuntimeError, match=FROM_A_NEWER_VERSION):
        migrate.downgrade(settings, "base")
    assert version(url) == [FROM_A_NEWER_VERSION]


def test_every_migration_is_undone_and_done_again_keeping_the_tasks(fresh_database):
    url, settings = fresh_database
    migrate.upgrade(settings)
    head = version(url)
    fill_tasks(url, 2_000, 10)
    # Back to before the list indexes and the rollups (0008-0012 undone), with tasks in the table.
    command = run_migrate(url, "--down-to", "0006_task_types")
    assert command.returncode == 0, command.stderr
    assert version(url) == ["0006_task_types"]
    assert "webhook_origin" not in columns(url, "tasks")
    assert "task_rollups" not in tables(url)
    migrate.upgrade(settings)
    assert version(url) == head
    with connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2_010
    # Every migration undone: only Alembic's own table is left; then all of them again.
    migrate.downgrade(settings, "base")
    assert tables(url) == {"alembic_version"}
    migrate.upgrade(settings)
    assert version(url) == head
    assert set(Base.metadata.tables) <= tables(url)
