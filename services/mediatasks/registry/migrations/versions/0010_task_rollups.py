"""Incremental rollups for /statistics: terminal tasks counted once into 5-minute buckets
of their creation time (``task_rollups``), up to a watermark on ``completed_at``
(``rollup_watermark``, one row); the index on ``completed_at`` finds the tasks past it.

The watermark starts at the epoch: the registry's roll loop folds in the tasks already in
the table, a batch at a time.

Revision ID: 0010_task_rollups
Revises: 0009_schedules
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from mediatasks.registry.online_ddl import create_index_online, drop_index_online
from sqlalchemy.dialects import postgresql

revision = "0010_task_rollups"
down_revision = "0009_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_rollups",
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("cost_sum", sa.Float(), nullable=False),
        sa.Column("duration_count", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("histogram", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint("owner", "bucket_start", "task_type", "status", "provider", name="pk_task_rollups"),
    )
    op.create_index("ix_task_rollups_bucket_start", "task_rollups", ["bucket_start"])
    op.create_table(
        "rollup_watermark",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_rollup_watermark_one_row"),
    )
    op.execute("INSERT INTO rollup_watermark (id, watermark) VALUES (1, '1970-01-01 00:00:00+00')")
    create_index_online("ix_tasks_completed_at", "tasks", ["completed_at"], where="completed_at IS NOT NULL")


def downgrade() -> None:
    drop_index_online("ix_tasks_completed_at", "tasks")
    op.drop_table("rollup_watermark")
    op.drop_index("ix_task_rollups_bucket_start", table_name="task_rollups")
    op.drop_table("task_rollups")
