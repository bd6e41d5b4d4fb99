"""Every NATS stream, subject, consumer and bucket name, declared once.

Jobs:   stream MEDIATASKS_JOBS, subjects ``mediatasks.jobs.<task_type>.<priority>``,
        work-queue retention, one durable pull consumer per (task type, priority) named
        ``jobs_<task_type>_<priority>`` shared by every replica of the service.
Events: stream MEDIATASKS_EVENTS, subjects ``mediatasks.events.<task_id>``, limits.
DLQ:    stream MEDIATASKS_DLQ, subjects ``mediatasks.dlq.<task_type>``, limits.
Cancel: core NATS ``mediatasks.control.cancel.<task_id>`` (no stream: only the live
        worker running the task cares).
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from mediatasks.core.catalog import KINDS
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

JOBS_STREAM = "MEDIATASKS_JOBS"
EVENTS_STREAM = "MEDIATASKS_EVENTS"
DLQ_STREAM = "MEDIATASKS_DLQ"
WORKERS_BUCKET = "mediatasks-workers"
PROVIDERS_BUCKET = "mediatasks-providers"
APIKEYS_BUCKET = "mediatasks-apikeys"
# Entries of a process that died without cleaning up vanish after these TTLs.
WORKERS_TTL_SECONDS = 15.0
PROVIDERS_TTL_SECONDS = 60.0

# Highest first: the order a worker tries them in.
PRIORITIES = ("urgent", "high", "medium", "low")
DEFAULT_PRIORITY = "medium"
# Other names clients use for the same levels (the background-tasks API says these).
PRIORITY_ALIASES = {"critical": "urgent", "normal": "medium"}


def priority_of(name: str) -> str | None:
    """The priority ``name`` means (case-insensitive, aliases resolved; "" the default),
    or None when it names none."""
    key = (name or DEFAULT_PRIORITY).strip().lower()
    key = PRIORITY_ALIASES.get(key, key)
    return key if key in PRIORITIES else None


# Task type -> the media service that runs it (from the catalog).
TASK_TYPES: dict[str, str] = {kind.task_type: kind.service for kind in KINDS.values()}


def job_subject(task_type: str, priority: str) -> str:
    return f"mediatasks.jobs.{task_type}.{priority}"


def job_consumer(task_type: str, priority: str) -> str:
    return f"jobs_{task_type}_{priority}"


def event_subject(task_id: str) -> str:
    return f"mediatasks.events.{task_id}"


def dlq_subject(task_type: str) -> str:
    return f"mediatasks.dlq.{task_type}"


def cancel_subject(task_id: str) -> str:
    return f"mediatasks.control.cancel.{task_id}"


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        # The stream exists with other settings (an upgrade changed a limit): update it.
        await js.update_stream(config)


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create or update the three streams; idempotent, safe from several processes."""
    await _ensure_stream(
        js,
        StreamConfig(
            name=JOBS_STREAM,
            subjects=["mediatasks.jobs.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=settings.dedupe_window_seconds,
        ),
    )
    await _ensure_stream(
        js,
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=["mediatasks.events.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=settings.events_max_age_seconds,
            duplicate_window=settings.dedupe_window_seconds,
        ),
    )
    await _ensure_stream(
        js,
        StreamConfig(
            name=DLQ_STREAM,
            subjects=["mediatasks.dlq.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * 86400,
        ),
    )


async def ensure_job_consumer(js: JetStreamContext, task_type: str, priority: str, settings: Settings) -> str:
    """Create the durable pull consumer of one (task type, priority); return its name."""
    name = job_consumer(task_type, priority)
    config = ConsumerConfig(
        durable_name=name,
        filter_subject=job_subject(task_type, priority),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_seconds,
        # The runtime moves a job to the DLQ itself once it has been delivered
        # max_deliver times, so JetStream must never stop redelivering silently first.
        max_deliver=-1,
        max_ack_pending=-1,
    )
    try:
        # Creates the consumer, or updates it when a setting such as AckWait changed.
        await js.add_consumer(JOBS_STREAM, config)
    except BadRequestError as exc:  # a change the server cannot apply in place
        log.warning("consumer %s keeps its old configuration: %s", name, exc)
    return name


async def ensure_kv(js: JetStreamContext, bucket: str, *, ttl: float | None = None):
    """Open (creating if needed) a KV bucket."""
    from nats.js.api import KeyValueConfig

    try:
        return await js.key_value(bucket)
    except NotFoundError:
        try:
            return await js.create_key_value(KeyValueConfig(bucket=bucket, ttl=ttl, history=1))
        except BadRequestError:
            return await js.key_value(bucket)
