"""Apply the registry's Alembic migrations (at registry start and by ``mediatasks migrate``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from mediatasks.core.db import create_sync_engine
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 0x6D656469  # "medi": the advisory lock replicas migrate under
MIGRATION_LOCK_WAIT_SECONDS = 900.0


def take_migration_lock(connection: Connection, wait_seconds: float = MIGRATION_LOCK_WAIT_SECONDS) -> None:
    """Take the replicas' migration lock (session level), waiting without a transaction.

    A replica blocked in ``pg_advisory_lock`` sits in an open transaction, and the
    migrating replica's ``CREATE INDEX CONCURRENTLY`` waits for every open transaction
    while that one waits for its lock: PostgreSQL ends the deadlock by killing one (three
    registries starting together did). So the lock is tried, each try its own transaction
    at once over, until it is free.
    """
    level = connection.default_isolation_level
    connection.execution_options(isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + wait_seconds
        lock = text("SELECT pg_try_advisory_lock(:id)")
        while not connection.execute(lock, {"id": MIGRATION_LOCK_ID}).scalar():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"another registry held the migration lock for over {wait_seconds:.0f} s")
            time.sleep(0.2)
    finally:
        connection.commit()  # SQLAlchemy's own begun transaction (PostgreSQL had none)
        connection.execution_options(isolation_level=level)


def newer_revisions(current: Iterable[str], script: ScriptDirectory) -> list[str]:
    """The revisions of ``current`` (the database's) that ``script`` does not know: a newer
    version of mediatasks wrote them."""
    known = {revision.revision for revision in script.walk_revisions()}
    return sorted(revision for revision in current if revision not in known)


def upgrade(settings: Settings, revision: str = "head") -> list[str]:
    """Migrate the database to ``revision`` (the newest by default); safe to run from
    several replicas. Answers the database's revisions this version does not know (a
    newer one migrated it; nothing was done, see migrations/env.py), empty otherwise."""
    newer = _run(settings, command.upgrade, revision)
    if not newer:
        log.info("database migrated to %s", revision)
    return newer


def downgrade(settings: Settings, revision: str) -> None:
    """Undo the migrations after ``revision`` ("base": all of them), for a rollback that
    must leave no trace of the newer schema (an older version runs on a newer one as it
    is: see migrations/env.py). Columns and tables the undone migrations added are
    dropped with their data."""
    newer = _run(settings, command.downgrade, revision)
    if newer:
        raise RuntimeError(f"the database is at {', '.join(newer)}, which only a newer version can downgrade")
    log.info("database downgraded to %s", revision)


def _run(settings: Settings, action: Callable[[Config, str], None], revision: str) -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            action(config, revision)
    finally:
        engine.dispose()
    return list(config.attributes.get("newer_revisions", []))
