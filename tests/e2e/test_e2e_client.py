"""The Python SDK (mediatasks.client) against the whole stack behind the real Envoy."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
from helpers.media import image_bytes, make_video
from helpers.stacks import wait_for
from mediatasks.client import (
    AsyncClient,
    Client,
    FailedPrecondition,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RetryPolicy,
    TaskFailed,
    Unauthenticated,
    WaitTimeout,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(stack):
    with Client(stack.http_url, api_key=stack.api_key) as sdk:
        yield sdk


@pytest.fixture
def own_client(stack):
    """A client of an owner of its own, so its task list holds only this test's tasks."""
    with Client(stack.http_url, api_key=stack.create_api_key(f"sdk-{uuid.uuid4().hex[:8]}")) as sdk:
        yield sdk


def test_subtitles_job_waits_and_downloads(client, tmp_path):
    text = f"The client waits for this line {uuid.uuid4().hex}."
    task = client.subtitles.generate(text=text, format="srt", wait=True)
    assert task.status == "COMPLETED" and task.progress == 100
    assert task.task_type == "subtitle_generation"
    assert task.artifacts and task.artifacts[0].content_type.startswith(("application/x-subrip", "text/"))
    saved = client.download(task, tmp_path)  # a directory: the server's file name inside it
    assert saved.parent == tmp_path and saved.suffix == ".srt"
    assert text.split()[0] in saved.read_text()
    assert not list(tmp_path.glob("*.part"))
    result = client.tasks.result(task.task_id)
    assert result is not None and result["status"] == "COMPLETED"


@pytest.mark.parametrize("resumable", [True, False], ids=["tus", "single-post"])
def test_upload_streams_a_file_and_download_gives_it_back(client, tmp_path, resumable):
    source = tmp_path / "noise.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    seen: list[tuple[int, int | None]] = []
    uploaded = client.upload(
        source, progress=lambda done, total: seen.append((done, total)), chunk_size=1024 * 1024, resumable=resumable
    )
    assert uploaded.resumable is resumable
    assert uploaded.sha256 == hashlib.sha256(data).hexdigest()
    assert uploaded.size_bytes == len(data)
    # Sent in pieces, never read whole: progress moved several times up to the whole size.
    assert len(seen) >= 3 and seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    got: list[int] = []
    target = client.download(
        uploaded.artifact_id, tmp_path / "back.bin", progress=lambda done, _total: got.append(done)
    )
    assert target.read_bytes() == data
    assert got[-1] == len(data)


class _LosePatchAnswers(httpx.BaseTransport):
    """The network between client and gateway: the answers to the 2nd and 3rd PATCH of a tus
    upload are lost after the gateway got the chunk (the connection drops on the way back)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.methods: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.methods.append(request.method)
        if request.method == "PATCH" and self.methods.count("PATCH") in (2, 3):
            response.read()
            response.close()
            raise httpx.ReadError("connection reset after the chunk was sent", request=request)
        return response


def test_a_tus_upload_resumes_from_the_server_offset_after_lost_answers(stack, tmp_path):
    source = tmp_path / "resume.bin"
    data = os.urandom(4 * 1024 * 1024 + 3)
    source.write_bytes(data)
    transport = _LosePatchAnswers()
    with Client(stack.http_url, api_key=stack.api_key, transport=transport, retry=RetryPolicy(base_delay=0.05)) as sdk:
        uploaded = sdk.upload(source, chunk_size=1024 * 1024, resumable=True)
        # Each lost answer was followed by a HEAD; the chunk the server already had was not sent again.
        assert transport.methods.count("HEAD") == 2
        assert transport.methods.count("PATCH") == 5
        assert uploaded.sha256 == hashlib.sha256(data).hexdigest()
        assert sdk.download(uploaded.artifact_id, tmp_path / "resumed.bin").read_bytes() == data


def test_caption_uploads_a_local_video_and_takes_inline_subtitles(client, tmp_path):
    video = make_video(tmp_path / "clip.mp4", seconds=1.5, with_audio=False)
    srt = "1\n00:00:00,000 --> 00:00:01,200\nHello from the SDK\n"
    task = client.videos.caption(video=str(video), subtitles=srt, wait=120)
    assert task.status == "COMPLETED", task.error
    assert task.raw["input"]["video_url"] != str(video)  # an artifact id, not the local path
    out = client.download(task, tmp_path / "captioned.mp4")
    assert out.stat().st_size > 1000


def test_list_iterates_over_pages(own_client):
    created = [own_client.subtitles.generate(text=f"Page item {i} {uuid.uuid4().hex}.").task_id for i in range(5)]
    listed = [task.task_id for task in own_client.tasks.list(page_size=2)]
    assert sorted(listed) == sorted(created)  # every task once, across three pages
    first = own_client.tasks.list_page(limit=2)
    assert first.total == 5 and len(first.items) == 2 and first.next_page_token
    subtitles_only = list(own_client.tasks.list(task_type="subtitle_generation", page_size=50, max_items=3))
    assert len(subtitles_only) == 3
    assert list(own_client.tasks.list(task_type="video_caption")) == []


def test_stream_follows_a_task_to_its_end_and_resumes(client):
    task = client.subtitles.generate(text=f"Stream through the SDK {uuid.uuid4().hex}.")
    events = list(client.tasks.stream(task.task_id))
    kinds = [event.event_type for event in events]
    assert kinds[0] == "task.created" and kinds[-1] == "task.completed"
    assert events[-1].task.status == "COMPLETED"
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    resumed = list(client.tasks.stream(task.task_id, after=sequences[0]))
    assert [event.sequence for event in resumed] == sequences[1:]


def test_errors_are_typed_by_reason(stack, client):
    with pytest.raises(NotFound) as missing:
        client.tasks.get(str(uuid.uuid4()))
    assert missing.value.reason == "TASK_NOT_FOUND" and missing.value.http_status == 404
    with pytest.raises(InvalidInput) as invalid:
        client.submit("subtitle_generation", text="", format="docx")
    assert invalid.value.code == "INVALID_ARGUMENT" and invalid.value.http_status == 400
    with Client(stack.http_url, api_key="mt_not_a_key", retry=RetryPolicy(attempts=1)) as stranger:
        with pytest.raises(Unauthenticated):
            stranger.tasks.list_page()
    with pytest.raises(ValueError, match="unknown task type"):
        client.submit("video_teleport")


def test_idempotency_key_returns_the_same_task(client):
    key = f"sdk-{uuid.uuid4().hex}"
    text = f"Once only {uuid.uuid4().hex}."
    first = client.subtitles.generate(text=text, idempotency_key=key)
    again = client.subtitles.generate(text=text, idempotency_key=key)
    assert again.task_id == first.task_id
    with pytest.raises(IdempotencyKeyReused):
        client.subtitles.generate(text=text + " changed", idempotency_key=key)


class _LoseFirstAnswer(httpx.BaseTransport):
    """The network between client and gateway: the first POST reaches the real gateway, but
    its answer is lost on the way back (as when a connection drops after the request)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.posts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.posts.append(request.headers.get("idempotency-key", ""))
            if len(self.posts) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response


def test_a_lost_answer_is_retried_with_the_same_idempotency_key(stack):
    transport = _LoseFirstAnswer()
    owner_key = stack.create_api_key(f"sdk-retry-{uuid.uuid4().hex[:8]}")
    with Client(stack.http_url, api_key=owner_key, transport=transport, retry=RetryPolicy(base_delay=0.05)) as sdk:
        task = sdk.subtitles.generate(text=f"Lost answer {uuid.uuid4().hex}.")
        assert len(transport.posts) == 2 and transport.posts[0] == transport.posts[1] != ""
        # The first try did create the task; the retry got that same task, not a second one.
        assert [t.task_id for t in sdk.tasks.list()] == [task.task_id]


def test_wait_with_a_deadline_and_raise_on_failure(client):
    long_job = _long_slideshow(client)
    try:
        with pytest.raises(WaitTimeout) as waited:
            client.tasks.wait(long_job.task_id, timeout=1.0)
        assert waited.value.task.status in ("QUEUED", "PROCESSING")
    finally:
        cancelled = client.tasks.cancel(long_job.task_id, reason="test over")
    assert cancelled.status == "CANCELLED"
    with pytest.raises(TaskFailed):
        client.tasks.wait(long_job.task_id, raise_on_failure=True)


def _long_slideshow(client: Client, seconds: float = 120, size: tuple[int, int] = (1280, 720)):
    """A slideshow job (two minutes of 720p by default: long enough to be cancelled while it runs)."""
    with tempfile.TemporaryDirectory() as scratch:
        slide = Path(scratch) / "slide.png"
        slide.write_bytes(image_bytes(size, "teal"))
        return client.videos.img2vid(
            images=[{"image_url": str(slide), "duration": seconds}], width=size[0], height=size[1], fps=30
        )


def test_cancel_a_running_job_then_retry_it(client, rest):
    task = _long_slideshow(client)
    wait_for(rest, task.task_id, statuses=("PROCESSING",), timeout=60)
    cancelled = client.tasks.cancel(task.task_id, reason="sdk test")
    assert cancelled.status == "CANCELLED"
    with pytest.raises(FailedPrecondition):
        client.tasks.retry(client.subtitles.generate(text=f"Done {uuid.uuid4().hex}.", wait=True).task_id)
    again = client.tasks.retry(task.task_id)
    assert again.status == "QUEUED" and again.task_id == task.task_id
    assert client.tasks.cancel(task.task_id).status == "CANCELLED"


@pytest.fixture
def own_key(stack) -> str:
    return stack.create_api_key(f"sdk-{uuid.uuid4().hex[:8]}")


async def test_async_client_has_the_same_surface(stack, own_key, tmp_path):
    async def scenario() -> None:
        async with AsyncClient(stack.http_url, api_key=own_key) as sdk:
            done = await sdk.subtitles.generate(text=f"Async {uuid.uuid4().hex}.", wait=True)
            assert done.status == "COMPLETED"
            queued = await sdk.subtitles.generate(text=f"Async stream {uuid.uuid4().hex}.")
            kinds = [event.event_type async for event in sdk.tasks.stream(queued.task_id)]
            assert kinds[-1] == "task.completed"
            listed = [task.task_id async for task in sdk.tasks.list(page_size=1)]
            assert sorted(listed) == sorted([done.task_id, queued.task_id])
            source = tmp_path / "async.bin"
            source.write_bytes(b"async bytes " * 1000)
            uploaded = await sdk.upload(source)
            back = await sdk.download(uploaded.artifact_id, tmp_path / "async-back.bin")
            assert back.read_bytes() == source.read_bytes()
            with pytest.raises(NotFound):
                await sdk.tasks.get(str(uuid.uuid4()))

    await asyncio.wait_for(scenario(), timeout=120)


def test_logs_follow_until_the_end(client):
    # Only some handlers write log lines (video generation does); following ends with the task.
    task = client.subtitles.generate(text=f"Follow my logs {uuid.uuid4().hex}.")
    followed = list(client.tasks.follow_logs(task.task_id, poll_seconds=0.2, timeout=60))
    assert client.tasks.get(task.task_id).finished
    assert followed == client.tasks.logs(task.task_id)
    with pytest.raises(NotFound):
        client.tasks.logs(str(uuid.uuid4()))


def test_grpc_flavour_through_the_gateway(stack, own_key, tmp_path):
    from mediatasks.client.grpc_client import GrpcClient

    target = stack.http_url.removeprefix("http://")  # Envoy routes native gRPC by service
    with GrpcClient(target, api_key=own_key) as sdk:
        done = sdk.subtitles.generate(text=f"Over gRPC {uuid.uuid4().hex}.", format="vtt", wait=True)
        assert done.status == "COMPLETED" and done.artifacts
        queued = sdk.subtitles.generate(text=f"Watch over gRPC {uuid.uuid4().hex}.")
        events = list(sdk.tasks.stream(queued.task_id))
        assert events[0].event_type == "task.created" and events[-1].task.status == "COMPLETED"
        resumed = list(sdk.tasks.stream(queued.task_id, after=events[0].sequence))
        assert [e.sequence for e in resumed] == [e.sequence for e in events[1:]]
        assert sorted(t.task_id for t in sdk.tasks.list(page_size=1)) == sorted([done.task_id, queued.task_id])
        assert sdk.tasks.result(done.task_id)["status"] == "COMPLETED"
        assert sdk.tasks.wait(queued.task_id, timeout=30).status == "COMPLETED"
        with pytest.raises(NotFound) as missing:
            sdk.tasks.get(str(uuid.uuid4()))
        assert missing.value.reason == "TASK_NOT_FOUND" and missing.value.code == "NOT_FOUND"
        with pytest.raises(InvalidInput):
            sdk.submit("subtitle_generation", text="x", format="docx")
        with pytest.raises(FailedPrecondition):
            sdk.tasks.retry(done.task_id)
        # Files over gRPC: a streamed upload (also of a job's local file) and download.
        source = tmp_path / "notes.srt"
        source.write_bytes(b"1\n00:00:00,000 --> 00:00:01,500\nStreamed over gRPC\n" * 20_000)
        seen: list[int] = []
        stored = sdk.upload(source, progress=lambda sent, total: seen.append(sent), chunk_size=64 * 1024)
        assert stored.size_bytes == source.stat().st_size and seen[-1] == source.stat().st_size and len(seen) > 10
        back = sdk.download(stored.artifact_id, tmp_path / "back.srt")
        assert back.read_bytes() == source.read_bytes()
        clip = make_video(tmp_path / "clip.mp4", seconds=1.0, size=(96, 64), fps=5)
        captioned = sdk.videos.caption(video=clip, subtitles="1\n00:00:00,000 --> 00:00:00,800\nHi\n", wait=True)
        assert captioned.status == "COMPLETED", captioned.error
        with pytest.raises(NotFound):
            sdk.download(str(uuid.uuid4().hex), tmp_path / "missing")
        assert not (tmp_path / "missing.part").exists()
    with GrpcClient(target, api_key="mt_wrong", retry=RetryPolicy(attempts=1)) as stranger:
        with pytest.raises(Unauthenticated):
            stranger.tasks.list_page()


class _CutFirstEventStream(httpx.BaseTransport):
    """The network cuts the first event stream after its first chunk of events."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.last_event_ids: list[str | None] = []
        self.ids_before_cut: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/events"):
            return response
        self.last_event_ids.append(request.headers.get("last-event-id"))
        if len(self.last_event_ids) > 1:
            return response
        inner = response.stream
        seen = self.ids_before_cut

        class Cut(httpx.SyncByteStream):
            def __iter__(self):
                for chunk in inner:  # type: ignore[union-attr]
                    seen.extend(int(n) for n in re.findall(rb"^id: (\d+)", chunk, re.MULTILINE))
                    yield chunk
                    if b"\n\n" in chunk:
                        raise httpx.ReadError("connection reset mid-stream", request=request)

            def close(self) -> None:
                response.close()

        return httpx.Response(response.status_code, headers=response.headers, stream=Cut(), request=request)


def test_a_cut_event_stream_resumes_with_last_event_id(stack, own_key):
    transport = _CutFirstEventStream()
    with Client(stack.http_url, api_key=own_key, transport=transport, retry=RetryPolicy(base_delay=0.05)) as sdk:
        task = _long_slideshow(sdk, seconds=6, size=(640, 360))
        events = list(sdk.tasks.stream(task.task_id))
        assert len(transport.last_event_ids) == 2 and transport.last_event_ids[0] is None
        sequences = [event.sequence for event in events]
        # The reconnect asked for what came after the last event it had: nothing lost, nothing twice.
        assert transport.ids_before_cut and transport.last_event_ids[1] == str(max(transport.ids_before_cut))
        assert len(sequences) > len(transport.ids_before_cut) and len(set(sequences)) == len(sequences)
        assert events[-1].task.status == "COMPLETED"
        assert sequences == [event.sequence for event in sdk.tasks.stream(task.task_id)]


class _CutFirstDownload(httpx.BaseTransport):
    """The network drops the first artifact download after its first megabyte."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.ranges: list[str | None] = []
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "/artifacts/" not in request.url.path:
            return response
        self.ranges.append(request.headers.get("range"))
        self.statuses.append(response.status_code)
        if len(self.ranges) > 1:
            return response
        inner = response.stream

        class Cut(httpx.SyncByteStream):
            def __iter__(self):
                sent = 0
                for chunk in inner:  # type: ignore[union-attr]
                    yield chunk
                    sent += len(chunk)
                    if sent >= 1024 * 1024:
                        raise httpx.ReadError("connection reset mid-download", request=request)

            def close(self) -> None:
                response.close()

        return httpx.Response(response.status_code, headers=response.headers, stream=Cut(), request=request)


def test_a_cut_download_continues_with_range(stack, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 11)
    source = tmp_path / "range.bin"
    source.write_bytes(data)
    transport = _CutFirstDownload()
    with Client(stack.http_url, api_key=stack.api_key, transport=transport, retry=RetryPolicy(base_delay=0.05)) as sdk:
        artifact = sdk.upload(source)
        saved = sdk.download(artifact.artifact_id, tmp_path / "range-back.bin")
    assert saved.read_bytes() == data
    first, second = transport.ranges
    assert first is None and second is not None and second.startswith("bytes=")
    assert 1024 * 1024 <= int(second.removeprefix("bytes=").rstrip("-")) < len(data)
    assert transport.statuses == [200, 206]  # the rest only, not the whole file again
