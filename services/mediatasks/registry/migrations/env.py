"""Alembic environment: runs migrations on the connection handed over in config attributes,
under a PostgreSQL advisory lock so that replicas starting together migrate once."""

from __future__ import annotations

from alembic import context
from mediatasks.registry.migrate import MIGRATION_LOCK_ID, take_migration_lock
from mediatasks.registry.models import Base
from sqlalchemy import text

connection = context.config.attributes["connection"]
take_migration_lock(connection)
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
try:
    with context.begin_transaction():
        context.run_migrations()
finally:
    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()
