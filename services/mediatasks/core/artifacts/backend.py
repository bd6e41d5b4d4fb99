"""What every artifact backend shares: the description keys, ids, names and the protocol."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import grpc

from mediatasks.core.errors import MediaTasksError

ARTIFACT_STORES = ("nats", "s3")

# S3 refuses multipart parts under 5 MiB (all but the last one).
S3_MIN_PART_BYTES = 5 * 1024 * 1024

# The keys of an artifact's description (all values are strings).
DESCRIPTION_KEYS = ("content_type", "filename", "owner", "role", "sha256", "composite", "folder")


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


class ArtifactBackend(Protocol):
    """Where artifact bytes live: plain named objects, each with a description. Unknown
    names raise :func:`artifact_not_found`. Composite artifacts (resumable uploads) are
    built from plain objects by :class:`mediatasks.core.artifacts.store.ArtifactStore`."""

    async def write(self, name: str, chunks: AsyncIterator[bytes], description: Callable[[], dict[str, str]]) -> None:
        """Store ``chunks`` under ``name``; ``description()`` is called once every chunk
        is consumed (so it may carry their checksum). If ``chunks`` raises, nothing is
        left behind and the exception propagates."""

    async def describe(self, name: str) -> tuple[dict[str, str], int]:
        """The object's description and size in bytes."""

    def read(self, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start`` .. ``end`` (exclusive; None: to the end) of the object, in chunks."""

    async def delete(self, names: list[str]) -> None:
        """Remove these objects; names that do not exist are no error."""

    async def usage(self) -> int:
        """Bytes stored in the bucket (for the store-usage gauge)."""
