"""What uploads and downloads share between the sync and async clients: the tus 1.0
headers, file hashing, and where a download lands.

Resumable uploads follow tus 1.0 (core, creation, termination, checksum, expiration): the
client asks ``OPTIONS`` what the server offers, creates an upload with its length and
metadata, sends ``PATCH`` chunks at the server's offset (each with its sha256), and after a
dropped connection asks ``HEAD`` where to go on. Without tus it sends one streamed POST.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

TUS_VERSION = "1.0.0"
TUS_PATH = "/api/v1/media/uploads/tus"
UPLOAD_PATH = "/api/v1/media/uploads"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
_READ_SIZE = 1024 * 1024

# progress(done_bytes, total_bytes); total is None when the server does not say.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class TusOffer:
    """What an ``OPTIONS`` answer advertised."""

    max_size: int | None
    extensions: frozenset[str]
    checksum_algorithms: frozenset[str]

    def accepts(self, size: int) -> bool:
        return "creation" in self.extensions and (self.max_size is None or size <= self.max_size)


def parse_tus_offer(status: int, headers: Mapping[str, str]) -> TusOffer | None:
    """The server's tus offer, or None when it does not speak tus 1.0.0."""
    if status not in (200, 204):
        return None
    versions = {v.strip() for v in headers.get("tus-version", "").split(",")}
    if TUS_VERSION not in versions:
        return None
    max_size = headers.get("tus-max-size", "")
    return TusOffer(
        max_size=int(max_size) if max_size.isdigit() else None,
        extensions=frozenset(e.strip() for e in headers.get("tus-extension", "").split(",") if e.strip()),
        checksum_algorithms=frozenset(
            a.strip().lower() for a in headers.get("tus-checksum-algorithm", "").split(",") if a.strip()
        ),
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def creation_headers(size: int, filename: str, content_type: str, sha256_hex: str) -> dict[str, str]:
    metadata = f"filename {_b64(filename)},content_type {_b64(content_type)},sha256 {_b64(sha256_hex)}"
    return {"Tus-Resumable": TUS_VERSION, "Upload-Length": str(size), "Upload-Metadata": metadata}


def patch_headers(offset: int, chunk: bytes, with_checksum: bool) -> dict[str, str]:
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
    }
    if with_checksum:
        headers["Upload-Checksum"] = "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
    return headers


def header_offset(headers: Mapping[str, str]) -> int | None:
    value = headers.get("upload-offset", "")
    return int(value) if value.isdigit() else None


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks (files are never read whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


def read_chunk(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def file_stream(path: Path, progress: Progress | None, total: int) -> Iterator[bytes]:
    """The file in blocks for a streamed request body, reporting each block sent."""
    sent = 0
    with path.open("rb") as handle:
        while block := handle.read(_READ_SIZE):
            sent += len(block)
            yield block
            if progress is not None:
                progress(sent, total)


def guess_content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


_FILENAME = re.compile(r'filename="?([^";]+)"?')


def download_target(path: Path, content_disposition: str, artifact_id: str) -> Path:
    """Where a download goes: ``path`` itself, or inside it when it is a directory (named
    as the server names the file, never outside that directory)."""
    if not path.is_dir():
        return path
    match = _FILENAME.search(content_disposition or "")
    name = Path(match.group(1)).name if match else ""
    return path / (name if name not in ("", ".", "..") else artifact_id)


def artifact_id_of(artifact: object) -> str:
    """An artifact id from an id, an :class:`Artifact`, or a task (its first artifact)."""
    if isinstance(artifact, str):
        return artifact.rsplit("/", 1)[-1]
    artifact_id = getattr(artifact, "artifact_id", None)
    if isinstance(artifact_id, str) and artifact_id:
        return artifact_id
    artifacts = getattr(artifact, "artifacts", None)
    if artifacts:
        return str(artifacts[0].artifact_id)
    raise ValueError(f"{artifact!r} names no artifact")
