"""The tus 1.0 upload path of ``Client.upload`` against a small tus server written here
(core + creation + checksum, as the gateway will offer it): chunks at the server's offset,
a connection dropped mid-chunk resumed from ``HEAD``, checksums checked per chunk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from client_loopback import reply, serve
from mediatasks.client import AsyncClient, Client, RetryPolicy, TransferError


class TusServer:
    """Just enough tus 1.0 to drive the client; ``drop_patch`` names PATCH calls (1-based)
    whose connection is cut after half the chunk arrived (the half is kept, as a real tus
    server keeps what it received)."""

    def __init__(self, drop_patch: tuple[int, ...] = (), max_size: int = 1 << 30) -> None:
        self.uploads: dict[str, dict] = {}
        self.drop_patch = drop_patch
        self.max_size = max_size
        self.patches = 0
        self.lock = threading.Lock()

    def routes(self):
        return {
            "OPTIONS": self.options,
            "POST": self.create,
            "HEAD": self.head,
            "PATCH": self.patch,
            "GET": self.record,
        }

    def options(self, h: BaseHTTPRequestHandler) -> None:
        reply(
            h,
            204,
            Tus_Resumable="1.0.0",
            Tus_Version="1.0.0",
            Tus_Extension="creation,termination,checksum,expiration",
            Tus_Max_Size=str(self.max_size),
            Tus_Checksum_Algorithm="sha256",
        )

    def create(self, h: BaseHTTPRequestHandler) -> None:
        assert h.path == "/api/v1/media/uploads/tus" and h.headers["Tus-Resumable"] == "1.0.0"
        metadata = {
            key: base64.b64decode(value).decode()
            for key, value in (item.split(" ") for item in h.headers["Upload-Metadata"].split(","))
        }
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = {"length": int(h.headers["Upload-Length"]), "data": bytearray(), "meta": metadata}
        reply(h, 201, Location=f"/api/v1/media/uploads/tus/{upload_id}", Tus_Resumable="1.0.0", Upload_Offset="0")

    def _upload(self, h: BaseHTTPRequestHandler) -> tuple[str, dict]:
        upload_id = h.path.rsplit("/", 1)[-1]
        return upload_id, self.uploads[upload_id]

    def head(self, h: BaseHTTPRequestHandler) -> None:
        _, upload = self._upload(h)
        reply(
            h,
            200,
            Upload_Offset=str(len(upload["data"])),
            Upload_Length=str(upload["length"]),
            Cache_Control="no-store",
        )

    def patch(self, h: BaseHTTPRequestHandler) -> None:
        _, upload = self._upload(h)
        with self.lock:
            self.patches += 1
            number = self.patches
        length = int(h.headers["Content-Length"])
        if h.headers["Content-Type"] != "application/offset+octet-stream":
            return reply(h, 415)
        if int(h.headers["Upload-Offset"]) != len(upload["data"]):
            h.rfile.read(length)
            return reply(h, 409)
        if number in self.drop_patch:
            upload["data"] += h.rfile.read(length // 2)
            h.close_connection = True
            h.connection.shutdown(2)  # the client sees the connection reset mid-request
            return None
        chunk = h.rfile.read(length)
        algorithm, _, digest = h.headers.get("Upload-Checksum", "").partition(" ")
        if algorithm != "sha256" or base64.b64decode(digest) != hashlib.sha256(chunk).digest():
            return reply(h, 460)
        upload["data"] += chunk
        reply(h, 204, Upload_Offset=str(len(upload["data"])), Tus_Resumable="1.0.0")

    def record(self, h: BaseHTTPRequestHandler) -> None:
        upload_id = h.path.rsplit("/", 1)[-1]
        upload = self.uploads[upload_id]
        done = len(upload["data"]) == upload["length"]
        body = {
            "upload_id": upload_id,
            "artifact_id": upload_id if done else "",
            "state": "COMPLETED" if done else "RECEIVING",
            "offset": len(upload["data"]),
            "length": upload["length"],
            "sha256": hashlib.sha256(upload["data"]).hexdigest(),
        }
        reply(h, 200, json.dumps(body).encode(), Content_Type="application/json")


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(5 * 256 * 1024 + 123)
    path = tmp_path / "movie.mp4"
    path.write_bytes(data)
    return path, data


def test_chunks_go_at_the_server_offset_with_checksums(big_file) -> None:
    path, data = big_file
    server = TusServer()
    with serve(server.routes()) as (url, seen), Client(url, api_key="k") as client:
        progress: list[int] = []
        uploaded = client.upload(path, progress=lambda done, total: progress.append(done), chunk_size=256 * 1024)
    ((upload_id, stored),) = server.uploads.items()
    assert bytes(stored["data"]) == data
    assert stored["meta"] == {
        "filename": "movie.mp4",
        "content_type": "video/mp4",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert (
        uploaded.resumable and uploaded.artifact_id == upload_id and uploaded.sha256 == hashlib.sha256(data).hexdigest()
    )
    assert server.patches == 6 and progress[-1] == len(data) and progress == sorted(progress)
    assert [m for m, _, _ in seen].count("HEAD") == 0


def test_a_dropped_connection_resumes_from_head(big_file) -> None:
    path, data = big_file
    server = TusServer(drop_patch=(2, 4))
    with serve(server.routes()) as (url, seen), Client(url, api_key="k", retry=RetryPolicy(base_delay=0.01)) as client:
        uploaded = client.upload(path, chunk_size=256 * 1024)
    ((_, stored),) = server.uploads.items()
    assert bytes(stored["data"]) == data and uploaded.size_bytes == len(data)
    methods = [m for m, _, _ in seen]
    assert methods.count("HEAD") == 2  # once per drop: the client asked where to go on
    # After each HEAD the next PATCH starts at the half-chunk the server kept.
    offsets = [int(h["upload-offset"]) for m, _, h in seen if m == "PATCH"]
    assert 256 * 1024 + 128 * 1024 in offsets


def test_an_upload_that_never_gets_through_gives_up(big_file) -> None:
    path, _ = big_file
    server = TusServer(drop_patch=tuple(range(1, 50)))
    with (
        serve(server.routes()) as (url, _),
        Client(url, api_key="k", retry=RetryPolicy(attempts=3, base_delay=0.01)) as client,
    ):
        with pytest.raises(Exception, match="CONNECTION_FAILED"):
            client.upload(path, chunk_size=256 * 1024)


def test_a_stored_file_with_another_digest_is_an_error(big_file) -> None:
    path, _ = big_file
    server = TusServer()
    original = server.record

    def corrupt(h: BaseHTTPRequestHandler) -> None:
        for upload in server.uploads.values():
            upload["data"][:1] = b"\0" if upload["data"][:1] != b"\0" else b"\1"
        original(h)

    server.record = corrupt  # type: ignore[method-assign]
    with serve(server.routes()) as (url, _), Client(url, api_key="k") as client:
        with pytest.raises(TransferError, match="sha256"):
            client.upload(path, chunk_size=1 << 20)


def test_a_file_over_the_tus_limit_takes_the_single_post(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"x" * 100)
    server = TusServer(max_size=10)
    received: list[bytes] = []

    def single_post(h: BaseHTTPRequestHandler) -> None:
        if h.path != "/api/v1/media/uploads":
            return server.create(h)
        received.append(h.rfile.read(int(h.headers["Content-Length"])))
        body = {"artifact_id": "a" * 32, "size_bytes": 100, "sha256": hashlib.sha256(b"x" * 100).hexdigest()}
        reply(h, 200, json.dumps(body).encode(), Content_Type="application/json")

    routes = {**server.routes(), "POST": single_post}
    with serve(routes) as (url, seen), Client(url, api_key="k") as client:
        uploaded = client.upload(path)
    assert received == [b"x" * 100] and not uploaded.resumable
    post = next(h for m, p, h in seen if m == "POST")
    assert post["x-filename"] == "small.txt" and post["content-type"] == "text/plain"


async def test_the_async_client_resumes_the_same_way(big_file) -> None:
    path, data = big_file
    server = TusServer(drop_patch=(3,))
    with serve(server.routes()) as (url, seen):
        async with AsyncClient(url, api_key="k", retry=RetryPolicy(base_delay=0.01)) as client:
            uploaded = await client.upload(path, chunk_size=256 * 1024)
    ((_, stored),) = server.uploads.items()
    assert bytes(stored["data"]) == data and uploaded.resumable
    assert [m for m, _, _ in seen].count("HEAD") == 1
