"""Artifacts in a JetStream object store bucket (``MEDIATASKS_ARTIFACT_STORE=nats``).

The description rides in the object's description field as JSON. Files are streamed in
and out in the object store's chunks rather than held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from nats.js.api import ObjectMeta, ObjectStoreConfig, StorageType
from nats.js.errors import BadRequestError, NotFoundError

from mediatasks.core import metrics
from mediatasks.core.artifacts.backend import artifact_not_found

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
            config = ObjectStoreConfig(bucket=self.bucket, storage=StorageType.FILE)
            return await self.js.create_object_store(bucket=self.bucket, config=config)
        except BadRequestError:  # another process created it first
            return await self.js.object_store(self.bucket)

    async def put(self, artifact_id: str, source: bytes | Path, description: dict[str, str]) -> None:
        store = await self._bucket()
        meta = ObjectMeta(name=artifact_id, description=json.dumps(description))
        if isinstance(source, bytes):
            await store.put(artifact_id, source, meta=meta)
            return
        with source.open("rb") as handle:
            await store.put(artifact_id, handle, meta=meta)

    async def describe(self, artifact_id: str) -> tuple[dict[str, str], int]:
        store = await self._bucket()
        try:
            info = await store.get_info(artifact_id)
        except NotFoundError:  # ObjectNotFoundError is one too
            raise artifact_not_found(artifact_id) from None
        return json.loads(info.description or "{}"), int(info.size or 0)

    async def read(self, artifact_id: str) -> tuple[dict[str, str], bytes]:
        store = await self._bucket()
        try:
            result = await store.get(artifact_id)
        except NotFoundError:
            raise artifact_not_found(artifact_id) from None
        return json.loads(result.info.description or "{}"), bytes(result.data or b"")

    async def read_into(self, artifact_id: str, path: Path) -> int:
        store = await self._bucket()
        try:
            with path.open("wb") as handle:
                result = await store.get(artifact_id, writeinto=handle)
        except NotFoundError:
            raise artifact_not_found(artifact_id) from None
        return int(result.info.size or 0)

    async def delete(self, artifact_ids: list[str]) -> None:
        store = await self._bucket()
        for artifact_id in artifact_ids:
            try:
                await store.delete(artifact_id)
            except NotFoundError:
                pass
            except Exception as exc:
                log.warning("deleting artifact %s failed: %s", artifact_id, exc)
                metrics.ERRORS.labels("artifacts", "DELETE").inc()
