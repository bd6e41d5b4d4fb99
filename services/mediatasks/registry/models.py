"""The registry's tables. Alembic migrations in ``migrations/`` create and evolve them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every model maps a plain table (none maps a join or a select), so ``Model.__table__``
    # can be handed to insert(), update() and delete() as the Table it is.
    __table__: ClassVar[Table]


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    stage: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[str] = mapped_column(String(16))
    # 0 = urgent ... 3 = low, for ordering and queue positions.
    priority_rank: Mapped[int] = mapped_column(SmallInteger)
    owner: Mapped[str] = mapped_column(String(255))
    input: Mapped[bytes] = mapped_column(LargeBinary)  # serialized google.protobuf.Any
    output: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # serialized TaskOutput
    error: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    # The fencing number: every start of the task takes the next one.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Attempts that ended in a retryable failure (bounded by max_attempts) and attempts
    # that started and vanished without an end (bounded by the max_deliver setting).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lost_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(128), default="")
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str] = mapped_column(Text, default="")
    webhook_secret: Mapped[str] = mapped_column(Text, default="")
    webhook_events: Mapped[list] = mapped_column(JSONB, default=list)
    # The origin the submit came to ("https://host"): the webhook payload's download links
    # point there when MEDIATASKS_PUBLIC_BASE_URL is not set. Kept for webhook tasks only.
    webhook_origin: Mapped[str] = mapped_column(String(255), default="", server_default="")
    task_metadata: Mapped[dict] = mapped_column("metadata", JSONB, default=dict)
    queued_reason: Mapped[str] = mapped_column(String(64), default="")
    # "<worker id>/<delivery count>" of the current attempt: a worker retrying its own
    # StartAttempt (the answer was lost) gets the same attempt back.
    claim: Mapped[str] = mapped_column(String(160), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dead_lettered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index(
            "ix_tasks_owner_idempotency",
            "owner",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_tasks_queue", "task_type", "status", "priority_rank", "created_at"),
        Index("ix_tasks_owner_created", "owner", "created_at"),
        Index("ix_tasks_expires", "expires_at"),
        # The per-owner limit counts only active tasks and releases held ones in order:
        # partial indexes keep both lookups proportional to the owner's active tasks.
        Index(
            "ix_tasks_owner_active",
            "owner",
            postgresql_where=text("status IN ('QUEUED', 'PROCESSING') AND queued_reason = ''"),
        ),
        Index(
            "ix_tasks_owner_held",
            "owner",
            "priority_rank",
            "created_at",
            postgresql_where=text("status = 'QUEUED' AND queued_reason = 'owner_concurrency_limit'"),
        ),
        Index("ix_tasks_dead_lettered", "dead_lettered_at", postgresql_where=text("dead_lettered_at IS NOT NULL")),
        # The reconciler looks for active tasks that stopped showing signs of life.
        Index(
            "ix_tasks_active_updated",
            "status",
            "updated_at",
            postgresql_where=text("status IN ('QUEUED', 'PROCESSING')"),
        ),
        # The roll loop reads the tasks that ended past its watermark (rollups.py).
        Index("ix_tasks_completed_at", "completed_at", postgresql_where=text("completed_at IS NOT NULL")),
    )


class OutboxRow(Base):
    """Messages to publish to JetStream, written in the same transaction as the change."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(255))
    msg_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Set when JetStream refused the message for good (too large, say): the relay skips it.
    parked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    park_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("parked_at IS NULL")),
        Index("ix_outbox_parked", "parked_at", postgresql_where=text("parked_at IS NOT NULL")),
        # The relay deletes rows handed to it by message id.
        Index("ix_outbox_msg_id", "msg_id"),
    )


class TaskLogRow(Base):
    __tablename__ = "task_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)


class ResultCacheRow(Base):
    """Outputs reusable for identical inputs; dropped with the task that produced them."""

    __tablename__ = "result_cache"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    output: Mapped[bytes] = mapped_column(LargeBinary)
    provider: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class WebhookDeliveryRow(Base):
    """One task event to POST to the task's webhook URL, with every attempt made.

    ``payload`` is the exact JSON body sent; ``consumer`` is the JetStream durable whose
    dispatcher owns the row; ``sequence`` (the event's stream sequence) orders a task's
    deliveries; a hand-made redelivery bumps ``series`` and resets ``series_attempts``.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[list] = mapped_column(JSONB, default=list)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    consumer: Mapped[str] = mapped_column(String(64), server_default="webhooks")
    sequence: Mapped[int] = mapped_column(BigInteger, server_default="0")
    series: Mapped[int] = mapped_column(Integer, server_default="1")
    series_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "consumer",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'retrying')"),
        ),
        Index("ix_webhook_deliveries_task_sequence", "task_id", "sequence"),
    )


class ExpiredTaskRow(Base):
    """What is left of a task the housekeeper purged: enough to answer 410 TASK_EXPIRED
    (not 404) to its owner, for ``MEDIATASKS_TOMBSTONE_TTL_SECONDS``."""

    __tablename__ = "expired_tasks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class UploadRow(Base):
    """An upload: a resumable session while chunks arrive, then the stored artifact's
    lifecycle record (the id is the artifact's id)."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255), server_default="")
    content_type: Mapped[str] = mapped_column(String(255), server_default="application/octet-stream")
    length: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received: Mapped[int] = mapped_column(BigInteger, server_default="0")
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    parts: Mapped[list] = mapped_column(JSONB, server_default="[]")
    backend: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    sha256: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_uploads_owner", "owner"),
        Index("ix_uploads_state_expires_at", "state", "expires_at"),
    )


class TaskTypeRow(Base):
    """A task type a worker declared (background types; media types live in the catalog)."""

    __tablename__ = "task_types"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    payload_schema: Mapped[dict] = mapped_column(JSONB, default=dict)
    default_priority: Mapped[str] = mapped_column(String(16), default="medium")
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    base_delay_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    backoff_factor: Mapped[float] = mapped_column(Float, default=2.0)
    max_delay_seconds: Mapped[float] = mapped_column(Float, default=3600.0)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ScheduleRow(Base):
    """A daily schedule: a task of ``task_type`` for ``owner`` every day at hour:minute UTC."""

    __tablename__ = "schedules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    task_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    priority: Mapped[str] = mapped_column(String(16), server_default="")
    hour_utc: Mapped[int] = mapped_column(SmallInteger)
    minute: Mapped[int] = mapped_column(SmallInteger)
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_task_id: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class TaskRollupRow(Base):
    """Terminal tasks of one owner, type, status and provider created in one 5-minute
    bucket, counted once each (``rollups.py``): sums for counts, cost and mean duration,
    and a histogram of durations over ``rollups.DURATION_BOUNDS`` for p95."""

    __tablename__ = "task_rollups"

    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    cost_sum: Mapped[float] = mapped_column(Float)
    # Completed, not from the cache, with a start: the tasks the duration figures cover.
    duration_count: Mapped[int] = mapped_column(BigInteger)
    duration_sum: Mapped[float] = mapped_column(Float)
    histogram: Mapped[list[int]] = mapped_column(ARRAY(Integer))

    __table_args__ = (Index("ix_task_rollups_bucket_start", "bucket_start"),)


class RollupWatermarkRow(Base):
    """One row: every terminal task with ``completed_at`` at or before ``watermark`` is in
    ``task_rollups``. The roll loop locks it FOR UPDATE; changes that take a rolled task
    out (retry, delete, purge) lock it FOR SHARE."""

    __tablename__ = "rollup_watermark"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    watermark: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
