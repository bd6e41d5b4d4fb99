"""Media of any size through the real Envoy: streamed uploads, tus resumable uploads with a
dropped connection, ranged downloads, signed links, limits and ownership.

Files are generated here, fast: random bytes written in 4 MiB blocks, hashed as they are
written, never held whole in memory by the test either."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy
from helpers.media import make_video
from helpers.stacks import error_reason, wait_for
from mediatasks.testing.files import BLOCK, file_chunks, make_file

pytestmark = pytest.mark.e2e

# The resumable test's file: big enough that nothing fits in a buffer anywhere (Envoy's
# transcoder used to stop at 63 MiB), small enough for seconds on two cores.
BIG_BYTES = int(os.environ.get("MEDIATASKS_TEST_BIG_UPLOAD_BYTES", str(2 * 1024**3)))
TUS = {"Tus-Resumable": "1.0.0"}


def download_sha256(client: httpx.Client, url: str, headers: dict | None = None) -> tuple[httpx.Response, str, int]:
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", url, headers=headers or {}) as response:
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    return response, digest.hexdigest(), size


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


@pytest.fixture
def big_client(stack):
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, timeout=120.0) as client:
        yield client


def test_single_request_upload_streams_past_the_old_buffer_and_downloads_whole(big_client, tmp_path):
    path = tmp_path / "recording.mp4"
    sha256 = make_file(path, 150 * 1024 * 1024)
    answer = big_client.post(
        "/api/v1/media/uploads",
        content=file_chunks(path),
        headers={
            "content-type": "video/mp4",
            "x-filename": "recording.mp4",
            "content-length": str(path.stat().st_size),
        },
    )
    assert answer.status_code == 200, answer.text
    artifact = answer.json()
    assert artifact["size_bytes"] == str(path.stat().st_size)
    assert artifact["sha256"] == sha256

    response, got, size = download_sha256(big_client, artifact["url"])
    assert response.status_code == 200
    assert (got, size) == (sha256, path.stat().st_size)
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(size)
    assert response.headers["etag"] == f'"{sha256}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"].startswith('attachment; filename="recording.mp4"')

    head = big_client.head(artifact["url"])
    assert head.status_code == 200
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == f'"{sha256}"'


def test_range_requests(big_client, tmp_path):
    path = tmp_path / "clip.bin"
    make_file(path, 3 * 1024 * 1024 + 17)
    data_size = path.stat().st_size
    artifact = big_client.post(
        "/api/v1/media/uploads", content=path.read_bytes(), headers={"content-type": "application/octet-stream"}
    ).json()
    url = artifact["url"]
    whole = path.read_bytes()

    middle = big_client.get(url, headers={"Range": "bytes=1000000-2000999"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 1000000-2000999/{data_size}"
    assert middle.content == whole[1000000:2001000]
    assert middle.headers["content-length"] == "1001000"

    assert big_client.get(url, headers={"Range": "bytes=-17"}).content == whole[-17:]
    tail = big_client.get(url, headers={"Range": f"bytes={data_size - 5}-"})
    assert (tail.status_code, tail.content) == (206, whole[-5:])

    unsatisfiable = big_client.get(url, headers={"Range": f"bytes={data_size}-"})
    assert unsatisfiable.status_code == 416
    assert error_reason(unsatisfiable) == "RANGE_NOT_SATISFIABLE"
    # Several ranges are not served: the whole artifact, as RFC 9110 allows.
    assert big_client.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200


def test_tus_upload_survives_a_dropped_connection(big_client, stack, tmp_path):
    path = tmp_path / "podcast.wav"
    sha256 = make_file(path, BIG_BYTES)
    size = path.stat().st_size
    options = big_client.options("/api/v1/media/uploads/tus")
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    assert "creation" in options.headers["tus-extension"]
    assert int(options.headers["tus-max-size"]) >= size

    created = big_client.post(
        "/api/v1/media/uploads/tus",
        headers={
            **TUS,
            "Upload-Length": str(size),
            "Upload-Metadata": metadata(filename="podcast.wav", content_type="audio/wav", sha256=sha256),
        },
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert urlsplit(location).path.startswith("/api/v1/media/uploads/tus/")

    chunk = min(256 * 1024 * 1024, size // 3)  # at least three chunks
    first = big_client.patch(
        location,
        content=file_chunks(path, 0, min(chunk, size)),
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert first.status_code == 204, first.text
    offset = int(first.headers["upload-offset"])
    assert offset == min(chunk, size)

    # The link drops half-way through the next chunk: a raw socket sends the headers and
    # part of the body, then closes.
    gateway = urlsplit(stack.http_url)
    with socket.create_connection((gateway.hostname, gateway.port), timeout=30) as raw:
        sent_part = min(chunk, size - offset)
        raw.sendall(
            (
                f"PATCH {urlsplit(location).path} HTTP/1.1\r\nHost: {gateway.netloc}\r\n"
                f"X-API-Key: {stack.api_key}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                f"Content-Type: application/offset+octet-stream\r\nContent-Length: {sent_part}\r\n\r\n"
            ).encode()
        )
        for piece in file_chunks(path, offset, offset + sent_part // 2):
            raw.sendall(piece)
    deadline = time.monotonic() + 30
    while True:  # the cut-off chunk is discarded once the registry sees the stream end
        head = big_client.head(location, headers=TUS)
        assert head.status_code == 200
        if head.headers["upload-offset"] == str(offset) and head.headers["upload-length"] == str(size):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert head.headers["cache-control"] == "no-store"

    # A PATCH at the wrong offset is refused; the right one goes on.
    wrong = big_client.patch(
        location,
        content=b"x",
        headers={**TUS, "Upload-Offset": "1", "Content-Type": "application/offset+octet-stream"},
    )
    assert wrong.status_code == 409
    while offset < size:
        end = min(offset + chunk, size)
        piece = big_client.patch(
            location,
            content=file_chunks(path, offset, end),
            headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        )
        assert piece.status_code == 204, piece.text
        offset = int(piece.headers["upload-offset"])
    assert piece.headers.get("x-checksum-sha256") == sha256

    upload_id = urlsplit(location).path.rsplit("/", 1)[-1]
    state = big_client.get(f"/api/v1/media/uploads/{upload_id}").json()
    assert state["state"] == "complete"
    assert state["artifact_id"] == upload_id
    assert state["sha256"] == sha256
    response, got, got_size = download_sha256(big_client, f"/api/v1/media/artifacts/{upload_id}")
    assert (response.status_code, got, got_size) == (200, sha256, size)
    # A range that spans two of the stored parts.
    spanning = big_client.get(
        f"/api/v1/media/artifacts/{upload_id}", headers={"Range": f"bytes={chunk - 10}-{chunk + 9}"}
    )
    assert spanning.status_code == 206
    with path.open("rb") as handle:
        handle.seek(chunk - 10)
        assert spanning.content == handle.read(20)


def test_tus_checksums_and_termination(big_client):
    data = os.urandom(100_000)
    created = big_client.post(
        "/api/v1/media/uploads/tus",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(filename="a.bin")},
    )
    location = created.headers["location"]
    wrong_sum = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    refused = big_client.patch(
        location,
        content=data,
        headers={
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha256 {wrong_sum}",
        },
    )
    assert refused.status_code == 460
    assert big_client.head(location, headers=TUS).headers["upload-offset"] == "0"
    right_sum = base64.b64encode(hashlib.sha256(data[:50_000]).digest()).decode()
    half = big_client.patch(
        location,
        content=data[:50_000],
        headers={
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha256 {right_sum}",
        },
    )
    assert half.status_code == 204
    assert big_client.delete(location, headers=TUS).status_code == 204
    assert big_client.head(location, headers=TUS).status_code == 404
    # A declared whole-file checksum that the bytes do not match fails the upload.
    liar = big_client.post(
        "/api/v1/media/uploads/tus",
        headers={**TUS, "Upload-Length": "3", "Upload-Metadata": metadata(sha256=hashlib.sha256(b"abd").hexdigest())},
    )
    mismatch = big_client.patch(
        liar.headers["location"],
        content=b"abc",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert mismatch.status_code == 460
    assert error_reason(mismatch) == "CHECKSUM_MISMATCH"


def test_limits_answer_413_in_the_json_error_shape(big_client, stack):
    limit = 5 * 1024**3
    over = big_client.post("/api/v1/media/uploads/tus", headers={**TUS, "Upload-Length": str(limit + 1)})
    assert over.status_code == 413
    assert error_reason(over) == "INPUT_TOO_LARGE"
    assert str(limit) in over.json()["message"]
    # A single request that declares too much is refused before its body is read.
    gateway = urlsplit(stack.http_url)
    with socket.create_connection((gateway.hostname, gateway.port), timeout=30) as raw:
        raw.sendall(
            (
                f"POST /api/v1/media/uploads HTTP/1.1\r\nHost: {gateway.netloc}\r\nX-API-Key: {stack.api_key}\r\n"
                f"Content-Type: video/mp4\r\nContent-Length: {limit + 1}\r\n\r\n"
            ).encode()
            + b"x" * 65536
        )
        answer = raw.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "INPUT_TOO_LARGE" in answer
    past_length = big_client.post("/api/v1/media/uploads/tus", headers={**TUS, "Upload-Length": "10"}).headers[
        "location"
    ]
    too_much = big_client.patch(
        past_length,
        content=b"y" * 11,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert too_much.status_code == 413


def test_another_owners_uploads_and_downloads_are_not_found(big_client, stack):
    artifact = big_client.post(
        "/api/v1/media/uploads", content=b"private bytes", headers={"content-type": "text/plain"}
    ).json()
    location = big_client.post("/api/v1/media/uploads/tus", headers={**TUS, "Upload-Length": "5"}).headers["location"]
    other = stack.create_api_key("mallory")
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": other}, timeout=30) as mallory:
        assert mallory.get(artifact["url"]).status_code == 404
        assert mallory.get(artifact["url"], headers={"Range": "bytes=0-1"}).status_code == 404
        assert mallory.head(artifact["url"]).status_code == 404
        assert mallory.get(f"{artifact['url']}/url").status_code == 404
        assert mallory.head(location, headers=TUS).status_code == 404
        patched = mallory.patch(
            location,
            content=b"12345",
            headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert patched.status_code == 404
        assert mallory.delete(location, headers=TUS).status_code == 404
    assert big_client.head(location, headers=TUS).headers["upload-offset"] == "0"


def test_signed_download_links_work_without_the_key_until_they_expire(big_client, stack):
    artifact = big_client.post(
        "/api/v1/media/uploads", content=b"shareable", headers={"content-type": "text/plain", "x-filename": "s.txt"}
    ).json()
    link = big_client.get(f"{artifact['url']}/url", params={"expires_in_seconds": 60}).json()
    assert link["url"].startswith(stack.http_url)
    with httpx.Client(timeout=30) as nobody:
        fetched = nobody.get(link["url"])
        assert (fetched.status_code, fetched.content) == (200, b"shareable")
        assert nobody.get(link["url"], headers={"Range": "bytes=0-4"}).content == b"share"
        forged = link["url"].replace("signature=", "signature=x")
        assert nobody.get(forged).status_code == 403
        expired = link["url"].split("?")[0] + "?expires=1&signature=abc"
        assert nobody.get(expired).status_code == 403


def test_slideshow_limits_known_at_submit_answer_400_naming_them(big_client):
    image = big_client.post(
        "/api/v1/media/uploads", content=b"\x89PNG\r\n\x1a\n" + b"0" * 64, headers={"content-type": "image/png"}
    ).json()["artifact_id"]
    too_many = big_client.post(
        "/api/v1/media/videos/img2vid",
        json={"images": [{"image_url": image, "duration": 1}] * 501},
    )
    assert too_many.status_code == 400
    assert error_reason(too_many) == "TOO_MANY_IMAGES"
    assert "500" in too_many.json()["message"]
    too_long = big_client.post(
        "/api/v1/media/videos/img2vid",
        json={"images": [{"image_url": image, "duration": 3600}] * 7},
    )
    assert too_long.status_code == 400
    assert error_reason(too_long) == "OUTPUT_TOO_LONG"
    assert "MEDIATASKS_MAX_OUTPUT_SECONDS" in too_long.json()["message"]


def test_a_single_upload_cut_off_midway_stores_nothing(big_client, stack):
    gateway = urlsplit(stack.http_url)
    name = f"cut-{uuid.uuid4().hex[:8]}.bin"
    with socket.create_connection((gateway.hostname, gateway.port), timeout=30) as raw:
        raw.sendall(
            (
                f"POST /api/v1/media/uploads HTTP/1.1\r\nHost: {gateway.netloc}\r\nX-API-Key: {stack.api_key}\r\n"
                f"Content-Type: application/octet-stream\r\nX-Filename: {name}\r\nContent-Length: {8 * BLOCK}\r\n\r\n"
            ).encode()
        )
        for _ in range(3):
            raw.sendall(os.urandom(BLOCK))
    time.sleep(2)  # the registry sees the stream end
    engine = sqlalchemy.create_engine(stack.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            kept = conn.execute(
                sqlalchemy.text("SELECT count(*) FROM uploads WHERE filename = :f"), {"f": name}
            ).scalar()
    finally:
        engine.dispose()
    assert kept == 0


def test_a_caption_job_on_a_long_input_streams_through(big_client, tmp_path):
    # Long and low-resolution, so it is made and captioned in seconds: 40 minutes of video
    # with sound, uploaded resumably, captioned, the result downloaded by range and whole.
    minutes = 40
    clip = make_video(
        tmp_path / "lecture.mp4",
        seconds=minutes * 60,
        size=(96, 64),
        fps=5,
        audio_codec=("aac", "-b:a", "16k", "-ac", "1", "-ar", "8000"),
    )
    cues = "".join(
        f"{i + 1}\n{i // 60:02d}:{i % 60:02d}:00,000 --> {i // 60:02d}:{i % 60:02d}:02,000\nMinute {i}\n\n"
        for i in range(minutes)
    )
    created = big_client.post(
        "/api/v1/media/uploads/tus",
        headers={**TUS, "Upload-Length": str(clip.stat().st_size), "Upload-Metadata": metadata(filename="lecture.mp4")},
    )
    location = created.headers["location"]
    sent = big_client.patch(
        location,
        content=file_chunks(clip),
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sent.status_code == 204, sent.text
    video_id = sent.headers["x-artifact-id"]
    task = big_client.post("/api/v1/media/videos/caption", json={"video_url": video_id, "subtitles": cues})
    assert task.status_code == 202, task.text
    done = wait_for(big_client, task.json()["task_id"], timeout=240)
    assert done["status"] == "COMPLETED", done.get("error")
    result = done["output"]["result"]
    assert abs(result["duration_seconds"] - minutes * 60) < 2
    video = next(a for a in done["output"]["artifacts"] if a["role"] == "video")
    response, _, size = download_sha256(big_client, video["url"])
    assert response.status_code == 200 and size == int(video["size_bytes"])
    head = big_client.get(video["url"], headers={"Range": "bytes=0-7"})
    assert head.status_code == 206 and head.content[4:8] == b"ftyp"
