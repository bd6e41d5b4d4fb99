"""Uploads: resumable upload sessions and every stored upload, for their lifecycle.

Revision ID: 0005_uploads
Revises: 0004_tombstones
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_uploads"
down_revision = "0004_tombstones"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        # The upload's id is also the id of the artifact it becomes.
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False, server_default=""),
        sa.Column("content_type", sa.String(255), nullable=False, server_default="application/octet-stream"),
        # Declared total size (NULL: not known yet) and the bytes stored so far.
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("received", sa.BigInteger(), nullable=False, server_default="0"),
        # open (chunks arriving), complete (an artifact), expired (its bytes deleted)
        sa.Column("state", sa.String(16), nullable=False, server_default="open"),
        # The stored parts in order: [{"key", "offset", "size", "etag"}]; backend state
        # (an S3 multipart upload id) rides in "backend".
        sa.Column("parts", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("backend", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploads_owner", "uploads", ["owner"])
    op.create_index("ix_uploads_state_expires_at", "uploads", ["state", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_uploads_state_expires_at", table_name="uploads")
    op.drop_index("ix_uploads_owner", table_name="uploads")
    op.drop_table("uploads")
