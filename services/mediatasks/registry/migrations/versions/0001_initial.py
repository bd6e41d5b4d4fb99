"""Tasks, outbox, logs, result cache, webhook deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("priority_rank", sa.SmallInteger(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=False),
        sa.Column("output", sa.LargeBinary(), nullable=True),
        sa.Column("error", postgresql.JSONB(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("cancel_confirmed", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("webhook_events", postgresql.JSONB(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("queued_reason", sa.String(64), nullable=False),
        sa.Column("claim", sa.String(160), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("dead_lettered_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
    )
    op.create_index(
        "ix_tasks_owner_idempotency",
        "tasks",
        ["owner", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("ix_tasks_queue", "tasks", ["task_type", "status", "priority_rank", "created_at"])
    op.create_index("ix_tasks_owner_created", "tasks", ["owner", "created_at"])
    op.create_index("ix_tasks_expires", "tasks", ["expires_at"])
    op.create_index(
        "ix_tasks_owner_active",
        "tasks",
        ["owner"],
        postgresql_where=sa.text("status IN ('QUEUED', 'PROCESSING') AND queued_reason = ''"),
    )
    op.create_index(
        "ix_tasks_owner_held",
        "tasks",
        ["owner", "priority_rank", "created_at"],
        postgresql_where=sa.text("status = 'QUEUED' AND queued_reason = 'owner_concurrency_limit'"),
    )
    op.create_index(
        "ix_tasks_dead_lettered",
        "tasks",
        ["dead_lettered_at"],
        postgresql_where=sa.text("dead_lettered_at IS NOT NULL"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("msg_id", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "task_logs",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ts", TZ, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
    )
    op.create_index("ix_task_logs_task_id", "task_logs", ["task_id"])
    op.create_table(
        "result_cache",
        sa.Column("cache_key", sa.String(64), primary_key=True),
        sa.Column("task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("output", sa.LargeBinary(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
    )
    op.create_index("ix_result_cache_task_id", "result_cache", ["task_id"])
    op.create_index("ix_result_cache_expires_at", "result_cache", ["expires_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("task_id", sa.Uuid(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", postgresql.JSONB(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_task_id", "webhook_deliveries", ["task_id"])


def downgrade() -> None:
    for table in ("webhook_deliveries", "result_cache", "task_logs", "outbox", "tasks"):
        op.drop_table(table)
