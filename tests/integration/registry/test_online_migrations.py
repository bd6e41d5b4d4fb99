"""Migrations build the indexes of the big tables without blocking writes: an upgrade runs
while the old replicas still serve (a Helm upgrade's migration hook), and a plain
CREATE INDEX on a table of a million tasks would refuse every submit, start and
completion for the seconds it takes. An interrupted concurrent build (an INVALID index
left behind) is rebuilt by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest
from mediatasks.bench import fill_tasks
from mediatasks.registry import migrate

# The last revision before the list indexes (0008) and the rollups' index (0010) on tasks.
BEFORE_TASK_INDEXES = "0006_task_types"
TASK_INDEXES = ("ix_tasks_owner_status_created", "ix_tasks_owner_type_created", "ix_tasks_completed_at")


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def invalid_indexes(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'tasks'::regclass AND NOT indisvalid"
    ).fetchall()
    return [row[0] for row in rows]


def index_definition(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)).fetchone()
    return row[0] if row else None


def test_the_task_indexes_are_built_while_tasks_stay_writable(fresh_database):
    url, settings = fresh_database
    migrate.upgrade(settings, BEFORE_TASK_INDEXES)
    queued = fill_tasks(url, 200_000, 20, owner="busy")  # each index build takes a while
    failures: list[BaseException] = []

    def migrate_to_head() -> None:
        try:
            migrate.upgrade(settings)
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            failures.append(error)

    migrating = threading.Thread(target=migrate_to_head)
    builds_seen: set[str] = set()
    writes_during_builds = 0
    refused: list[str] = []
    with connect(url) as writer:
        # A write a plain CREATE INDEX holds up waits this long, then fails.
        writer.execute("SET lock_timeout = '500ms'")
        migrating.start()
        while migrating.is_alive():
            building = writer.execute(
                "SELECT command FROM pg_stat_progress_create_index WHERE relid = 'tasks'::regclass"
            ).fetchall()
            builds_seen.update(row[0] for row in building)
            try:
                # What a start or a completion does to a row, and what a submit does.
                writer.execute("UPDATE tasks SET updated_at = now() WHERE id = %s", (queued[0],))
            except psycopg.errors.LockNotAvailable as error:
                refused.append(str(error))
                continue
            writes_during_builds += bool(building)
        migrating.join(timeout=120)
    assert not failures, failures
    assert builds_seen, "no index build on tasks was seen: the test proved nothing"
    assert builds_seen == {"CREATE INDEX CONCURRENTLY"}
    assert writes_during_builds > 0
    assert refused == []
    with connect(url) as conn:
        assert invalid_indexes(conn) == []
        for name in TASK_INDEXES:
            assert index_definition(conn, name) is not None, name


def test_an_index_a_broken_build_left_invalid_is_built_again(fresh_database):
    url, settings = fresh_database
    migrate.upgrade(settings, BEFORE_TASK_INDEXES)
    fill_tasks(url, 100, 0, owner="same")
    with connect(url) as conn:
        # A concurrent build that failed half way leaves its index behind, INVALID (here:
        # unique, over an owner every row shares).
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_tasks_owner_status_created ON tasks (owner)")
        assert invalid_indexes(conn) == ["ix_tasks_owner_status_created"]
    migrate.upgrade(settings)
    with connect(url) as conn:
        assert invalid_indexes(conn) == []
        definition = index_definition(conn, "ix_tasks_owner_status_created")
        assert definition is not None
        assert "UNIQUE" not in definition and "(owner, status, created_at)" in definition


def test_replicas_starting_together_migrate_once_without_a_deadlock(fresh_database):
    """Three registries start at once: one migrates, the others wait for its lock without
    an open transaction, which its CREATE INDEX CONCURRENTLY would otherwise wait for
    while they wait for it (PostgreSQL then killed one of them)."""
    url, settings = fresh_database
    migrate.upgrade(settings, BEFORE_TASK_INDEXES)
    fill_tasks(url, 100_000, 0, owner="many")
    # Processes, as replicas are (Alembic's context is one per process).
    environment = {**os.environ, "MEDIATASKS_DATABASE_URL": url}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "mediatasks.cli.main", "migrate"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=120)[0].decode(errors="replace") for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    with connect(url) as conn:
        assert invalid_indexes(conn) == []
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0012_webhook_origin",)]
