"""The artifact store: uploaded inputs and produced outputs.

Each artifact is one object named by its id (uuid4 hex); its content type, file name,
owner, role and SHA-256 travel with the object, so every service can serve, check and
delete it without the database. Where the objects live is ``MEDIATASKS_ARTIFACT_STORE``:
``nats`` (default) keeps them in a JetStream object store bucket
(:mod:`mediatasks.core.artifacts.nats_backend`), ``s3`` in an S3-compatible bucket
(:mod:`mediatasks.core.artifacts.s3_backend`); both are named ``MEDIATASKS_ARTIFACT_BUCKET``.
:class:`ArtifactStore` is the one interface callers use; it owns the ids, checksums and
owner checks, and a backend only moves bytes and descriptions.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path

from mediatasks.core.artifacts.backend import (
    ARTIFACT_STORES,
    ArtifactBackend,
    artifact_not_found,
    guess_content_type,
    looks_like_artifact_id,
    safe_filename,
)
from mediatasks.core.settings import ConfigurationError, Settings
from mediatasks.v1 import common_pb2


def make_backend(js, settings: Settings) -> ArtifactBackend:
    """The backend ``settings.artifact_store`` names; a bad configuration raises
    :class:`ConfigurationError` naming the variables, so a service fails at start."""
    kind = settings.artifact_store.strip().lower()
    # Imported here so that a process on one backend never loads the other's client.
    if kind == "nats":
        from mediatasks.core.artifacts.nats_backend import JetStreamArtifacts

        return JetStreamArtifacts(js, settings.artifact_bucket)
    if kind == "s3":
        from mediatasks.core.artifacts.s3_backend import S3Artifacts

        return S3Artifacts.from_settings(settings)
    raise ConfigurationError(
        f"{settings.env_name('artifact_store')} must be one of {', '.join(ARTIFACT_STORES)}, "
        f"not {settings.artifact_store!r}"
    )


def _sha256_of_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class ArtifactStore:
    """Artifacts in the bucket ``settings.artifact_bucket`` of the configured backend.

    ``js`` is the JetStream context (used by the ``nats`` backend only). Another owner's
    artifact answers exactly like a missing one: ``ARTIFACT_NOT_FOUND``.
    """

    def __init__(self, js, settings: Settings) -> None:
        self.js = js
        self.settings = settings
        self.backend: ArtifactBackend = make_backend(js, settings)

    async def put_bytes(
        self, data: bytes, *, content_type: str, filename: str, owner: str, role: str = ""
    ) -> common_pb2.Artifact:
        """Store bytes (a job's output, or an upload already checked against its limit)."""
        return await self._put(data, len(data), hashlib.sha256(data).hexdigest(), content_type, filename, owner, role)

    async def put_file(
        self, path: Path, *, owner: str, role: str = "", content_type: str | None = None, filename: str | None = None
    ) -> common_pb2.Artifact:
        """Store a file, streamed from disk (its name and type guessed unless given)."""
        name = filename or path.name
        sha256 = await asyncio.to_thread(_sha256_of_file, path)
        size = path.stat().st_size
        return await self._put(path, size, sha256, content_type or guess_content_type(name), name, owner, role)

    async def _put(
        self, source: bytes | Path, size: int, sha256: str, content_type: str, filename: str, owner: str, role: str
    ) -> common_pb2.Artifact:
        artifact_id = uuid.uuid4().hex
        description = {
            "content_type": content_type or "application/octet-stream",
            "filename": safe_filename(filename),
            "owner": owner,
            "role": role,
            "sha256": sha256,
        }
        await self.backend.put(artifact_id, source, description)
        return self._artifact(artifact_id, description, size)

    @staticmethod
    def _artifact(artifact_id: str, description: dict[str, str], size: int) -> common_pb2.Artifact:
        return common_pb2.Artifact(
            artifact_id=artifact_id,
            content_type=description.get("content_type") or "application/octet-stream",
            size_bytes=size,
            sha256=description.get("sha256", ""),
            filename=description.get("filename", ""),
            url=f"/api/v1/media/artifacts/{artifact_id}",
            role=description.get("role", ""),
        )

    @staticmethod
    def _check_owner(artifact_id: str, description: dict[str, str], owner: str | None) -> None:
        # An artifact stored without an owner is readable by anyone who knows its id.
        if owner is not None and description.get("owner") not in (owner, None):
            raise artifact_not_found(artifact_id)

    async def get(self, artifact_id: str, *, owner: str | None = None) -> tuple[common_pb2.Artifact, bytes]:
        """The artifact and its bytes; another owner's artifact is "not found"."""
        if not looks_like_artifact_id(artifact_id):
            raise artifact_not_found(artifact_id)
        description, data = await self.backend.read(artifact_id)
        self._check_owner(artifact_id, description, owner)
        return self._artifact(artifact_id, description, len(data)), data

    async def get_info(self, artifact_id: str, *, owner: str | None = None) -> common_pb2.Artifact:
        """The artifact's description without its bytes."""
        if not looks_like_artifact_id(artifact_id):
            raise artifact_not_found(artifact_id)
        description, size = await self.backend.describe(artifact_id)
        self._check_owner(artifact_id, description, owner)
        return self._artifact(artifact_id, description, size)

    async def download_to(self, artifact_id: str, path: Path, *, owner: str | None = None) -> common_pb2.Artifact:
        """Write the artifact to ``path`` (streamed; the owner is checked first)."""
        artifact = await self.get_info(artifact_id, owner=owner)
        artifact.size_bytes = await self.backend.read_into(artifact_id, path)
        return artifact

    async def delete_many(self, artifact_ids: Iterable[str]) -> None:
        """Delete these artifacts; missing ones are skipped, failures are logged."""
        await self.backend.delete([a for a in artifact_ids if looks_like_artifact_id(a)])
