"""The origin a webhook task was submitted to (``tasks.webhook_origin``): its webhook
payload's download links point there when MEDIATASKS_PUBLIC_BASE_URL is not set. A column
with a constant default is added without rewriting the table.

Revision ID: 0012_webhook_origin
Revises: 0011_outbox_msg_id
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_webhook_origin"
down_revision = "0011_outbox_msg_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("webhook_origin", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("tasks", "webhook_origin")
