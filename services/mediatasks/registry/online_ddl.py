"""Index changes that leave their table writable while they run, for migrations.

A plain ``CREATE INDEX`` holds a SHARE lock on its table for the whole build: at a million
tasks that is seconds in which no submit, start or completion of any replica still
serving can write (a Helm upgrade migrates while the old replicas serve). ``CONCURRENTLY``
builds without blocking writes, but cannot run inside a transaction, so each change runs
in Alembic's autocommit block (the migration's transaction so far is committed first).

A concurrent build that was interrupted (the migrating process killed, a lock timeout)
leaves an INVALID index of its name behind, which ``IF NOT EXISTS`` would keep: it is
dropped and built again, so running the migration again repairs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def _invalid_index(name: str) -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}
    )
    return bool(found.scalar())


def create_index_online(name: str, table: str, columns: Sequence[str], *, where: str | None = None) -> None:
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` (see the module's docstring)."""
    with op.get_context().autocommit_block():
        if _invalid_index(name):
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
        op.create_index(
            name,
            table,
            list(columns),
            postgresql_concurrently=True,
            postgresql_where=sa.text(where) if where else None,
            if_not_exists=True,
        )


def drop_index_online(name: str, table: str) -> None:
    """``DROP INDEX CONCURRENTLY IF EXISTS``: a dropped index blocks no writes either."""
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
