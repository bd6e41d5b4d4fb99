"""HTTP byte ranges (RFC 9110 §14) for downloads: ``Range: bytes=…`` in, Content-Range out."""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from mediatasks.core.errors import MediaTasksError

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` .. ``end`` (exclusive) of a ``total``-byte representation."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.total}"


def range_not_satisfiable(total: int) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.OUT_OF_RANGE,
        "RANGE_NOT_SATISFIABLE",
        f"the range starts at or past the end of the {total}-byte artifact",
        metadata={"size_bytes": str(total)},
        http_status=416,
    )


def parse_range(header: str | None, total: int) -> ByteRange | None:
    """The range a ``Range`` header asks for, or None to send everything (no header, a
    syntax this server does not serve such as several ranges, or a unit other than bytes:
    RFC 9110 lets a server ignore those). A range wholly past the end raises 416."""
    if not header:
        return None
    match = _SINGLE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise range_not_satisfiable(total)
        return ByteRange(max(0, total - suffix), total, total)
    start = int(first)
    end = total if not last else min(int(last) + 1, total)
    if last and int(last) < start:
        return None  # invalid: ignored, as the RFC says
    if start >= total:
        raise range_not_satisfiable(total)
    return ByteRange(start, end, total)
