"""Big files for tests and benchmarks, made fast and never held whole in memory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

BLOCK = 4 * 1024 * 1024


def make_file(path: Path, size: int) -> str:
    """``size`` bytes that no compressor shrinks (one random block, each copy led by its
    offset, so no two blocks are equal), written block by block; their SHA-256."""
    digest = hashlib.sha256()
    seed = os.urandom(BLOCK)
    with path.open("wb") as handle:
        written = 0
        while written < size:
            block = (written.to_bytes(8, "big") + seed)[: min(BLOCK, size - written)]
            handle.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


def file_chunks(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The bytes ``start`` .. ``end`` of a file, a block at a time (an upload body)."""
    with path.open("rb") as handle:
        handle.seek(start)
        left = (end if end is not None else path.stat().st_size) - start
        while left > 0:
            chunk = handle.read(min(BLOCK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
