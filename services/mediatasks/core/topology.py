"""Every NATS stream, subject, consumer and bucket name, declared once.

Jobs:   stream MEDIATASKS_JOBS, subjects ``mediatasks.jobs.<task_type>.<priority>``,
        work-queue retention, one durable pull consumer per (task type, priority) named
        ``jobs_<task_type>_<priority>`` shared by every replica of the service.
Events: stream MEDIATASKS_EVENTS, subjects ``mediatasks.events.<task_id>``, limits.
Hooks:  stream MEDIATASKS_HOOKS, subjects ``mediatasks.hooks.<task_id>``, limits: the events
        of tasks that have a webhook once more, for the webhook dispatcher's durable
        consumer, which so never reads the events of the many tasks that have none.
DLQ:    stream MEDIATASKS_DLQ, subjects ``mediatasks.dlq.<task_type>``, limits.
Cancel: core NATS ``mediatasks.control.cancel.<task_id>`` (no stream: only the live
        worker running the task cares).
"""

from __future__ import annotations

import asyncio
import logging

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
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
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from mediatasks.core.catalog import KINDS
from mediatasks.core.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

JOBS_STREAM = "MEDIATASKS_JOBS"
EVENTS_STREAM = "MEDIATASKS_EVENTS"
HOOKS_STREAM = "MEDIATASKS_HOOKS"
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


# Names a worker's queue list may use: priorities, their aliases, and the seed's
# ``queue:<name>`` form (``WORKER_QUEUES=queue:critical,queue:high``).
def queue_priorities(queues: str) -> tuple[str, ...]:
    """The priorities a comma-separated queue list names, highest first; all of them for
    an empty list. Raises ``ValueError`` naming an entry that is no priority."""
    chosen: set[str] = set()
    for entry in (part.strip() for part in (queues or "").split(",")):
        if not entry:
            continue
        priority = priority_of(entry.removeprefix("queue:"))
        if priority is None:
            names = ", ".join([*PRIORITIES, *PRIORITY_ALIASES])
            raise ValueError(f"queue {entry!r} is not a priority (one of {names})")
        chosen.add(priority)
    return tuple(p for p in PRIORITIES if p in chosen) or PRIORITIES


# Task type -> the media service that runs it (from the catalog).
TASK_TYPES: dict[str, str] = {kind.task_type: kind.service for kind in KINDS.values()}


def job_subject(task_type: str, priority: str) -> str:
    return f"mediatasks.jobs.{task_type}.{priority}"


def job_consumer(task_type: str, priority: str) -> str:
    return f"jobs_{task_type}_{priority}"


def event_subject(task_id: str) -> str:
    return f"mediatasks.events.{task_id}"


def hook_subject(task_id: str) -> str:
    return f"mediatasks.hooks.{task_id}"


def dlq_subject(task_type: str) -> str:
    return f"mediatasks.dlq.{task_type}"


def cancel_subject(task_id: str) -> str:
    return f"mediatasks.control.cancel.{task_id}"


# Every task's cancel subject: a worker listens once, not once per job.
CANCEL_SUBJECTS = cancel_subject("*")


def task_of_cancel_subject(subject: str) -> str:
    return subject.rsplit(".", 1)[-1]


# Buckets every process may open, with the TTL of their entries: declared at start by
# ensure_streams so that they exist with the configured replica count before anyone uses them.
KV_BUCKETS: dict[str, float | None] = {
    APIKEYS_BUCKET: None,
    WORKERS_BUCKET: WORKERS_TTL_SECONDS,
    PROVIDERS_BUCKET: PROVIDERS_TTL_SECONDS,
}


class ReplicationError(ConfigurationError):
    """A stream, bucket or object store cannot have the replica count the settings ask."""


def kv_stream(bucket: str) -> str:
    """The stream that holds KV bucket ``bucket`` (JetStream's naming)."""
    return f"KV_{bucket}"


def object_store_stream(bucket: str) -> str:
    """The stream that holds object store ``bucket`` (JetStream's naming)."""
    return f"OBJ_{bucket}"


def _refusal(settings: Settings, what: str, have: int | None, exc: Exception) -> ReplicationError:
    variable = settings.env_name("nats_replicas")
    now = f" (it has {have})" if have is not None else ""
    return ReplicationError(
        f"{what} cannot have {settings.nats_replicas} replicas{now}: {getattr(exc, 'description', None) or exc}. "
        f"Set {variable} to what this NATS deployment holds (1 on a single server, at most the number of "
        f"JetStream nodes of a cluster)"
    )


async def _replicas_of(js: JetStreamContext, stream: str) -> int | None:
    try:
        return int((await js.stream_info(stream)).config.num_replicas or 1)
    except NotFoundError:
        return None


async def platform_replicas(js: JetStreamContext) -> int:
    """The replica count of the platform's streams (1 before they exist): what an asset
    created outside :func:`ensure_streams` (a bucket opened late) gets."""
    return await _replicas_of(js, JOBS_STREAM) or 1


async def _ensure_stream(js: JetStreamContext, config: StreamConfig, settings: Settings) -> None:
    config.num_replicas = settings.nats_replicas
    try:
        await js.add_stream(config)
        return
    except ServiceUnavailableError:
        raise
    except APIError as exc:  # 400: it exists with other settings; 500: replicas it cannot hold
        created_error = exc
    have = await _replicas_of(js, str(config.name))
    if have is None:  # add_stream refused a new stream: the replica count is what it cannot hold
        raise _refusal(settings, f"stream {config.name}", None, created_error) from created_error
    try:
        # The stream exists with other settings (an upgrade changed a limit, or the replica
        # count changed: JetStream scales a stream in place, copying its messages): update it.
        await js.update_stream(config)
    except ServiceUnavailableError:
        raise
    except APIError as exc:
        if have != settings.nats_replicas:
            raise _refusal(settings, f"stream {config.name}", have, exc) from exc
        raise
    if have != settings.nats_replicas:
        log.warning("stream %s scaled from %d to %d replicas", config.name, have, settings.nats_replicas)


async def _scale_stream(js: JetStreamContext, stream: str, what: str, settings: Settings) -> bool:
    """Give the existing ``stream`` (of a bucket) the configured replica count; False
    when it does not exist."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return False
    have = int(info.config.num_replicas or 1)
    if have == settings.nats_replicas:
        return True
    config = info.config
    config.num_replicas = settings.nats_replicas
    try:
        await js.update_stream(config)
    except ServiceUnavailableError:
        raise
    except APIError as exc:
        raise _refusal(settings, what, have, exc) from exc
    log.warning("%s scaled from %d to %d replicas", what, have, settings.nats_replicas)
    return True


async def ensure_buckets(js: JetStreamContext, settings: Settings) -> None:
    """Create the platform's KV buckets (and the artifact object store when artifacts
    live in NATS) with ``settings.nats_replicas`` replicas, or scale existing ones to it."""
    from nats.js.api import KeyValueConfig, ObjectStoreConfig

    for bucket, ttl in KV_BUCKETS.items():
        what = f"KV bucket {bucket}"
        if await _scale_stream(js, kv_stream(bucket), what, settings):
            continue
        config = KeyValueConfig(bucket=bucket, ttl=ttl, history=1, replicas=settings.nats_replicas)
        try:
            await js.create_key_value(config)
        except ServiceUnavailableError:
            raise
        except APIError as exc:
            if await _replicas_of(js, kv_stream(bucket)) is None:
                raise _refusal(settings, what, None, exc) from exc
            await _scale_stream(js, kv_stream(bucket), what, settings)  # another process made it first
    if settings.artifact_store.strip().lower() != "nats":
        return
    bucket = settings.artifact_bucket
    what = f"object store {bucket}"
    if await _scale_stream(js, object_store_stream(bucket), what, settings):
        return
    store_config = ObjectStoreConfig(bucket=bucket, storage=StorageType.FILE, replicas=settings.nats_replicas)
    try:
        await js.create_object_store(bucket=bucket, config=store_config)
    except ServiceUnavailableError:
        raise
    except APIError as exc:
        if await _replicas_of(js, object_store_stream(bucket)) is None:
            raise _refusal(settings, what, None, exc) from exc
        await _scale_stream(js, object_store_stream(bucket), what, settings)


# How long a start waits out a JetStream that does not answer its API yet (a cluster
# electing its meta leader, a node still catching up) before giving up.
DECLARE_PATIENCE_SECONDS = 60.0


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create or update the three streams and the platform's buckets, each with
    ``settings.nats_replicas`` replicas; idempotent, safe from several processes. A
    replica count the deployment cannot hold fails with :class:`ReplicationError`; a
    JetStream that is unavailable for a moment (a cluster electing a leader) is waited
    for, up to :data:`DECLARE_PATIENCE_SECONDS`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DECLARE_PATIENCE_SECONDS
    while True:
        try:
            await _declare(js, settings)
            return
        except (NatsTimeoutError, NoRespondersError, ServiceUnavailableError) as exc:
            if loop.time() > deadline:
                raise
            log.warning("JetStream not answering while declaring streams (%s); trying again", exc)
            await asyncio.sleep(1.0)


async def _declare(js: JetStreamContext, settings: Settings) -> None:
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
        settings,
    )
    # The hooks stream holds a subset of the events, so it keeps them as long and as many.
    for name, subjects in ((EVENTS_STREAM, "mediatasks.events.>"), (HOOKS_STREAM, "mediatasks.hooks.>")):
        await _ensure_stream(
            js,
            StreamConfig(
                name=name,
                subjects=[subjects],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=settings.events_max_age_seconds,
                # Bounded in bytes too: the oldest events go first, never a new one refused.
                max_bytes=settings.events_max_bytes,
                discard=DiscardPolicy.OLD,
                duplicate_window=settings.dedupe_window_seconds,
            ),
            settings,
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
        settings,
    )
    await ensure_buckets(js, settings)


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


async def kv_entries(js: JetStreamContext, bucket: str) -> dict[str, bytes]:
    """Every key of a KV bucket that holds a value now, with its value.

    Read from the bucket's stream: the subjects it holds (one request), then each one's
    last message. nats-py's ``KeyValue.keys()`` lists through a consumer that ends its
    listing when nothing seems pending, and a key written again while it lists (the old
    revision it was about to deliver is gone, history is 1) ended it early: a live key
    went missing from one answer now and then (a provider missing from /providers, a task
    type briefly without live workers).
    """
    stream, prefix = f"KV_{bucket}", f"$KV.{bucket}."
    try:
        info = await js.stream_info(stream, subjects_filter=prefix + ">")
    except NotFoundError:
        return {}
    entries: dict[str, bytes] = {}
    for subject in sorted(info.state.subjects or {}):
        try:
            message = await js.get_last_msg(stream, subject)
        except NotFoundError:  # expired or purged since the listing
            continue
        if (message.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
            continue
        entries[subject[len(prefix) :]] = message.data or b""
    return entries


async def ensure_kv(js: JetStreamContext, bucket: str, *, ttl: float | None = None):
    """Open (creating if needed, as replicated as the platform's streams) a KV bucket."""
    from nats.js.api import KeyValueConfig

    try:
        return await js.key_value(bucket)
    except NotFoundError:
        replicas = await platform_replicas(js)
        try:
            return await js.create_key_value(KeyValueConfig(bucket=bucket, ttl=ttl, history=1, replicas=replicas))
        except BadRequestError:
            return await js.key_value(bucket)
