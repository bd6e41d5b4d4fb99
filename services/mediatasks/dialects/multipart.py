"""A streaming reader of ``multipart/form-data`` bodies (RFC 7578): parts one after the
other, each part's bytes as they arrive, never a whole part (or body) in memory.

Usage::

    reader = MultipartReader(chunks, boundary_of(content_type))
    while (part := await reader.next_part()) is not None:
        async for data in part.chunks():   # must be read (or skipped) before the next part
            ...
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from mediatasks.core.errors import invalid_input

MAX_HEADER_BYTES = 16 * 1024
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; 400 for anything else."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid_input(
            f"send the files as multipart/form-data (got {content_type or 'no content type'!r})", field="body"
        )
    boundary = _params(content_type).get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise invalid_input("the multipart/form-data content type has no valid boundary", field="body")
    return boundary.encode("latin-1")


def _params(header: str) -> dict[str, str]:
    return {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _PARAM.finditer(header)
    }


@dataclass
class Part:
    """One part: its form field name, file name and content type, and its bytes."""

    name: str
    filename: str
    content_type: str
    _reader: MultipartReader = field(repr=False)
    _done: bool = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The part's bytes, in the pieces they arrive in (the delimiter held back)."""
        while not self._done:
            data, self._done = await self._reader._read_data()
            if data:
                yield data


class MultipartReader:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        # The body's first delimiter has no CRLF before it: one is put there, so every
        # delimiter reads CRLF "--" boundary.
        self._buffer = b"\r\n"
        self._delimiter = b"\r\n--" + boundary
        self._current: Part | None = None
        self._finished = False
        self._started = False

    async def _more(self) -> bool:
        async for chunk in self._chunks:
            if chunk:
                self._buffer += chunk
                return True
        return False

    async def _need(self, size: int) -> None:
        while len(self._buffer) < size:
            if not await self._more():
                raise invalid_input("the multipart body ends in the middle of a part", field="body")

    async def _after_delimiter(self) -> None:
        """After a delimiter: "--" ends the body, CRLF starts a part."""
        await self._need(2)
        marker, self._buffer = self._buffer[:2], self._buffer[2:]
        if marker == b"--":
            self._finished = True
        elif marker != b"\r\n":
            raise invalid_input("the multipart body is malformed after a boundary", field="body")

    async def _read_data(self) -> tuple[bytes, bool]:
        """The next piece of the current part's bytes, and whether the part ended."""
        while True:
            at = self._buffer.find(self._delimiter)
            if at >= 0:
                data, self._buffer = self._buffer[:at], self._buffer[at + len(self._delimiter) :]
                await self._after_delimiter()
                return data, True
            # Keep what could be the start of a delimiter split across chunks.
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                data, self._buffer = self._buffer[:-keep], self._buffer[-keep:]
                return data, False
            if not await self._more():
                raise invalid_input("the multipart body ends in the middle of a part", field="body")

    async def next_part(self) -> Part | None:
        """The next part (after skipping what is left of the current one), or None at the end."""
        if not self._started:
            self._started = True
            # Anything before the first delimiter is a preamble, ignored by the RFC.
            while self._buffer.find(self._delimiter) < 0:
                if not await self._more():
                    raise invalid_input("the multipart body has no part", field="body")
            self._buffer = self._buffer[self._buffer.find(self._delimiter) + len(self._delimiter) :]
            await self._after_delimiter()
        elif self._current is not None:
            async for _ in self._current.chunks():
                pass
        if self._finished:
            return None
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise invalid_input(f"a part's headers are over {MAX_HEADER_BYTES} bytes", field="body")
            if not await self._more():
                raise invalid_input("the multipart body ends in a part's headers", field="body")
        head, self._buffer = self._buffer[:end].decode("utf-8", "replace"), self._buffer[end + 4 :]
        headers = {}
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = _params(headers.get("content-disposition", ""))
        self._current = Part(
            name=disposition.get("name", ""),
            filename=disposition.get("filename", ""),
            content_type=headers.get("content-type", ""),
            _reader=self,
        )
        return self._current
