"""Artifacts in a JetStream object store bucket (``MEDIATASKS_ARTIFACT_STORE=nats``).

The description rides in the object's description field as JSON. Bytes are streamed in
and out by :mod:`mediatasks.core.artifacts.nats_objects` (pipelined writes, ranged
batch reads) rather than held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BadRequestError, NotFoundError

from mediatasks.core import metrics
from mediatasks.core.artifacts.backend import artifact_not_found
from mediatasks.core.artifacts.nats_objects import read_object, write_object
from mediatasks.core.topology import platform_replicas

log = logging.getLogger(__name__)


class JetStreamArtifacts:
    """The ``nats`` backend of :class:`mediatasks.core.artifacts.store.ArtifactStore`."""

    def __init__(self, js, bucket: str) -> None:
        self.js = js
        self.bucket = bucket
        self._store = None
        self._lock = asyncio.Lock()

    async def _bucket(self):
        async with self._lock:
            if self._store is None:
                self._store = await self._open_or_create()
        return self._store

    async def _open_or_create(self):
        try:
            return await self.js.object_store(self.bucket)
        except NotFoundError:
            pass
        try:
            # As replicated as the platform's streams (MEDIATASKS_NATS_REPLICAS; see topology).
            config = ObjectStoreConfig(
                bucket=self.bucket, storage=StorageType.FILE, replicas=await platform_replicas(self.js)
            )
            return await self.js.create_object_store(bucket=self.bucket, config=config)
        except BadRequestError:  # another process created it first
            return await self.js.object_store(self.bucket)

    async def _object_info(self, name: str):
        store = await self._bucket()
        try:
            return await store.get_info(name)
        except NotFoundError:  # ObjectNotFoundError is one too
            raise artifact_not_found(name) from None

    async def write(self, name: str, chunks: AsyncIterator[bytes], description: Callable[[], dict[str, str]]) -> None:
        await self._bucket()
        await write_object(self.js, self.bucket, name, chunks, lambda: json.dumps(description()))

    async def describe(self, name: str) -> tuple[dict[str, str], int]:
        info = await self._object_info(name)
        return json.loads(info.description or "{}"), int(info.size or 0)

    async def read(self, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        info = await self._object_info(name)
        async for chunk in read_object(self.js, info, start, end):
            yield chunk

    async def delete(self, names: list[str]) -> None:
        store = await self._bucket()
        for name in names:
            try:
                await store.delete(name)
            except NotFoundError:
                pass
            except Exception as exc:
                log.warning("deleting artifact %s failed: %s", name, exc)
                metrics.ERRORS.labels("artifacts", "DELETE").inc()

    async def usage(self) -> int:
        store = await self._bucket()
        status = await store.status()
        return int(status.stream_info.state.bytes or 0)
