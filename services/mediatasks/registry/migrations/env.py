"""Alembic environment: runs migrations on the connection handed over in config attributes,
under a PostgreSQL advisory lock so that replicas starting together migrate once."""

from __future__ import annotations

from alembic import context
from mediatasks.registry.models import Base
from sqlalchemy import text

_LOCK_ID = 0x6D656469  # "medi"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
try:
    with context.begin_transaction():
        context.run_migrations()
finally:
    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
    connection.commit()
