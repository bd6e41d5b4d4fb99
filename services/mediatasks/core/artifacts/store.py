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
import copy
import hashlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from mediatasks.core.artifacts.backend import (
    ARTIFACT_STORES,
    ArtifactBackend,
    artifact_not_found,
    guess_content_type,
    looks_like_artifact_id,
    safe_filename,
)
from mediatasks.core.errors import MediaTasksError, too_large
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


# Chunks read from a file on disk at a time (a worker's output, a put_file).
FILE_CHUNK_BYTES = 1024 * 1024
# What get() (whole bytes in memory) is for: small artifacts such as subtitles or JSON.
SMALL_ARTIFACT_BYTES = 64 * 1024 * 1024
COMPOSITE = "composite"


class Meter:
    """Passes chunks through, counting and hashing them; over ``limit`` bytes it raises
    ``INPUT_TOO_LARGE`` (413) as soon as the first byte too many arrives."""

    def __init__(self, chunks: AsyncIterator[bytes], limit: int | None = None, what: str = "the upload") -> None:
        self._chunks = chunks
        self.limit = limit
        self.what = what
        self.size = 0
        self.digest = hashlib.sha256()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise too_large(f"{self.what} is over the limit of {self.limit} bytes", self.limit)
            self.digest.update(chunk)
            yield chunk

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


async def file_chunks(path: Path, start: int = 0, chunk_bytes: int = FILE_CHUNK_BYTES) -> AsyncIterator[bytes]:
    """A file's bytes from ``start``, read in a worker thread chunk by chunk."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        if start:
            await asyncio.to_thread(handle.seek, start)
        while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
            yield chunk
    finally:
        handle.close()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


# Outputs of a job attempt get ids derived from (task, attempt, n): whoever knows a task's
# attempts can find what each stored, even one whose worker died before reporting it.
_ATTEMPT_OUTPUTS = uuid.UUID("6f1d2c3a-9b7e-4c51-8e0a-3d2f1b6c7a90")
# More outputs than this from one attempt are not looked for when cleaning up.
MAX_OUTPUTS_PER_ATTEMPT = 64


def attempt_output_id(task_id: str, attempt: int, index: int) -> str:
    return uuid.uuid5(_ATTEMPT_OUTPUTS, f"{task_id}/{attempt}/{index}").hex


class ArtifactStore:
    """Artifacts in the bucket ``settings.artifact_bucket`` of the configured backend.

    ``js`` is the JetStream context (used by the ``nats`` backend only). Another owner's
    artifact answers exactly like a missing one: ``ARTIFACT_NOT_FOUND``, and it is checked
    before any byte is read. Nothing here holds a whole artifact in memory except
    :meth:`get`, which is for small ones.

    A resumable upload is stored as parts (plain objects ``<id>.partNNNNNN``) and finished
    as a *composite* artifact: an object named by the artifact id whose description says
    ``composite`` and whose bytes are the JSON list of its parts. Readers see one artifact.
    """

    def __init__(self, js, settings: Settings) -> None:
        self.js = js
        self.settings = settings
        self.backend: ArtifactBackend = make_backend(js, settings)
        self._attempt: tuple[str, int] | None = None
        self._outputs = itertools.count()

    def for_attempt(self, task_id: str, attempt: int) -> ArtifactStore:
        """The same store, naming what it stores after one attempt of one task (see
        :func:`attempt_output_id`), so outputs of attempts that never finished can be found
        and removed (:meth:`delete_attempt_outputs`)."""
        view = copy.copy(self)
        view._attempt = (task_id, attempt)
        view._outputs = itertools.count()
        return view

    def _new_id(self) -> str:
        if self._attempt is None:
            return uuid.uuid4().hex
        return attempt_output_id(*self._attempt, next(self._outputs))

    async def delete_attempt_outputs(self, task_id: str, attempts: Iterable[int], keep: Iterable[str] = ()) -> int:
        """Delete what these attempts of a task stored, except ``keep`` (the task's
        result); how many went. Each attempt's outputs are numbered from 0, so the first
        missing number ends the search."""
        kept = set(keep)
        doomed: list[str] = []
        for attempt in attempts:
            for index in range(MAX_OUTPUTS_PER_ATTEMPT):
                artifact_id = attempt_output_id(task_id, attempt, index)
                try:
                    await self.backend.describe(artifact_id)
                except MediaTasksError as exc:
                    if exc.reason == "ARTIFACT_NOT_FOUND":
                        break
                    raise
                if artifact_id not in kept:
                    doomed.append(artifact_id)
        await self.delete_many(doomed)
        return len(doomed)

    # --- writing ----------------------------------------------------------------------

    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        owner: str,
        filename: str,
        content_type: str,
        role: str = "",
        limit: int | None = None,
        artifact_id: str | None = None,
        folder: str = "",
    ) -> common_pb2.Artifact:
        """Store bytes as they arrive; over ``limit`` the write is undone and 413 raised.
        ``folder`` is the client's folder for it (Artifact.path), checked by the caller."""
        artifact_id = artifact_id or self._new_id()
        description = _description(content_type, filename, owner, role)
        if folder:
            description["folder"] = folder
        meter = await self._write(artifact_id, chunks, description, limit)
        return self._artifact(artifact_id, description, meter.size)

    async def _write(
        self, name: str, chunks: AsyncIterator[bytes], description: dict[str, str], limit: int | None = None
    ) -> Meter:
        """Write one object, its description completed with the bytes' SHA-256."""
        meter = Meter(chunks, limit)

        def finished() -> dict[str, str]:
            description["sha256"] = meter.sha256
            return description

        await self.backend.write(name, aiter(meter), finished)
        return meter

    async def put_bytes(
        self, data: bytes, *, content_type: str, filename: str, owner: str, role: str = ""
    ) -> common_pb2.Artifact:
        """Store bytes (a job's small output, such as subtitles or a JSON report)."""
        return await self.put_stream(_one(data), owner=owner, filename=filename, content_type=content_type, role=role)

    async def put_file(
        self,
        path: Path,
        *,
        owner: str,
        role: str = "",
        content_type: str | None = None,
        filename: str | None = None,
        folder: str = "",
    ) -> common_pb2.Artifact:
        """Store a file, streamed from disk (its name and type guessed unless given)."""
        name = filename or path.name
        return await self.put_stream(
            file_chunks(path),
            owner=owner,
            filename=name,
            content_type=content_type or guess_content_type(name),
            role=role,
            folder=folder,
        )

    # --- resumable uploads: parts, then one composite artifact ---------------------------

    async def write_part(self, upload_id: str, number: int, chunks: AsyncIterator[bytes]) -> dict:
        """Store one part of upload ``upload_id``; returns its record ``{name, size, sha256}``."""
        name = f"{upload_id}.part{number:06d}"
        meter = await self._write(name, chunks, _description("application/octet-stream", name, "", "upload-part"))
        return {"name": name, "size": meter.size, "sha256": meter.sha256}

    async def finish_parts(
        self, upload_id: str, parts: list[dict], *, owner: str, filename: str, content_type: str, sha256: str
    ) -> common_pb2.Artifact:
        """Make the parts one artifact with the upload's id. In S3 the parts become one
        object (joined inside S3: it can be presigned, and reads are one GET), and are
        deleted; elsewhere the artifact is composite, a list of its parts (no byte copied)."""
        size = sum(int(part["size"]) for part in parts)
        description = _description(content_type, filename, owner, "upload")
        description.update(sha256=sha256)
        # A backend that can make one object of others does (S3: ``S3Artifacts.join``).
        join = getattr(self.backend, "join", None)
        if join is not None:
            await join(upload_id, [(part["name"], int(part["size"])) for part in parts], description)
            await self.delete_parts(parts)
            return self._artifact(upload_id, description, size)
        manifest = json.dumps([{"name": part["name"], "size": int(part["size"])} for part in parts]).encode()
        description.update(composite=str(size))
        await self.backend.write(upload_id, _one(manifest), lambda: description)
        return self._artifact(upload_id, description, size)

    async def delete_parts(self, parts: Iterable[dict]) -> None:
        await self.backend.delete([part["name"] for part in parts if part.get("name")])

    # --- reading ----------------------------------------------------------------------

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
            path=description.get("folder", ""),
        )

    @staticmethod
    def _check_owner(artifact_id: str, description: dict[str, str], owner: str | None) -> None:
        # An artifact stored without an owner is readable by anyone who knows its id.
        if owner is not None and description.get("owner") not in (owner, None):
            raise artifact_not_found(artifact_id)

    async def _describe(self, artifact_id: str, owner: str | None) -> tuple[dict[str, str], int]:
        if not looks_like_artifact_id(artifact_id):
            raise artifact_not_found(artifact_id)
        description, size = await self.backend.describe(artifact_id)
        self._check_owner(artifact_id, description, owner)
        if description.get(COMPOSITE):
            size = int(description[COMPOSITE])
        return description, size

    async def get_info(self, artifact_id: str, *, owner: str | None = None) -> common_pb2.Artifact:
        """The artifact's description without its bytes."""
        description, size = await self._describe(artifact_id, owner)
        return self._artifact(artifact_id, description, size)

    async def open(
        self, artifact_id: str, *, owner: str | None = None, start: int = 0, end: int | None = None
    ) -> tuple[common_pb2.Artifact, AsyncIterator[bytes]]:
        """The artifact and an iterator over its bytes ``start`` .. ``end`` (exclusive).
        The owner is checked here, before the first byte is read."""
        description, size = await self._describe(artifact_id, owner)
        artifact = self._artifact(artifact_id, description, size)
        if not description.get(COMPOSITE):
            return artifact, self.backend.read(artifact_id, start, end)
        return artifact, self._read_composite(artifact_id, start, size if end is None else min(end, size))

    async def _read_composite(self, artifact_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        manifest = b"".join([chunk async for chunk in self.backend.read(artifact_id)])
        offset = 0
        for part in json.loads(manifest):
            part_start, part_end = offset, offset + int(part["size"])
            offset = part_end
            if part_end <= start or part_start >= end:
                continue
            async for chunk in self.backend.read(part["name"], max(0, start - part_start), end - part_start):
                yield chunk

    async def get(self, artifact_id: str, *, owner: str | None = None) -> tuple[common_pb2.Artifact, bytes]:
        """The artifact and its bytes, for small artifacts only (subtitles, reports)."""
        artifact, chunks = await self.open(artifact_id, owner=owner)
        if artifact.size_bytes > SMALL_ARTIFACT_BYTES:
            raise too_large(
                f"artifact {artifact_id} is {artifact.size_bytes} bytes: stream it instead", SMALL_ARTIFACT_BYTES
            )
        return artifact, b"".join([chunk async for chunk in chunks])

    async def download_to(
        self, artifact_id: str, path: Path, *, owner: str | None = None, limit: int | None = None
    ) -> common_pb2.Artifact:
        """Write the artifact to ``path``, streamed (the owner is checked first; over
        ``limit`` bytes nothing is read and 413 ``INPUT_TOO_LARGE`` raised)."""
        artifact, chunks = await self.open(artifact_id, owner=owner)
        if limit is not None and artifact.size_bytes > limit:
            raise too_large(f"input {artifact_id} is {artifact.size_bytes} bytes; the limit is {limit}", limit)
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            written = 0
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
                written += len(chunk)
        finally:
            handle.close()
        artifact.size_bytes = written
        return artifact

    # --- removing -----------------------------------------------------------------------

    async def delete_many(self, artifact_ids: Iterable[str]) -> None:
        """Delete these artifacts (a composite one with its parts); missing ones are
        skipped, failures are logged."""
        names: list[str] = []
        for artifact_id in artifact_ids:
            if not looks_like_artifact_id(artifact_id):
                continue
            names.append(artifact_id)
            try:
                description, _ = await self.backend.describe(artifact_id)
                if description.get(COMPOSITE):
                    manifest = b"".join([chunk async for chunk in self.backend.read(artifact_id)])
                    names.extend(part["name"] for part in json.loads(manifest))
            except MediaTasksError:
                continue
        await self.backend.delete(names)

    async def usage(self) -> int:
        """Bytes the artifact bucket holds."""
        return await self.backend.usage()


def _description(content_type: str, filename: str, owner: str, role: str) -> dict[str, str]:
    return {
        "content_type": content_type or "application/octet-stream",
        "filename": safe_filename(filename),
        "owner": owner,
        "role": role,
        "sha256": "",
    }
