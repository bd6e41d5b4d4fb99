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
from pathlib import Path
from urllib.parse import quote, unquote

import boto3
import botocore.config
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from mediatasks.core import metrics
from mediatasks.core.artifacts.backend import DESCRIPTION_KEYS, artifact_not_found
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
    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
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

    def __init__(self, bucket: str, *, endpoint_url: str, access_key_id: str, secret_access_key: str, region: str):
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self._connection = (endpoint_url, access_key_id, secret_access_key, region)
        self.region = region
        self._ready = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Artifacts:
        """The backend the settings describe; missing credentials raise
        :class:`ConfigurationError` naming every missing variable."""
        missing = [settings.env_name(field) for field in _REQUIRED if not settings.is_configured(field)]
        if missing:
            raise ConfigurationError(
                f"{settings.env_name('artifact_store')}=s3 needs {' and '.join(missing)} "
                f"(and {settings.env_name('s3_endpoint_url')} unless the bucket is on AWS S3)"
            )
        return cls(
            settings.artifact_bucket,
            endpoint_url=settings.s3_endpoint_url.strip(),
            access_key_id=settings.require("s3_access_key_id"),
            secret_access_key=settings.require("s3_secret_access_key"),
            region=settings.s3_region.strip() or "us-east-1",
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

    async def put(self, artifact_id: str, source: bytes | Path, description: dict[str, str]) -> None:
        client = await self.client()
        extra = {"ContentType": description["content_type"], "Metadata": _encode(description)}

        def upload() -> None:
            if isinstance(source, bytes):
                client.put_object(Bucket=self.bucket, Key=artifact_id, Body=source, **extra)
                return
            with source.open("rb") as handle:
                client.upload_fileobj(handle, self.bucket, artifact_id, ExtraArgs=extra, Config=_TRANSFER)

        try:
            await asyncio.to_thread(upload)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(f"upload of {artifact_id}", exc) from exc

    async def describe(self, artifact_id: str) -> tuple[dict[str, str], int]:
        client = await self.client()
        try:
            head = await asyncio.to_thread(client.head_object, Bucket=self.bucket, Key=artifact_id)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise artifact_not_found(artifact_id) from None
            raise _unavailable(f"lookup of {artifact_id}", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(f"lookup of {artifact_id}", exc) from exc
        return _decode(head.get("ContentType", ""), head.get("Metadata", {})), int(head.get("ContentLength", 0))

    async def read(self, artifact_id: str) -> tuple[dict[str, str], bytes]:
        client = await self.client()

        def fetch() -> tuple[dict[str, str], bytes]:
            answer = client.get_object(Bucket=self.bucket, Key=artifact_id)
            with answer["Body"] as body:
                data = body.read()
            return _decode(answer.get("ContentType", ""), answer.get("Metadata", {})), data

        try:
            return await asyncio.to_thread(fetch)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise artifact_not_found(artifact_id) from None
            raise _unavailable(f"download of {artifact_id}", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(f"download of {artifact_id}", exc) from exc

    async def read_into(self, artifact_id: str, path: Path) -> int:
        client = await self.client()

        def download() -> int:
            with path.open("wb") as handle:
                client.download_fileobj(self.bucket, artifact_id, handle, Config=_TRANSFER)
                return handle.tell()

        try:
            return await asyncio.to_thread(download)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise artifact_not_found(artifact_id) from None
            raise _unavailable(f"download of {artifact_id}", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(f"download of {artifact_id}", exc) from exc

    async def delete(self, artifact_ids: list[str]) -> None:
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
