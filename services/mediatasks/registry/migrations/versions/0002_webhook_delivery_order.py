"""Webhook deliveries: the consumer that owns them, event order, attempt series.

Revision ID: 0002_webhooks
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from mediatasks.registry.online_ddl import create_index_online, drop_index_online

revision = "0002_webhooks"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
_OPEN = "state IN ('pending', 'retrying')"


def upgrade() -> None:
    # The JetStream durable whose dispatcher created (and sends) the row.
    op.add_column(
        "webhook_deliveries",
        sa.Column("consumer", sa.String(64), nullable=False, server_default="webhooks"),
    )
    # The event's stream sequence: deliveries of one task go out in this order.
    op.add_column(
        "webhook_deliveries",
        sa.Column("sequence", sa.BigInteger(), nullable=False, server_default="0"),
    )
    # A hand-made redelivery starts a new series of attempts with a fresh budget.
    op.add_column(
        "webhook_deliveries",
        sa.Column("series", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column(
        "webhook_deliveries",
        sa.Column("series_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("webhook_deliveries", sa.Column("updated_at", TZ, nullable=True))
    create_index_online("ix_webhook_deliveries_due", "webhook_deliveries", ["consumer", "next_attempt_at"], where=_OPEN)
    create_index_online("ix_webhook_deliveries_task_sequence", "webhook_deliveries", ["task_id", "sequence"])


def downgrade() -> None:
    drop_index_online("ix_webhook_deliveries_task_sequence", "webhook_deliveries")
    drop_index_online("ix_webhook_deliveries_due", "webhook_deliveries")
    for column in ("updated_at", "series_attempts", "series", "sequence", "consumer"):
        op.drop_column("webhook_deliveries", column)
