"""Tombstones of purged tasks, so an expired task keeps answering 410, not 404.

Revision ID: 0004_tombstones
Revises: 0003_faults
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_tombstones"
down_revision = "0003_faults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expired_tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_expired_tasks_expired_at", "expired_tasks", ["expired_at"])


def downgrade() -> None:
    op.drop_index("ix_expired_tasks_expired_at", table_name="expired_tasks")
    op.drop_table("expired_tasks")
