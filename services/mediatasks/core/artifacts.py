"""The artifact store: uploaded inputs and produced outputs, in a JetStream object store.

Each artifact is one object named by its id; its content type, file name, owner and role
ride in the object's description as JSON so that every service can serve, check and
delete it without the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import uuid
from collections.abc import Iterable
from pathlib import Path

import grpc
from nats.js.api import ObjectMeta, ObjectStoreConfig, StorageType
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError

from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.v1 import common_pb2

log = logging.getLogger(__name__)


def artifact_not_found(artifact_id: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.NOT_FOUND, "ARTIFACT_NOT_FOUND", f"no artifact {artifact_id!r}")


def looks_like_artifact_id(value: str) -> bool:
    try:
        return uuid.UUID(value).hex == value
    except ValueError:
        return False


def safe_filename(name: str) -> str:
    """A file name fit for a Content-Disposition header: no path, quotes or controls."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"\\;')
    return cleaned[:200] or "file"


def guess_content_type(filename: str, default: str = "application/octet-stream") -> str:
    extra = {".srt": "application/x-subrip", ".vtt": "text/vtt", ".ass": "text/x-ssa", ".webp": "image/webp"}
    suffix = Path(filename).suffix.lower()
    return extra.get(suffix) or mimetypes.guess_type(filename)[0] or default


class ArtifactStore:
    """Artifacts in the JetStream object store bucket ``settings.artifact_bucket``."""

    def __init__(self, js, settings: Settings) -> None:
        self.js = js
        self.settings = settings
        self._store = None

    async def _bucket(self):
        if self._store is None:
            try:
                self._store = await self.js.object_store(self.settings.artifact_bucket)
            except NotFoundError:
                try:
                    self._store = await self.js.create_object_store(
                        bucket=self.settings.artifact_bucket,
                        config=ObjectStoreConfig(bucket=self.settings.artifact_bucket, storage=StorageType.FILE),
                    )
                except BadRequestError:
                    self._store = await self.js.object_store(self.settings.artifact_bucket)
        return self._store

    async def put_bytes(
        self, data: bytes, *, content_type: str, filename: str, owner: str, role: str = ""
    ) -> common_pb2.Artifact:
        """Store bytes (a job's output, or an upload already checked against its limit)."""
        filename = safe_filename(filename)
        artifact_id = uuid.uuid4().hex
        sha256 = hashlib.sha256(data).hexdigest()
        description = {
            "content_type": content_type,
            "filename": filename,
            "owner": owner,
            "role": role,
            "sha256": sha256,
        }
        store = await self._bucket()
        await store.put(artifact_id, data, meta=ObjectMeta(name=artifact_id, description=json.dumps(description)))
        return self._artifact(artifact_id, description, len(data))

    async def put_file(
        self, path: Path, *, owner: str, role: str = "", content_type: str | None = None, filename: str | None = None
    ) -> common_pb2.Artifact:
        name = filename or path.name
        return await self.put_bytes(
            path.read_bytes(),
            content_type=content_type or guess_content_type(name),
            filename=name,
            owner=owner,
            role=role,
        )

    @staticmethod
    def _artifact(artifact_id: str, description: dict, size: int) -> common_pb2.Artifact:
        return common_pb2.Artifact(
            artifact_id=artifact_id,
            content_type=description.get("content_type", "application/octet-stream"),
            size_bytes=size,
            sha256=description.get("sha256", ""),
            filename=description.get("filename", ""),
            url=f"/api/v1/media/artifacts/{artifact_id}",
            role=description.get("role", ""),
        )

    async def get(self, artifact_id: str, *, owner: str | None = None) -> tuple[common_pb2.Artifact, bytes]:
        """The artifact and its bytes; another owner's artifact is "not found"."""
        if not looks_like_artifact_id(artifact_id):
            raise artifact_not_found(artifact_id)
        store = await self._bucket()
        try:
            result = await store.get(artifact_id)
        except (ObjectNotFoundError, NotFoundError):
            raise artifact_not_found(artifact_id) from None
        description = json.loads(result.info.description or "{}")
        if owner is not None and description.get("owner") not in (owner, None):
            raise artifact_not_found(artifact_id)
        data = result.data or b""
        return self._artifact(artifact_id, description, len(data)), data

    async def get_info(self, artifact_id: str, *, owner: str | None = None) -> common_pb2.Artifact:
        """The artifact's description without its bytes."""
        if not looks_like_artifact_id(artifact_id):
            raise artifact_not_found(artifact_id)
        store = await self._bucket()
        try:
            info = await store.get_info(artifact_id)
        except (ObjectNotFoundError, NotFoundError):
            raise artifact_not_found(artifact_id) from None
        description = json.loads(info.description or "{}")
        if owner is not None and description.get("owner") not in (owner, None):
            raise artifact_not_found(artifact_id)
        return self._artifact(artifact_id, description, int(info.size or 0))

    async def download_to(self, artifact_id: str, path: Path, *, owner: str | None = None) -> common_pb2.Artifact:
        artifact, data = await self.get(artifact_id, owner=owner)
        path.write_bytes(data)
        return artifact

    async def delete_many(self, artifact_ids: Iterable[str]) -> None:
        store = await self._bucket()
        for artifact_id in artifact_ids:
            try:
                await store.delete(artifact_id)
            except (ObjectNotFoundError, NotFoundError):
                pass
            except Exception as exc:
                log.warning("deleting artifact %s failed: %s", artifact_id, exc)
