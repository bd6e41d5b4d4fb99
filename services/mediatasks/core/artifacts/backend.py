"""What every artifact backend shares: the description keys, ids, names and the protocol."""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from typing import Protocol

import grpc

from mediatasks.core.errors import MediaTasksError

ARTIFACT_STORES = ("nats", "s3")

# The keys of an artifact's description (all values are strings).
DESCRIPTION_KEYS = ("content_type", "filename", "owner", "role", "sha256")


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
    """Where artifact bytes live. Unknown ids raise :func:`artifact_not_found`."""

    async def put(self, artifact_id: str, source: bytes | Path, description: dict[str, str]) -> None:
        """Store ``source`` (bytes, or a file streamed from disk) under ``artifact_id``."""

    async def describe(self, artifact_id: str) -> tuple[dict[str, str], int]:
        """The artifact's description and size in bytes."""

    async def read(self, artifact_id: str) -> tuple[dict[str, str], bytes]:
        """The artifact's description and bytes."""

    async def read_into(self, artifact_id: str, path: Path) -> int:
        """Write the artifact's bytes to ``path`` (streamed); the number written."""

    async def delete(self, artifact_ids: list[str]) -> None:
        """Remove these artifacts; ids that do not exist are no error."""
