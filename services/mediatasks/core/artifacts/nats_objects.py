"""Streaming writes and ranged reads of JetStream object-store objects.

nats.py's ``ObjectStore.put`` reads its source synchronously in a thread and waits for
each chunk's acknowledgement before sending the next; ``get`` delivers through a push
consumer that measured 64 MB/s here. This module speaks the same wire format (chunks on
``$O.<bucket>.C.<nuid>``, then one JSON ``ObjectInfo`` on ``$O.<bucket>.M.<name>`` with a
subject rollup), so objects written here are ordinary objects to every other client
(``nats object get``, nats.py ``get_info`` / ``delete`` / ``list``), and:

- writes take an async iterator of byte chunks (an upload as it arrives) and keep a
  bounded window of chunk publishes in flight;
- reads pull chunks in batches through an ephemeral consumer with no acks (about
  1 GB/s here) and can start near any byte offset: every ``INDEX_EVERY`` chunks, the
  writer records the chunk's stream sequence in the object's headers, so a ``Range`` read
  starts at the indexed chunk before the offset instead of at the first byte.

Memory stays bounded by ``CHUNK_SIZE`` × ``WINDOW`` per transfer whatever the object's size.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import api
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_DIGEST_TEMPLATE, OBJ_META_PRE_TEMPLATE

# 256 KiB chunks: well under NATS's 1 MiB default payload limit, large enough that the
# per-message cost is small next to the bytes.
CHUNK_SIZE = 256 * 1024
# Chunk publishes awaiting their acknowledgement at once (4 MiB in flight).
WINDOW = 16
# How long one chunk's acknowledgement may take: an ack lost with a NATS node that died
# (a cluster failing over) never comes, and the write must fail (retryably) instead of
# hanging its job forever.
ACK_TIMEOUT_SECONDS = 15.0
# One index entry per 32 chunks (8 MiB): a 5 GiB object carries 640 of them.
INDEX_EVERY = 32
INDEX_HEADER = "Mediatasks-Chunk-Index"
# Chunks fetched per pull request while reading, and how long one pull may wait.
READ_BATCH = 32
READ_TIMEOUT_SECONDS = 30.0
# JetStream's refusal of a publish whose expected last sequence on the subject is wrong.
_WRONG_LAST_SEQUENCE = 10071
# An object's info replaces the older ones of its name; the second header asserts there is none.
_ROLLUP = {api.Header.ROLLUP: MSG_ROLLUP_SUBJECT}
_NEW_NAME = api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE


def stream_name(bucket: str) -> str:
    return f"OBJ_{bucket}"


def _meta_subject(bucket: str, name: str) -> str:
    return OBJ_META_PRE_TEMPLATE.format(bucket=bucket, obj=base64.urlsafe_b64encode(name.encode()).decode())


@dataclass(frozen=True)
class WrittenObject:
    size: int
    sha256: str


async def rechunk(chunks: AsyncIterator[bytes], size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """The same bytes in pieces of exactly ``size`` (the last one shorter)."""
    pending = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


async def write_object(
    js, bucket: str, name: str, chunks: AsyncIterator[bytes], description: Callable[[], str]
) -> WrittenObject:
    """Store ``chunks`` as object ``name`` (replacing an older one of that name).

    ``description()`` is called once every chunk is sent. If ``chunks`` raises (a dropped
    upload, a size limit), the chunks already sent are purged and the exception
    propagates: no partial object is ever visible.
    """
    nuid = uuid.uuid4().hex
    chunk_subject = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=bucket, obj=nuid)
    digest = hashlib.sha256()
    size = count = 0
    index: list[int] = []
    in_flight: list[tuple[int, asyncio.Future]] = []

    async def settle(keep: int) -> None:
        while len(in_flight) > keep:
            position, future = in_flight.pop(0)
            ack = await asyncio.wait_for(future, timeout=ACK_TIMEOUT_SECONDS)
            if position % INDEX_EVERY == 0:
                index.append(ack.seq)

    meta_subject = _meta_subject(bucket, name)
    meta: asyncio.Future[api.PubAck] | None = None
    try:
        async for piece in rechunk(chunks):
            digest.update(piece)
            in_flight.append((count, await js.publish_async(chunk_subject, piece)))
            size += len(piece)
            count += 1
            await settle(WINDOW - 1)
        indexed = count > INDEX_EVERY  # smaller objects are read from their first chunk anyway
        if indexed:
            await settle(0)  # the index names the indexed chunks' stream sequences
        info = api.ObjectInfo(
            name=name,
            bucket=bucket,
            nuid=nuid,
            size=size,
            chunks=count,
            mtime=datetime.now(UTC).isoformat(),
            digest=OBJ_DIGEST_TEMPLATE.format(digest=base64.urlsafe_b64encode(digest.digest()).decode()),
            description=description(),
            headers={INDEX_HEADER: [",".join(map(str, index))]} if indexed else None,
            options=api.ObjectMetaOptions(max_chunk_size=CHUNK_SIZE),
        )
        encoded = json.dumps(info.as_dict()).encode()
        # Most names are new (a job's outputs, uploads): the info goes right behind the
        # chunks, asserting the name has none yet, and all acknowledgements are awaited
        # together. Only when that is refused is the older info read (its chunks are
        # purged once the rollup replaced it) and the info published again.
        # (A task around JetStreamContext.publish, not publish_async: nats.py's async
        # publish never settles a future whose publish JetStream refused.)
        meta = asyncio.ensure_future(js.publish(meta_subject, encoded, headers={**_ROLLUP, _NEW_NAME: "0"}))
        await settle(0)
        try:
            await asyncio.wait_for(asyncio.shield(meta), timeout=ACK_TIMEOUT_SECONDS)
            previous = None
        except APIError as exc:
            if exc.err_code != _WRONG_LAST_SEQUENCE:
                raise
            previous = await _info(js, bucket, name)
            await js.publish(meta_subject, encoded, headers=_ROLLUP)
        meta = None
    except BaseException:
        for _, future in in_flight:
            future.cancel()
        if meta is not None:
            await asyncio.shield(_take_back_new_info(js, bucket, meta_subject, meta))
        await asyncio.shield(_purge(js, bucket, chunk_subject))
        raise
    if previous is not None and previous.nuid and previous.nuid != nuid:
        await _purge(js, bucket, OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=bucket, obj=previous.nuid))
    return WrittenObject(size=size, sha256=digest.hexdigest())


async def _take_back_new_info(js, bucket: str, meta_subject: str, meta: asyncio.Future[api.PubAck]) -> None:
    """A write failed after its info went out asserting the name was new: once that info
    is stored, remove it (it named nothing else), so no object without its chunks is seen."""
    try:
        await asyncio.wait_for(meta, timeout=ACK_TIMEOUT_SECONDS)
    except BaseException:
        return  # not stored
    await _purge(js, bucket, meta_subject)


async def _purge(js, bucket: str, subject: str) -> None:
    try:
        await js.purge_stream(stream_name(bucket), subject=subject)
    except Exception:  # best effort: housekeeping removes what is left
        pass


async def _info(js, bucket: str, name: str) -> api.ObjectInfo | None:
    try:
        message = await js.get_last_msg(stream_name(bucket), _meta_subject(bucket, name), direct=True)
    except NotFoundError:
        return None
    info = api.ObjectInfo.from_response(json.loads(message.data))
    return None if info.deleted else info


def _chunk_index(info: api.ObjectInfo) -> list[int]:
    values = (info.headers or {}).get(INDEX_HEADER) or [""]
    text = values[0] if isinstance(values, list) else str(values)
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


async def read_object(js, info: api.ObjectInfo, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
    """The bytes ``start`` .. ``end`` (exclusive; None: to the end) of the object ``info``
    describes, chunk by chunk."""
    size = int(info.size or 0)
    end = size if end is None else min(end, size)
    if start >= end:
        return
    chunk_size = int(info.options.max_chunk_size if info.options and info.options.max_chunk_size else 0)
    subject = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=info.bucket, obj=info.nuid)
    # Start from the last indexed chunk at or before ``start`` (objects written by other
    # clients have no index and are read from their first chunk).
    index = _chunk_index(info)
    position = 0
    deliver: dict = {"deliver_policy": api.DeliverPolicy.ALL}
    if index and chunk_size:
        slot = min((start // chunk_size) // INDEX_EVERY, len(index) - 1)
        position = slot * INDEX_EVERY * chunk_size
        deliver = {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": index[slot]}
    config = api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE,
        filter_subject=subject,
        mem_storage=True,
        inactive_threshold=READ_TIMEOUT_SECONDS,
        **deliver,
    )
    subscription = await js.pull_subscribe(subject, stream=stream_name(info.bucket), config=config)
    try:
        while position < end:
            messages = await subscription.fetch(batch=READ_BATCH, timeout=READ_TIMEOUT_SECONDS)
            for message in messages:
                data = message.data
                piece_start, piece_end = position, position + len(data)
                position = piece_end
                if piece_end <= start:
                    continue
                yield data[max(0, start - piece_start) : len(data) - max(0, piece_end - end)]
                if position >= end:
                    break
    finally:
        await asyncio.shield(_unsubscribe(subscription))


async def _unsubscribe(subscription) -> None:
    try:
        await subscription.unsubscribe()
    except Exception:
        pass
