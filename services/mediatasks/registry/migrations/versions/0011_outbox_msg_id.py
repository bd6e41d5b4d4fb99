"""An index on the outbox's ``msg_id``: the relay deletes the rows handed to it after
their commit by message id (see registry/handoff.py). The outbox holds only rows not yet
published, so the index is built at once.

Revision ID: 0011_outbox_msg_id
Revises: 0010_task_rollups
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011_outbox_msg_id"
down_revision = "0010_task_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_msg_id", "outbox", ["msg_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_msg_id", table_name="outbox")
