"""Fault tolerance: parked outbox rows, attempt budgets apart from the fencing number, and
an index for the reconciler.

* ``outbox.parked_at`` / ``park_reason``: a message JetStream refused for good is set aside
  with its reason instead of being retried for ever (and holding up the relay).
* ``tasks.failures``: attempts that ended in a retryable failure (the ``max_attempts``
  budget); ``tasks.lost_attempts``: attempts that started and vanished (a worker killed, a
  stale delivery), the ``max_deliver`` budget. ``attempt`` stays the fencing number only.
* ``ix_tasks_active_updated``: the reconciler's scan of active tasks by last sign of life.

Revision ID: 0003_faults
Revises: 0002_webhooks
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from mediatasks.registry.online_ddl import create_index_online, drop_index_online

revision = "0003_faults"
down_revision = "0002_webhooks"
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('QUEUED', 'PROCESSING')"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("park_reason", sa.Text(), nullable=True))
    # The relay reads only rows still to publish; /health counts the parked ones.
    op.create_index("ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("parked_at IS NULL"))
    op.create_index("ix_outbox_parked", "outbox", ["parked_at"], postgresql_where=sa.text("parked_at IS NOT NULL"))
    op.add_column("tasks", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("tasks", sa.Column("lost_attempts", sa.Integer(), nullable=False, server_default="0"))
    # Before this revision every attempt of an active task but the running one had failed.
    op.execute("UPDATE tasks SET failures = attempt WHERE status = 'QUEUED'")
    op.execute("UPDATE tasks SET failures = GREATEST(attempt - 1, 0) WHERE status = 'PROCESSING'")
    create_index_online("ix_tasks_active_updated", "tasks", ["status", "updated_at"], where=_ACTIVE)


def downgrade() -> None:
    drop_index_online("ix_tasks_active_updated", "tasks")
    op.drop_column("tasks", "lost_attempts")
    op.drop_column("tasks", "failures")
    op.drop_index("ix_outbox_parked", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_column("outbox", "park_reason")
    op.drop_column("outbox", "parked_at")
