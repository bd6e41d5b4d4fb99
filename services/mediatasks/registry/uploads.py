"""Uploads that live across requests: tus 1.0 resumable uploads, direct-to-S3 uploads, and
the lifecycle record of every stored upload (table ``uploads``).

tus (https://tus.io/protocols/resumable-upload, core + creation, termination, checksum,
expiration) was chosen over an invented protocol because clients already speak it
(tus-js-client, tus-py-client, Uppy, tusd's CLI). Through Envoy each request is an
ordinary gRPC call of ArtifactService: the tus headers arrive as metadata, the answers'
headers leave as initial metadata, the gateway's Lua filter sets 201/204.

Each PATCH is stored as a part of its own (``ArtifactStore.write_part``); the last byte
turns the parts into one artifact whose id is the upload's id (on S3 one object joined
inside S3, elsewhere a composite listing its parts: ``ArtifactStore.finish_parts``); should
that fail, the next HEAD makes it. A PATCH cut off mid-way leaves no part behind and the
offset where it was: the client asks (HEAD) and sends that chunk again. Two PATCHes racing for one offset: the offset is advanced with a
compare-and-set, the loser's part is deleted and it gets 409.

The SHA-256 of the whole file is kept in memory between the chunks of an upload (a
replica that did not see the earlier chunks reads the stored parts back once, at the end),
and checked against the one declared at creation (``sha256`` in Upload-Metadata).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any

import grpc
import sqlalchemy as sa
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from mediatasks.core.artifacts import ArtifactStore, guess_content_type, looks_like_artifact_id
from mediatasks.core.artifacts.backend import S3_MIN_PART_BYTES
from mediatasks.core.artifacts.store import Meter
from mediatasks.core.auth import caller
from mediatasks.core.errors import MediaTasksError, invalid_input, too_large
from mediatasks.core.server import request_headers, request_origin, set_http_status
from mediatasks.registry.models import UploadRow
from mediatasks.v1 import artifacts_pb2, common_pb2

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
DEFAULT_PRESIGNED_PART_BYTES = 64 * 1024 * 1024
MAX_PRESIGNED_PARTS = 10_000
# Running SHA-256 states kept between the chunks of uploads in progress.
_HASHES_KEPT = 1024

_UPLOADS = UploadRow.__table__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cut_short(headers: dict[str, str], received: int, context: grpc.aio.ServicerContext) -> MediaTasksError | None:
    """Whether a streamed body ended before its end: the client went away (the call is
    cancelled), or fewer bytes came than its Content-Length declared. Such a body is
    never stored: half a chunk accepted late would race the client's resumed request."""
    declared = headers.get("x-content-length", "")
    if context.cancelled() or (declared.isdigit() and received < int(declared)):
        return MediaTasksError(
            grpc.StatusCode.CANCELLED,
            "UPLOAD_INTERRUPTED",
            f"the body ended after {received} of {declared or 'its'} bytes; nothing of it was kept",
        )
    return None


def upload_not_found(upload_id: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.NOT_FOUND, "UPLOAD_NOT_FOUND", f"no upload {upload_id!r}")


def _conflict(message: str, **metadata: str) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.ABORTED, "UPLOAD_OFFSET_MISMATCH", message, metadata=metadata, http_status=409
    )


def _checksum_mismatch(message: str) -> MediaTasksError:
    # 460 is tus's "Checksum Mismatch".
    return MediaTasksError(grpc.StatusCode.DATA_LOSS, "CHECKSUM_MISMATCH", message, http_status=460)


def parse_upload_metadata(header: str) -> dict[str, str]:
    """tus Upload-Metadata: ``key base64value,key2 base64value2`` (a value may be absent)."""
    values: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode() if encoded.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_input(
                f"Upload-Metadata value of {key!r} is not base64 text", field="upload-metadata"
            ) from None
    return values


def _declared_sha256(value: str) -> str:
    value = value.strip().lower()
    if value and (len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value)):
        raise invalid_input("sha256 must be the 64-character hex digest of the whole file", field="sha256")
    return value


def _chunk_checksum(header: str) -> bytes | None:
    """tus checksum extension: ``Upload-Checksum: sha256 <base64 digest>`` of this chunk."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        # tus answers an unsupported algorithm with 400.
        raise invalid_input(f"Upload-Checksum algorithm {algorithm!r} is not supported; use sha256")
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise invalid_input("Upload-Checksum is not base64", field="upload-checksum") from None


def _http_date(value: dt.datetime) -> str:
    return format_datetime(value.astimezone(dt.UTC), usegmt=True)


def _timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


class UploadSessions:
    """The uploads table and the three ways files arrive."""

    def __init__(self, engine: AsyncEngine, store: ArtifactStore) -> None:
        self.engine = engine
        self.store = store
        self.settings = store.settings
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    # --- helpers -----------------------------------------------------------------------

    def _expiry(self) -> dt.datetime:
        return _now() + dt.timedelta(seconds=self.settings.upload_ttl_seconds)

    def public_base(self, context: grpc.aio.ServicerContext) -> str:
        """The origin clients reach the gateway at: MEDIATASKS_PUBLIC_BASE_URL, else the
        Host the request came with (the gateway forwards it), else nothing (a relative URL)."""
        return self.settings.public_base_url.strip().rstrip("/") or request_origin(context)

    def _tus_headers(self, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        return [("tus-resumable", TUS_VERSION), *extra]

    async def _row(self, upload_id: str, *, for_update: bool = False) -> Any:
        if not looks_like_artifact_id(upload_id):
            raise upload_not_found(upload_id)
        principal = caller()
        query = sa.select(_UPLOADS).where(_UPLOADS.c.id == uuid.UUID(upload_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None or row["state"] == "expired" or (not principal.internal and row["owner"] != principal.owner):
            raise upload_not_found(upload_id)
        return row

    def _limit(self, length: int) -> None:
        limit = self.settings.max_upload_bytes
        if length > limit:
            raise too_large(f"the upload is {length} bytes; the limit is {limit}", limit)

    # --- single-request uploads: only the lifecycle record ------------------------------

    async def record_stored(self, artifact: common_pb2.Artifact, owner: str) -> None:
        now = _now()
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(_UPLOADS).values(
                    id=uuid.UUID(artifact.artifact_id),
                    owner=owner,
                    filename=artifact.filename[:255],
                    content_type=artifact.content_type[:255],
                    length=artifact.size_bytes,
                    received=artifact.size_bytes,
                    state="complete",
                    sha256=artifact.sha256,
                    created_at=now,
                    updated_at=now,
                    expires_at=self._expiry(),
                )
            )

    # --- tus ---------------------------------------------------------------------------

    async def describe(self, context: grpc.aio.ServicerContext) -> httpbody_pb2.HttpBody:
        await set_http_status(
            context,
            204,
            self._tus_headers(
                ("tus-version", TUS_VERSION),
                ("tus-extension", TUS_EXTENSIONS),
                ("tus-max-size", str(self.settings.max_upload_bytes)),
                ("tus-checksum-algorithm", "sha256"),
            ),
        )
        return httpbody_pb2.HttpBody()

    def _check_version(self, context: grpc.aio.ServicerContext) -> dict[str, str]:
        headers = request_headers(context)
        version = headers.get("tus-resumable")
        if version is not None and version != TUS_VERSION:
            raise MediaTasksError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "TUS_VERSION_UNSUPPORTED",
                f"tus version {version!r} is not supported; this server speaks {TUS_VERSION}",
                http_status=412,
            )
        return headers

    async def create(self, request: artifacts_pb2.CreateUploadRequest, context) -> httpbody_pb2.HttpBody:
        headers = self._check_version(context)
        length = request.length
        if not length:
            raw = headers.get("upload-length", "")
            if not raw.isdigit():
                raise invalid_input(
                    "Upload-Length (the file's size in bytes) is required; deferred lengths are not supported",
                    field="upload-length",
                )
            length = int(raw)
        if length <= 0:
            raise invalid_input("the upload is empty: Upload-Length must be at least 1", field="upload-length")
        self._limit(length)
        meta = parse_upload_metadata(headers.get("upload-metadata", ""))
        filename = request.filename or meta.get("filename") or meta.get("name") or "upload"
        content_type = (
            request.content_type or meta.get("content_type") or meta.get("filetype") or guess_content_type(filename)
        )
        sha256 = _declared_sha256(request.sha256 or meta.get("sha256", ""))
        upload_id = uuid.uuid4()
        now = _now()
        expires = self._expiry()
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(_UPLOADS).values(
                    id=upload_id,
                    owner=caller().owner,
                    filename=filename[:255],
                    content_type=content_type[:255],
                    length=length,
                    received=0,
                    state="open",
                    backend={"declared_sha256": sha256},
                    created_at=now,
                    updated_at=now,
                    expires_at=expires,
                )
            )
        self._remember_hash(upload_id.hex, 0, hashlib.sha256())
        await set_http_status(
            context,
            201,
            self._tus_headers(
                ("location", f"{self.public_base(context)}/api/v1/media/uploads/tus/{upload_id.hex}"),
                ("upload-offset", "0"),
                ("upload-expires", _http_date(expires)),
                ("x-upload-id", upload_id.hex),
            ),
        )
        return httpbody_pb2.HttpBody()

    async def offset(self, upload_id: str, context) -> httpbody_pb2.HttpBody:
        self._check_version(context)
        row = await self._row(upload_id)
        finished: list[tuple[str, str]] = []
        if row["state"] == "open" and int(row["received"]) == int(row["length"]):
            # Every byte arrived but the artifact was not made (the store, or this
            # registry, failed right after the last chunk): it is made now, so a client that
            # sees the whole offset (and so takes the upload for done) finds its artifact.
            artifact = await self._made(upload_id) or await self._finish(upload_id)
            finished = [("x-artifact-id", artifact.artifact_id), ("x-checksum-sha256", artifact.sha256)]
        elif row["state"] == "complete":
            finished = [("x-artifact-id", upload_id), ("x-checksum-sha256", row["sha256"] or "")]
        await context.send_initial_metadata(
            self._tus_headers(
                ("upload-offset", str(row["received"])),
                ("upload-length", str(row["length"])),
                ("upload-expires", _http_date(row["expires_at"])),
                ("cache-control", "no-store"),
                *finished,
            )
        )
        return httpbody_pb2.HttpBody()

    def _remember_hash(self, upload_id: str, offset: int, digest: Any) -> None:
        self._hashes[upload_id] = (offset, digest)
        self._hashes.move_to_end(upload_id)
        while len(self._hashes) > _HASHES_KEPT:
            self._hashes.popitem(last=False)

    async def write(
        self, request_iterator: AsyncIterator[artifacts_pb2.WriteUploadRequest], context
    ) -> httpbody_pb2.HttpBody:
        headers = self._check_version(context)
        iterator = aiter(request_iterator)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            raise invalid_input("no upload named") from None
        upload_id = first.upload_id
        raw_offset = headers.get("upload-offset", "")
        if not first.offset and not raw_offset.isdigit():
            raise invalid_input("Upload-Offset (where this chunk starts) is required", field="upload-offset")
        offset = first.offset or int(raw_offset)
        content_type = first.body.content_type
        if content_type and content_type.split(";")[0].strip() != OFFSET_CONTENT_TYPE:
            raise MediaTasksError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "UNSUPPORTED_MEDIA_TYPE",
                f"a tus PATCH carries Content-Type: {OFFSET_CONTENT_TYPE}",
                http_status=415,
            )
        expected_checksum = _chunk_checksum(headers.get("upload-checksum", ""))
        row = await self._row(upload_id)
        if row["state"] != "open":
            raise _conflict("this upload is already complete", offset=str(row["received"]))
        if offset != row["received"]:
            raise _conflict(
                f"Upload-Offset {offset} is not where the upload stands ({row['received']}); ask with HEAD",
                offset=str(row["received"]),
            )
        remaining = int(row["length"]) - offset
        cached = self._hashes.get(upload_id)
        running = cached[1].copy() if cached and cached[0] == offset else None

        async def chunks() -> AsyncIterator[bytes]:
            if first.body.data:
                yield first.body.data
            async for message in iterator:
                if message.body.data:
                    yield message.body.data

        async def counted() -> AsyncIterator[bytes]:
            meter = Meter(chunks(), remaining, what="this chunk (past Upload-Length)")
            async for chunk in meter:
                if running is not None:
                    running.update(chunk)
                yield chunk

        part = await self.store.write_part(upload_id, len(row["parts"]), counted())
        size = int(part["size"])
        end = offset + size
        problem = cut_short(headers, size, context)
        if problem is None and expected_checksum is not None and bytes.fromhex(part["sha256"]) != expected_checksum:
            problem = _checksum_mismatch("Upload-Checksum does not match the chunk's bytes; send it again")
        if problem is None and size == 0:
            problem = invalid_input("the chunk is empty", field="body")
        if problem is None:
            advanced = await self._advance(upload_id, offset, end, part)
            if not advanced:
                problem = _conflict("another request wrote at this offset first; ask with HEAD")
        if problem is not None:
            await self.store.delete_parts([part])
            raise problem
        if running is not None:
            self._remember_hash(upload_id, end, running)
        extra: list[tuple[str, str]] = [("upload-offset", str(end))]
        if end == int(row["length"]):
            artifact = await self._finish(upload_id)
            extra += [("x-artifact-id", artifact.artifact_id), ("x-checksum-sha256", artifact.sha256)]
        else:
            extra.append(("upload-expires", _http_date(self._expiry())))
        await set_http_status(context, 204, self._tus_headers(*extra))
        return httpbody_pb2.HttpBody()

    async def _advance(self, upload_id: str, offset: int, end: int, part: dict) -> bool:
        statement = (
            sa.update(_UPLOADS)
            .where(_UPLOADS.c.id == uuid.UUID(upload_id), _UPLOADS.c.received == offset, _UPLOADS.c.state == "open")
            .values(
                received=end,
                parts=_UPLOADS.c.parts.op("||")(sa.literal([part], type_=JSONB)),
                updated_at=_now(),
                expires_at=self._expiry(),
            )
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def _made(self, upload_id: str) -> common_pb2.Artifact | None:
        """The artifact of an upload a finish made without recording it (its end was
        lost), now recorded; None when no finish made it."""
        try:
            made = await self.store.get_info(upload_id)
        except MediaTasksError as error:
            if error.reason != "ARTIFACT_NOT_FOUND":
                raise
            return None
        await self._set_state(upload_id, "complete", sha256=made.sha256)
        return made

    async def _finish(self, upload_id: str) -> common_pb2.Artifact:
        row = await self._row(upload_id)
        parts = list(row["parts"])
        cached = self._hashes.pop(upload_id, None)
        if cached is not None and cached[0] == row["received"]:
            sha256 = cached[1].hexdigest()
        else:  # another replica took the earlier chunks: read the parts back once
            digest = hashlib.sha256()
            for part in parts:
                async for chunk in self.store.backend.read(part["name"]):
                    digest.update(chunk)
            sha256 = digest.hexdigest()
        declared = (row["backend"] or {}).get("declared_sha256", "")
        if declared and declared != sha256:
            await self.store.delete_parts(parts)
            await self._set_state(upload_id, "expired")
            raise _checksum_mismatch(f"the file's SHA-256 is {sha256}, not the declared {declared}; upload it again")
        artifact = await self.store.finish_parts(
            upload_id,
            parts,
            owner=row["owner"],
            filename=row["filename"],
            content_type=row["content_type"],
            sha256=sha256,
        )
        await self._set_state(upload_id, "complete", sha256=sha256)
        return artifact

    async def _set_state(self, upload_id: str, state: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(_UPLOADS)
                .where(_UPLOADS.c.id == uuid.UUID(upload_id))
                .values(state=state, updated_at=_now(), **values)
            )

    async def terminate(self, upload_id: str, context) -> httpbody_pb2.HttpBody:
        self._check_version(context)
        row = await self._row(upload_id)
        await self._remove(row)
        self._hashes.pop(upload_id, None)
        await set_http_status(context, 204, self._tus_headers())
        return httpbody_pb2.HttpBody()

    async def _remove(self, row: Any) -> None:
        """Delete an upload's bytes (parts, artifact, an unfinished S3 upload) and its row."""
        upload_id = row["id"].hex
        s3_upload = (row["backend"] or {}).get("s3_upload_id")
        if s3_upload and row["state"] == "open":
            await self.store.backend.abort_multipart(upload_id, s3_upload)  # type: ignore[attr-defined]
        await self.store.delete_parts(row["parts"])
        await self.store.delete_many([upload_id])
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(_UPLOADS).where(_UPLOADS.c.id == row["id"]))

    async def get(self, upload_id: str) -> artifacts_pb2.Upload:
        row = await self._row(upload_id)
        upload = artifacts_pb2.Upload(
            upload_id=upload_id,
            state=row["state"],
            offset=row["received"],
            length=row["length"] or 0,
            sha256=row["sha256"],
            filename=row["filename"],
            content_type=row["content_type"],
            created_at=_timestamp(row["created_at"]),
            expires_at=_timestamp(row["expires_at"]),
        )
        if row["state"] == "complete":
            upload.artifact_id = upload_id
            upload.artifact.CopyFrom(await self.store.get_info(upload_id))
        return upload

    # --- direct to S3 ------------------------------------------------------------------

    def _s3(self):
        from mediatasks.core.artifacts.s3_backend import S3Artifacts

        backend = self.store.backend
        if not isinstance(backend, S3Artifacts):
            raise MediaTasksError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "PRESIGNED_UPLOADS_NEED_S3",
                f"direct-to-S3 uploads need {self.settings.env_name('artifact_store')}=s3; "
                "use the tus endpoint /api/v1/media/uploads/tus instead",
            )
        return backend

    async def create_presigned(self, request: artifacts_pb2.CreatePresignedUploadRequest, context):
        backend = self._s3()
        if request.length <= 0:
            raise invalid_input("length (the file's size in bytes) is required", field="length")
        self._limit(request.length)
        part_size = request.part_size or DEFAULT_PRESIGNED_PART_BYTES
        if part_size < S3_MIN_PART_BYTES:
            raise invalid_input(
                f"part_size must be at least {S3_MIN_PART_BYTES} bytes (S3's minimum)", field="part_size"
            )
        count = -(-request.length // part_size)
        if count > MAX_PRESIGNED_PARTS:
            raise invalid_input(
                f"{count} parts is over S3's {MAX_PRESIGNED_PARTS}; use a bigger part_size", field="part_size"
            )
        filename = request.filename or "upload"
        content_type = request.content_type or guess_content_type(filename)
        upload_id = uuid.uuid4()
        description = {
            "content_type": content_type,
            "filename": filename,
            "owner": caller().owner,
            "role": "upload",
            "sha256": "",
        }
        s3_upload = await backend.begin_multipart(upload_id.hex, description)
        lifetime = self.settings.presign_ttl_seconds
        parts = []
        for number in range(1, count + 1):
            start = (number - 1) * part_size
            url = await backend.presign_part(upload_id.hex, s3_upload, number, lifetime)
            parts.append(
                artifacts_pb2.PresignedPart(
                    part_number=number, url=url, offset=start, size=min(part_size, request.length - start)
                )
            )
        now = _now()
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(_UPLOADS).values(
                    id=upload_id,
                    owner=caller().owner,
                    filename=filename[:255],
                    content_type=content_type[:255],
                    length=request.length,
                    state="open",
                    backend={"s3_upload_id": s3_upload, "part_size": part_size},
                    created_at=now,
                    updated_at=now,
                    expires_at=self._expiry(),
                )
            )
        return artifacts_pb2.PresignedUpload(
            upload_id=upload_id.hex,
            parts=parts,
            expires_at=_timestamp(now + dt.timedelta(seconds=lifetime)),
            complete_url=f"{self.public_base(context)}/api/v1/media/uploads/presigned/{upload_id.hex}/complete",
        )

    async def complete_presigned(self, upload_id: str) -> common_pb2.Artifact:
        backend = self._s3()
        row = await self._row(upload_id)
        s3_upload = (row["backend"] or {}).get("s3_upload_id")
        if not s3_upload:
            raise invalid_input("this upload was not made with presigned URLs", field="upload_id")
        if row["state"] == "complete":
            return await self.store.get_info(upload_id)
        parts = await backend.uploaded_parts(upload_id, s3_upload)
        expected = -(-int(row["length"]) // int(row["backend"]["part_size"]))
        numbers = sorted(int(p["PartNumber"]) for p in parts)
        received = sum(int(p.get("Size", 0)) for p in parts)
        if numbers != list(range(1, expected + 1)) or received != int(row["length"]):
            missing = sorted(set(range(1, expected + 1)) - set(numbers))
            raise MediaTasksError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "UPLOAD_INCOMPLETE",
                f"S3 holds {received} of {row['length']} bytes; parts missing: {missing[:20]}",
                metadata={"received": str(received)},
            )
        await backend.complete_multipart(upload_id, s3_upload, sorted(parts, key=lambda p: int(p["PartNumber"])))
        await self._set_state(upload_id, "complete", received=received)
        return await self.store.get_info(upload_id)

    async def presigned_download(self, artifact: common_pb2.Artifact, lifetime: int) -> str:
        """An S3 presigned GET for a single-object artifact on the S3 store; else ""."""
        from mediatasks.core.artifacts.s3_backend import S3Artifacts

        backend = self.store.backend
        if not isinstance(backend, S3Artifacts):
            return ""
        description, _ = await backend.describe(artifact.artifact_id)
        if description.get("composite"):
            return ""
        return await backend.presign_download(
            artifact.artifact_id,
            lifetime,
            filename=artifact.filename or artifact.artifact_id,
            content_type=artifact.content_type,
        )

    # --- lifecycle (called by the housekeeper) ------------------------------------------

    async def expire(self, *, batch: int = 200) -> int:
        """Delete uploads past their expiry that no live task uses; extend the others.
        Returns how many were deleted."""
        now = _now()
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(_UPLOADS)
                        .where(_UPLOADS.c.expires_at < now)
                        .order_by(_UPLOADS.c.expires_at)
                        .limit(batch)
                    )
                )
                .mappings()
                .all()
            )
        removed = 0
        for row in rows:
            if row["state"] == "complete" and await self._in_use(row["id"].hex):
                async with self.engine.begin() as conn:
                    await conn.execute(
                        sa.update(_UPLOADS).where(_UPLOADS.c.id == row["id"]).values(expires_at=self._expiry())
                    )
                continue
            try:
                await self._remove(row)
                removed += 1
            except MediaTasksError as exc:  # the store is down: try again next round
                log.warning("expiring upload %s failed: %s", row["id"].hex, exc)
        return removed

    async def _in_use(self, artifact_id: str) -> bool:
        """Whether a task that has not ended names this artifact in its request."""
        statement = sa.text(
            "SELECT 1 FROM tasks WHERE status IN ('QUEUED', 'PROCESSING') "
            "AND position(convert_to(:id, 'UTF8') in input) > 0 LIMIT 1"
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(statement, {"id": artifact_id})).first() is not None
