"""Alembic environment: runs migrations on the connection handed over in config attributes,
under a PostgreSQL advisory lock so that replicas starting together migrate once.

A database already at a revision this version does not know was migrated by a newer
version: a rolling upgrade's new replica ran first and an old one restarted, or the
release was rolled back (``helm rollback`` runs no downgrade). Migrations are
expand-only (a new column has a default, nothing an older version reads is dropped or
renamed), so an older version runs on the newer schema as it is; Alembic would refuse to
start it ("Can't locate revision") and leave the old replicas crash-looping."""

from __future__ import annotations

import logging

from alembic import context
from alembic.runtime.migration import MigrationContext
from mediatasks.registry.migrate import MIGRATION_LOCK_ID, newer_revisions, take_migration_lock
from mediatasks.registry.models import Base
from sqlalchemy import text

log = logging.getLogger("mediatasks.registry.migrate")

connection = context.config.attributes["connection"]
take_migration_lock(connection)
try:
    newer = newer_revisions(MigrationContext.configure(connection).get_current_heads(), context.script)
    # Ends the read's transaction: Alembic would take one still open for its caller's and
    # leave its migrations uncommitted in it.
    connection.commit()
    if newer:
        log.warning(
            "the database schema is at %s, which a newer mediatasks wrote (this one knows up to %s):"
            " running on it unmigrated (migrations are expand-only)",
            ", ".join(newer),
            context.script.get_current_head(),
        )
        context.config.attributes["newer_revisions"] = newer
    else:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
finally:
    connection.rollback()  # nothing, or a failed migration's remains
    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()
