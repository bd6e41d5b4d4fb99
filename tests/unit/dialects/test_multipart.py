"""The streaming multipart reader: parts and bytes whatever the chunking, bad bodies 400."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.dialects.multipart import MultipartReader, boundary_of

BOUNDARY = "----seedBoundary7MA4YWxkTrZu0gW"


def form(*parts: tuple[str, str, bytes]) -> bytes:
    body = b""
    for name, filename, data in parts:
        body += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{BOUNDARY}--\r\n".encode()


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def read_all(body: bytes, size: int) -> list[tuple[str, str, bytes, int]]:
    reader = MultipartReader(pieces(body, size), boundary_of(f"multipart/form-data; boundary={BOUNDARY}"))
    parts = []
    while (part := await reader.next_part()) is not None:
        chunks = [chunk async for chunk in part.chunks()]
        parts.append((part.name, part.filename, b"".join(chunks), max(map(len, chunks), default=0)))
    return parts


# Payloads that look like delimiters, CRLFs at the edges, and one over many chunks.
SRT = b"1\r\n00:00:00,000 --> 00:00:01,000\r\nHello\r\n"
MEDIA = bytes(range(256)) * 400 + b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r\n"


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000, 65536, 10**7])
def test_parts_and_bytes_survive_any_chunking(size):
    parts = asyncio.run(read_all(form(("srt_file", "a.srt", SRT), ("media_file", "b.wav", MEDIA)), size))
    assert [(name, filename, data) for name, filename, data, _ in parts] == [
        ("srt_file", "a.srt", SRT),
        ("media_file", "b.wav", MEDIA),
    ]


def test_a_part_is_streamed_not_gathered():
    big = b"x" * 1_000_000
    ((_, _, data, largest),) = asyncio.run(read_all(form(("media_file", "m", big)), 65536))
    assert data == big and largest <= 65536 + len(BOUNDARY) + 4


def test_unread_parts_are_skipped():
    async def names() -> list[str]:
        body = form(("a", "1", b"one"), ("b", "2", b"two"))
        reader = MultipartReader(pieces(body, 3), BOUNDARY.encode())
        seen = []
        while (part := await reader.next_part()) is not None:
            seen.append(part.name)
        return seen

    assert asyncio.run(names()) == ["a", "b"]


@pytest.mark.parametrize(
    "body",
    [
        b"no delimiter at all",
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\n\r\ncut short".encode(),
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a".encode(),
        f"--{BOUNDARY}XX".encode(),
    ],
)
def test_malformed_bodies_are_invalid_input(body):
    with pytest.raises(MediaTasksError) as caught:
        asyncio.run(read_all(body, 5))
    assert caught.value.reason == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; charset=utf-8; boundary="a b;c"', b"a b;c"),
        ("Multipart/Form-Data;boundary=----x", b"----x"),
    ],
)
def test_boundary_of(content_type, boundary):
    assert boundary_of(content_type) == boundary


@pytest.mark.parametrize(
    "content_type", ["", "application/json", "multipart/form-data", "multipart/form-data; boundary="]
)
def test_boundary_of_refuses_other_bodies(content_type):
    with pytest.raises(MediaTasksError) as caught:
        boundary_of(content_type)
    assert caught.value.reason == "INVALID_INPUT"
