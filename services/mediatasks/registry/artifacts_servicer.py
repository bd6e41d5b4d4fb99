"""ArtifactService: uploads in and downloads out, streamed, with the owner checked first.

Single-request uploads and downloads are here; resumable (tus) and direct-to-S3 uploads,
which keep state between requests, are :mod:`mediatasks.registry.uploads`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import quote

import grpc
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2

from mediatasks.core.artifacts import ArtifactStore, guess_content_type
from mediatasks.core.artifacts.ranges import ByteRange, parse_range
from mediatasks.core.auth import caller
from mediatasks.core.errors import MediaTasksError, invalid_input, too_large
from mediatasks.core.server import request_headers, set_http_status
from mediatasks.core.settings import Settings
from mediatasks.registry.uploads import UploadSessions, cut_short

if TYPE_CHECKING:  # links builds on this module's signer
    from mediatasks.registry.links import DownloadLinks
from mediatasks.v1 import artifacts_pb2, artifacts_pb2_grpc, common_pb2

log = logging.getLogger(__name__)


def _owner_scope() -> str | None:
    principal = caller()
    return None if principal.internal else principal.owner


def download_headers(artifact: common_pb2.Artifact) -> list[tuple[str, str]]:
    """What every download answers with besides the bytes (gRPC metadata, REST headers)."""
    name = artifact.filename or artifact.artifact_id
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    headers = [
        ("content-disposition", f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"),
        ("accept-ranges", "bytes"),
        ("x-content-type-options", "nosniff"),
        # The gateway turns this into Content-Length (a gRPC stream has no length of its own).
        ("x-content-length", str(artifact.size_bytes)),
    ]
    if artifact.sha256:
        headers += [("etag", f'"{artifact.sha256}"'), ("x-checksum-sha256", artifact.sha256)]
    return headers


async def stream_download(
    store: ArtifactStore, artifact_id: str, owner: str | None, context: grpc.aio.ServicerContext
) -> AsyncIterator[httpbody_pb2.HttpBody]:
    """The artifact as HttpBody chunks: the whole of it, or the part a Range header asks
    for (206). The owner is checked before anything is read."""
    artifact = await store.get_info(artifact_id, owner=owner)
    wanted: ByteRange | None = parse_range(request_headers(context).get("range"), artifact.size_bytes)
    headers = download_headers(artifact)
    if wanted is None:
        await context.send_initial_metadata(headers)
        _, chunks = await store.open(artifact_id, owner=owner)
    else:
        headers = [h for h in headers if h[0] != "x-content-length"]
        headers += [("content-range", wanted.content_range), ("x-content-length", str(wanted.length))]
        await set_http_status(context, 206, headers)
        _, chunks = await store.open(artifact_id, owner=owner, start=wanted.start, end=wanted.end)
    # The first message's content type becomes the response's; later ones carry bytes only.
    content_type = artifact.content_type
    async for chunk in chunks:
        yield httpbody_pb2.HttpBody(content_type=content_type, data=chunk)
        content_type = ""
    if content_type:  # an empty artifact still answers with its type
        yield httpbody_pb2.HttpBody(content_type=content_type)


def url_signing_key(settings: Settings) -> bytes:
    """The key signed download URLs use: derived from MEDIATASKS_SECRETS_KEY or
    MEDIATASKS_INTERNAL_TOKEN (shared by every replica), else one random key per process
    (dev: links then work only on the replica that made them)."""
    material = settings.secrets_key or settings.internal_token
    if not material:
        log.warning(
            "neither %s nor %s is set: signed download links work only on this registry replica",
            settings.env_name("secrets_key"),
            settings.env_name("internal_token"),
        )
        return secrets.token_bytes(32)
    return hmac.new(material.encode(), b"mediatasks artifact download links", hashlib.sha256).digest()


class UrlSigner:
    """Signed, expiring download URLs of the gateway (``/api/v1/media/files/{id}``)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def signature(self, artifact_id: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{artifact_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def check(self, artifact_id: str, expires: int, signature: str) -> None:
        if expires < time.time() or not hmac.compare_digest(self.signature(artifact_id, expires), signature):
            # Expired, forged and unknown look alike: nothing is learnt by guessing.
            raise MediaTasksError(
                grpc.StatusCode.PERMISSION_DENIED, "URL_EXPIRED_OR_INVALID", "this download link is expired or invalid"
            )


class ArtifactServicer(artifacts_pb2_grpc.ArtifactServiceServicer):
    def __init__(
        self, store: ArtifactStore, uploads: UploadSessions, signer: UrlSigner, links: DownloadLinks | None = None
    ) -> None:
        # Uploads answer with a download_url too, when given the links (registry.links).
        self.links = links
        self.store = store
        self.uploads = uploads
        self.signer = signer

    async def UploadArtifact(self, request_iterator: AsyncIterator[httpbody_pb2.HttpBody], context):
        limit = self.store.settings.max_upload_bytes
        headers = request_headers(context)
        declared = headers.get("x-content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refused before a byte is stored
            raise too_large(f"the upload is {declared} bytes; the limit is {limit}", limit)
        filename = headers.get("x-filename", "") or "upload"
        first: list[httpbody_pb2.HttpBody] = []

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if not first:
                    first.append(message)
                if message.data:
                    yield message.data

        # The content type rides on the first message, so peek at it before storing.
        iterator = aiter(chunks())
        try:
            head = await anext(iterator)
        except StopAsyncIteration:
            raise invalid_input("the upload is empty: send the file as the request body", field="body") from None
        content_type = first[0].content_type if first else ""
        if content_type in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
            content_type = guess_content_type(filename)

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in iterator:
                yield chunk

        artifact = await self.store.put_stream(
            body(), content_type=content_type, filename=filename, owner=caller().owner, role="upload", limit=limit
        )
        interrupted = cut_short(headers, artifact.size_bytes, context)
        if interrupted is not None:  # a truncated file must not become an input
            await self.store.delete_many([artifact.artifact_id])
            raise interrupted
        await self.uploads.record_stored(artifact, caller().owner)
        return await self._with_link(artifact, context)

    async def _with_link(self, artifact: common_pb2.Artifact, context) -> common_pb2.Artifact:
        """The artifact with its download_url, as task answers carry it."""
        if self.links is not None:
            expires = int(time.time()) + self.store.settings.presign_ttl_seconds
            await self.links.fill_artifact(artifact, self.uploads.public_base(context), expires)
        return artifact

    async def GetArtifact(self, request: artifacts_pb2.GetArtifactRequest, context):
        async for message in stream_download(self.store, request.artifact_id, _owner_scope(), context):
            yield message

    async def HeadArtifact(self, request: artifacts_pb2.GetArtifactRequest, context):
        artifact = await self.store.get_info(request.artifact_id, owner=_owner_scope())
        await context.send_initial_metadata(download_headers(artifact))
        return httpbody_pb2.HttpBody(content_type=artifact.content_type)

    async def GetArtifactUrl(self, request: artifacts_pb2.GetArtifactUrlRequest, context):
        artifact = await self.store.get_info(request.artifact_id, owner=_owner_scope())
        ttl = self.store.settings.presign_ttl_seconds
        if request.expires_in_seconds < 0:
            raise invalid_input("expires_in_seconds must not be negative", field="expires_in_seconds")
        lifetime = min(request.expires_in_seconds or ttl, ttl)
        expires = int(time.time()) + lifetime
        url = await self.uploads.presigned_download(artifact, lifetime)
        if not url:
            signature = self.signer.signature(artifact.artifact_id, expires)
            url = f"{self.uploads.public_base(context)}/api/v1/media/files/{artifact.artifact_id}?expires={expires}&signature={signature}"
        return artifacts_pb2.ArtifactUrl(url=url, expires_at=timestamp_pb2.Timestamp(seconds=expires))

    async def GetSignedArtifact(self, request: artifacts_pb2.GetSignedArtifactRequest, context):
        self.signer.check(request.artifact_id, request.expires, request.signature)
        async for message in stream_download(self.store, request.artifact_id, None, context):
            yield message

    # Resumable and direct-to-S3 uploads keep state between requests: UploadSessions.

    async def DescribeUploads(self, request, context):
        return await self.uploads.describe(context)

    async def CreateUpload(self, request, context):
        return await self.uploads.create(request, context)

    async def GetUploadOffset(self, request, context):
        return await self.uploads.offset(request.upload_id, context)

    async def WriteUpload(self, request_iterator, context):
        return await self.uploads.write(request_iterator, context)

    async def TerminateUpload(self, request, context):
        return await self.uploads.terminate(request.upload_id, context)

    async def GetUpload(self, request, context):
        return await self.uploads.get(request.upload_id)

    async def CreatePresignedUpload(self, request, context):
        return await self.uploads.create_presigned(request, context)

    async def CompletePresignedUpload(self, request, context):
        return await self._with_link(await self.uploads.complete_presigned(request.upload_id), context)
