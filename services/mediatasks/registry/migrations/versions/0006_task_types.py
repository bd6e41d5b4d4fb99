"""Task types declared by workers: background types with their schema and retry policy.

Revision ID: 0006_task_types
Revises: 0005_uploads
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_task_types"
down_revision = "0005_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_types",
        # The name is part of NATS subjects and consumer names: [a-z][a-z0-9_]*.
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        # A JSON schema every submitted payload must satisfy ({} accepts any object).
        sa.Column("payload_schema", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("default_priority", sa.String(16), nullable=False, server_default="medium"),
        # Exponential backoff with jitter: base * factor^(n-1), capped at max_delay.
        sa.Column("max_retries", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("base_delay_seconds", sa.Float(), nullable=False, server_default="60"),
        sa.Column("backoff_factor", sa.Float(), nullable=False, server_default="2"),
        sa.Column("max_delay_seconds", sa.Float(), nullable=False, server_default="3600"),
        sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("task_types")
