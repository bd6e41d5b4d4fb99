"""Artifacts in an S3-compatible bucket (``MEDIATASKS_ARTIFACT_STORE=s3``).

Uses the AWS SDK (boto3). Its calls block, so each runs in a worker thread
(``asyncio.to_thread``) and is bounded by botocore's connect and read timeouts and a
bounded retry budget. The content type is the object's ``Content-Type``; the owner,
file name, role and SHA-256 are user metadata (``x-amz-meta-*``), percent-encoded
because HTTP headers carry ASCII only. The bucket is created on first use when missing.

``MEDIATASKS_S3_ENDPOINT_URL`` names the server (MinIO, Ceph, R2, ...); path-style
addressing is used there because such servers rarely have wildcard DNS. Left empty, the
SDK talks to AWS S3 itself in ``MEDIATASKS_S3_REGION``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, unquote

import boto3
import botocore.config
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from mediatasks.core import metrics
from mediatasks.core.artifacts.backend import DESCRIPTION_KEYS, S3_MIN_PART_BYTES, artifact_not_found
from mediatasks.core.errors import MediaTasksError, transient
from mediatasks.core.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

# Every call has a deadline: connecting, and each read of the answer. "standard" retries
# throttling, 5xx and connection errors with jittered backoff, at most this many tries.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0
MAX_ATTEMPTS = 4

# Objects up to the threshold go up in one PUT; larger ones in parallel parts.
_TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
# Bytes read from a GET's body at a time.
READ_CHUNK_BYTES = 1024 * 1024
# Parts copied (or joined and uploaded) at once when parts become one object.
JOIN_CONCURRENCY = 8

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_REQUIRED = ("s3_access_key_id", "s3_secret_access_key")
# Buckets known to exist, by (endpoint, bucket): checked once per process, not per store.
_READY_BUCKETS: set[tuple[str, str]] = set()


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str, access_key_id: str, secret_access_key: str, region: str):
    """One client per connection: they are thread-safe, and building one is not cheap."""
    config = botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # Only the settings decide where objects go, not AWS_* variables or config files.
        ignore_configured_endpoint_urls=True,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        # Newer SDKs send CRC checksums on every upload, which several S3-compatible
        # servers refuse; checksums are sent only where the API requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=16,
    )
    # Empty keys: the session's default credential chain (web identity, roles, AWS_*).
    session = boto3.session.Session(
        aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None, region_name=region
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unavailable(action: str, error: Exception) -> MediaTasksError:
    return transient("ARTIFACT_STORE_UNAVAILABLE", f"S3 {action} failed: {error}")


def _encode(description: dict[str, str]) -> dict[str, str]:
    return {key: quote(description.get(key, ""), safe="") for key in DESCRIPTION_KEYS if key != "content_type"}


def _decode(content_type: str, metadata: dict[str, str]) -> dict[str, str]:
    description = {key: unquote(value) for key, value in metadata.items() if key in DESCRIPTION_KEYS}
    description["content_type"] = content_type
    return description


class S3Artifacts:
    """The ``s3`` backend of :class:`mediatasks.core.artifacts.store.ArtifactStore`."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        region: str,
        spool_dir: str | None = None,
    ):
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self._connection = (endpoint_url, access_key_id, secret_access_key, region)
        self.region = region
        # Where streamed writes are spooled before they go up (None: the system temp dir).
        self.spool_dir = spool_dir
        self._ready = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Artifacts:
        """The backend the settings describe.

        With both static keys set they are used; with neither, the SDK's default credential
        chain finds them (IRSA or EKS Pod Identity web identity tokens, GKE Workload
        Identity through its S3 interoperability, instance and container roles, ``AWS_*``
        variables). Only one of the two set is a mistake: :class:`ConfigurationError`
        names the missing one."""
        configured = [field for field in _REQUIRED if settings.is_configured(field)]
        if len(configured) == 1:
            missing = next(settings.env_name(field) for field in _REQUIRED if field not in configured)
            raise ConfigurationError(
                f"{settings.env_name(configured[0])} is set but {missing} is not: set both, or neither "
                "to use the SDK's default credential chain (IRSA, Workload Identity, instance roles)"
            )
        return cls(
            settings.artifact_bucket,
            endpoint_url=settings.s3_endpoint_url.strip(),
            access_key_id=settings.s3_access_key_id.strip() if configured else "",
            secret_access_key=settings.s3_secret_access_key.strip() if configured else "",
            region=settings.s3_region.strip() or "us-east-1",
            spool_dir=settings.work_dir or None,
        )

    async def client(self):
        """The SDK client, once the bucket is known to exist (created if missing)."""
        async with self._lock:
            if self._ready is None:
                client = await asyncio.to_thread(_client, *self._connection)
                if (self.endpoint_url, self.bucket) not in _READY_BUCKETS:
                    try:
                        await asyncio.to_thread(self._ensure_bucket, client)
                    except (ClientError, BotoCoreError) as exc:
                        raise _unavailable(f"opening bucket {self.bucket!r}", exc) from exc
                    _READY_BUCKETS.add((self.endpoint_url, self.bucket))
                self._ready = client
        return self._ready

    def _ensure_bucket(self, client) -> None:
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND_CODES:
                raise
        request: dict = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # the one region S3 refuses a location constraint for
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            client.create_bucket(**request)
            log.info("created S3 bucket %s", self.bucket)
        except ClientError as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":  # another service was first
                raise

    async def write(self, name: str, chunks: AsyncIterator[bytes], description: Callable[[], dict[str, str]]) -> None:
        # S3 wants each object's metadata (with its checksum) before the bytes and the
        # length of every part: the stream is spooled to a temporary file on disk (never
        # to memory), then sent as a parallel multipart upload.
        client = await self.client()
        spool = await asyncio.to_thread(tempfile.TemporaryFile, "w+b", dir=self.spool_dir)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(spool.write, chunk)
            described = description()
            extra = {
                "ContentType": described["content_type"] or "application/octet-stream",
                "Metadata": _encode(described),
            }

            def upload() -> None:
                spool.seek(0)
                client.upload_fileobj(spool, self.bucket, name, ExtraArgs=extra, Config=_TRANSFER)

            try:
                await asyncio.to_thread(upload)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(f"upload of {name}", exc) from exc
        finally:
            spool.close()

    async def describe(self, name: str) -> tuple[dict[str, str], int]:
        client = await self.client()
        try:
            head = await asyncio.to_thread(client.head_object, Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise artifact_not_found(name) from None
            raise _unavailable(f"lookup of {name}", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(f"lookup of {name}", exc) from exc
        return _decode(head.get("ContentType", ""), head.get("Metadata", {})), int(head.get("ContentLength", 0))

    async def read(self, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        client = await self.client()
        request: dict = {"Bucket": self.bucket, "Key": name}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = await asyncio.to_thread(client.get_object, **request)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise artifact_not_found(name) from None
            if _error_code(exc) == "InvalidRange":  # start at or past the end
                return
            raise _unavailable(f"download of {name}", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(f"download of {name}", exc) from exc
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, READ_CHUNK_BYTES):
                yield chunk
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(f"download of {name}", exc) from exc
        finally:
            body.close()

    # --- joining objects into one -------------------------------------------------------

    async def join(self, name: str, parts: list[tuple[str, int]], description: dict[str, str]) -> None:
        """Make objects ``parts`` (name, size; in order) one object ``name`` with a
        multipart upload: a part of 5 MiB or more is copied inside S3 (UploadPartCopy, no
        byte passes through here); smaller ones, which S3 refuses as parts, are joined
        into parts of at least 5 MiB through a spool file on disk. The parts are left for
        the caller to delete. On a failure nothing is left behind."""
        upload_id = await self.begin_multipart(name, description)
        # A few parts at a time: a 5 GiB upload of 5 MiB chunks is a thousand copies, and
        # one after another they would outlast the last chunk's request.
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def put(number: int, run: list[tuple[str, int]]) -> dict:
            async with gate:
                if len(run) == 1:  # 5 MiB or more, or the last (which may be smaller)
                    source = {"Bucket": self.bucket, "Key": run[0][0]}
                    answer = await self._part_call("upload_part_copy", name, upload_id, number, CopySource=source)
                    etag = answer["CopyPartResult"]["ETag"]
                else:
                    etag = await self._upload_joined(name, upload_id, number, run)
            return {"PartNumber": number, "ETag": etag}

        try:
            async with asyncio.TaskGroup() as group:
                puts = [group.create_task(put(number, run)) for number, run in enumerate(_runs(parts), start=1)]
            await self.complete_multipart(name, upload_id, [done.result() for done in puts])
        except BaseException as error:
            await asyncio.shield(self.abort_multipart(name, upload_id))
            if isinstance(error, BaseExceptionGroup):  # the first part that failed says why
                raise error.exceptions[0] from None
            raise

    async def _upload_joined(self, name: str, upload_id: str, number: int, run: list[tuple[str, int]]) -> str:
        spool = await asyncio.to_thread(tempfile.TemporaryFile, "w+b", dir=self.spool_dir)
        try:
            for part_name, _ in run:
                async for chunk in self.read(part_name):
                    await asyncio.to_thread(spool.write, chunk)
            size = await asyncio.to_thread(spool.tell)
            await asyncio.to_thread(spool.seek, 0)
            answer = await self._part_call("upload_part", name, upload_id, number, Body=spool, ContentLength=size)
            return str(answer["ETag"])
        finally:
            spool.close()

    async def _part_call(self, method: str, name: str, upload_id: str, number: int, **request):
        return await self._call(
            f"{method} {number} of {name}",
            method,
            Bucket=self.bucket,
            Key=name,
            UploadId=upload_id,
            PartNumber=number,
            **request,
        )

    # --- direct to S3: presigned URLs (the bytes bypass the gateway) --------------------

    async def _call(self, action: str, method: str, **request):
        client = await self.client()
        try:
            return await asyncio.to_thread(getattr(client, method), **request)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(action, exc) from exc

    async def begin_multipart(self, name: str, description: dict[str, str]) -> str:
        answer = await self._call(
            f"starting the upload of {name}",
            "create_multipart_upload",
            Bucket=self.bucket,
            Key=name,
            ContentType=description["content_type"] or "application/octet-stream",
            Metadata=_encode(description),
        )
        return str(answer["UploadId"])

    async def presign_part(self, name: str, upload_id: str, part_number: int, lifetime: int) -> str:
        client = await self.client()
        params = {"Bucket": self.bucket, "Key": name, "UploadId": upload_id, "PartNumber": part_number}
        return await asyncio.to_thread(client.generate_presigned_url, "upload_part", Params=params, ExpiresIn=lifetime)

    async def uploaded_parts(self, name: str, upload_id: str) -> list[dict]:
        """The parts S3 holds for a multipart upload: ``[{PartNumber, ETag, Size}]``."""
        parts: list[dict] = []
        marker = 0
        while True:
            answer = await self._call(
                f"listing the parts of {name}",
                "list_parts",
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            parts += answer.get("Parts", [])
            if not answer.get("IsTruncated"):
                return parts
            marker = int(answer["NextPartNumberMarker"])

    async def complete_multipart(self, name: str, upload_id: str, parts: list[dict]) -> None:
        done = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
        await self._call(
            f"finishing the upload of {name}",
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=name,
            UploadId=upload_id,
            MultipartUpload={"Parts": done},
        )

    async def abort_multipart(self, name: str, upload_id: str) -> None:
        try:
            await self._call(
                f"aborting the upload of {name}",
                "abort_multipart_upload",
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
            )
        except MediaTasksError as exc:
            log.warning("%s", exc)

    async def presign_download(self, name: str, lifetime: int, *, filename: str, content_type: str) -> str:
        client = await self.client()
        params = {
            "Bucket": self.bucket,
            "Key": name,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": content_type,
        }
        return await asyncio.to_thread(client.generate_presigned_url, "get_object", Params=params, ExpiresIn=lifetime)

    async def usage(self) -> int:
        client = await self.client()

        def total() -> int:
            size = 0
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                size += sum(int(item.get("Size", 0)) for item in page.get("Contents", []))
            return size

        try:
            return await asyncio.to_thread(total)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("listing the bucket", exc) from exc

    async def delete(self, names: list[str]) -> None:
        artifact_ids = names
        if not artifact_ids:
            return
        client = await self.client()

        def remove() -> None:
            # One DeleteObject per id: deleting a missing key succeeds in S3, and the batch
            # call needs a Content-MD5 that some S3-compatible servers handle differently.
            for artifact_id in artifact_ids:
                try:
                    client.delete_object(Bucket=self.bucket, Key=artifact_id)
                except (ClientError, BotoCoreError) as exc:
                    log.warning("deleting artifact %s failed: %s", artifact_id, exc)
                    metrics.ERRORS.labels("artifacts", "DELETE").inc()

        await asyncio.to_thread(remove)


def _runs(parts: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """``parts`` in runs of consecutive parts that are each one multipart part: a part of
    at least S3_MIN_PART_BYTES alone, smaller ones together until the run reaches it (the
    last run may stay smaller: S3 takes a small last part)."""
    runs: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for part in parts:
        if not current and part[1] >= S3_MIN_PART_BYTES:
            runs.append([part])
            continue
        current.append(part)
        size += part[1]
        if size >= S3_MIN_PART_BYTES:
            runs.append(current)
            current, size = [], 0
    if current:
        runs.append(current)
    return runs
