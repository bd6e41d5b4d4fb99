"""Webhooks carry download links too (issue 12 item 2): the completed event's payload has
an absolute ``download_url`` on MEDIATASKS_PUBLIC_BASE_URL for every artifact, and that
link downloads the bytes through the registry with no credentials at all. Without the
setting, the links point at the origin the task's submit came to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.db import create_engine
from mediatasks.core.nats_conn import connect
from mediatasks.core.topology import HOOKS_STREAM
from mediatasks.registry.artifacts_servicer import UrlSigner, url_signing_key
from mediatasks.registry.links import DownloadLinks
from mediatasks.registry.webhooks import WebhookDispatcher
from mediatasks.v1 import artifacts_pb2, artifacts_pb2_grpc, common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")

# No worker of this type runs in these tests, so the test plays the worker without racing one.
UNSERVED_TYPE = "video_caption"

PUBLIC = "https://media.example.com"


class Receiver:
    """Records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@contextlib.asynccontextmanager
async def dispatching(stack_settings, public_base_url: str):
    """A dispatcher with download links, on its own consumer, engine and connection."""
    settings = stack_settings.model_copy(
        update={"allow_private_urls": True, "public_base_url": public_base_url, "webhook_timeout_seconds": 5.0}
    )
    durable = f"webhook_links_{uuid.uuid4().hex[:8]}"
    engine = create_engine(settings)
    nc = await connect(settings, name=f"test-{durable}")
    js = nc.jetstream(timeout=5.0)
    store = ArtifactStore(js, settings)
    links = DownloadLinks(UrlSigner(url_signing_key(settings)), store)
    dispatcher = WebhookDispatcher(engine, js, settings, durable=durable, links=links)
    task = asyncio.create_task(dispatcher.run())
    deadline = time.monotonic() + 15
    while True:
        with contextlib.suppress(Exception):
            await js.consumer_info(HOOKS_STREAM, durable)
            break
        assert time.monotonic() < deadline and not task.done(), "the webhook consumer was never created"
        await asyncio.sleep(0.05)
    try:
        yield store
    finally:
        await asyncio.wait_for(dispatcher.stop(), timeout=10)
        await asyncio.wait_for(task, timeout=10)
        with contextlib.suppress(Exception):
            await js.delete_consumer(HOOKS_STREAM, durable)
        await nc.close()
        await engine.dispose()


@pytest.fixture(scope="module")
async def running(stack_settings, registry_service):
    async with dispatching(stack_settings, PUBLIC) as store:
        yield store


def internal(owner: str = "anonymous") -> tuple[tuple[str, str], ...]:
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


async def test_the_completed_webhook_carries_links_that_download_without_credentials(
    running, receiver, registry_service
) -> None:
    store: ArtifactStore = running
    owner = f"hooklinks-{uuid.uuid4().hex[:6]}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
    try:
        options = common_pb2.SubmitOptions(webhook_url=receiver.url, webhook_events=["completed"])
        request = tasks_pb2.CreateTaskRequest(
            task_type=UNSERVED_TYPE, owner=owner, options=options, idempotency_key=uuid.uuid4().hex
        )
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="Links."))
        task = await registry.CreateTask(request, metadata=internal(owner), timeout=10)
        data = b"1\n00:00:00,000 --> 00:00:01,000\nLinks.\n"
        stored = await store.put_bytes(data, content_type="text/srt", filename="subtitles.srt", owner=owner)
        started = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id="w"),
            metadata=internal(),
            timeout=10,
        )
        output = tasks_pb2.TaskOutput(artifacts=[stored])
        output.result.Pack(subtitle_pb2.SubtitleResult(format="srt", subtitles=stored, cue_count=1))
        await registry.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=started.attempt, output=output),
            metadata=internal(),
            timeout=10,
        )
        deadline = time.monotonic() + 20
        while not any(body["task_id"] == task.task_id for body in receiver.bodies):
            assert time.monotonic() < deadline, "no webhook arrived"
            await asyncio.sleep(0.05)
        body = next(body for body in receiver.bodies if body["task_id"] == task.task_id)
        assert body["event_type"] == "task.completed"
        listed = body["task"]["output"]["artifacts"][0]
        inside = body["task"]["output"]["result"]["subtitles"]
        assert listed["download_url"] == inside["download_url"]
        # Seed 001's shape: output_data.<role>_url, the same keyless link.
        assert body["data"]["output_data"][f"{listed['role'] or 'file'}_url"] == listed["download_url"]
        link = urlsplit(listed["download_url"])
        assert f"{link.scheme}://{link.netloc}" == PUBLIC and link.path == f"/api/v1/media/files/{stored.artifact_id}"
        assert listed["url"] == f"/api/v1/media/artifacts/{stored.artifact_id}"
        query = {key: values[0] for key, values in parse_qs(link.query).items()}
        # What the gateway's /files route calls: no API key, no internal token.
        chunks = artifacts.GetSignedArtifact(
            artifacts_pb2.GetSignedArtifactRequest(
                artifact_id=stored.artifact_id, expires=int(query["expires"]), signature=query["signature"]
            ),
            timeout=10,
        )
        assert b"".join([chunk.data async for chunk in chunks]) == data
    finally:
        await channel.close()


async def test_without_a_public_base_url_the_webhook_links_point_at_the_submits_origin(
    stack_settings, receiver, registry_service
) -> None:
    origin = "https://api.example.org"
    owner = f"hookorigin-{uuid.uuid4().hex[:6]}"
    async with dispatching(stack_settings, "") as store:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
        registry = tasks_pb2_grpc.TaskRegistryStub(channel)
        try:
            options = common_pb2.SubmitOptions(webhook_url=receiver.url, webhook_events=["completed"])
            request = tasks_pb2.CreateTaskRequest(
                task_type=UNSERVED_TYPE, owner=owner, options=options, idempotency_key=uuid.uuid4().hex
            )
            request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="Origin."))
            # A media service's submit: the origin is the gateway's forwarded Host.
            answer = await registry.CreateTasks(
                tasks_pb2.CreateTasksRequest(submissions=[tasks_pb2.TaskSubmission(task=request, origin=origin)]),
                metadata=internal(owner),
                timeout=10,
            )
            task = answer.results[0].task
            stored = await store.put_bytes(b"origin bytes", content_type="text/plain", filename="o.txt", owner=owner)
            started = await registry.StartAttempt(
                tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id="w"),
                metadata=internal(),
                timeout=10,
            )
            await registry.CompleteTask(
                tasks_pb2.CompleteTaskRequest(
                    task_id=task.task_id, attempt=started.attempt, output=tasks_pb2.TaskOutput(artifacts=[stored])
                ),
                metadata=internal(),
                timeout=10,
            )
            # The module's other dispatcher (on PUBLIC) delivers the event too: this one's
            # delivery is the one whose links are not on PUBLIC.
            deadline = time.monotonic() + 20
            while not (links := [url for url in links_of(receiver, task.task_id) if not url.startswith(PUBLIC)]):
                assert time.monotonic() < deadline, "no webhook arrived from the dispatcher without a base URL"
                await asyncio.sleep(0.05)
        finally:
            await channel.close()
    link = urlsplit(links[0])
    assert f"{link.scheme}://{link.netloc}" == origin and link.path == f"/api/v1/media/files/{stored.artifact_id}"


def links_of(receiver: Receiver, task_id: str) -> list[str]:
    """The first artifact's download link of every webhook body received for ``task_id``."""
    return [
        body["task"]["output"]["artifacts"][0]["download_url"] for body in receiver.bodies if body["task_id"] == task_id
    ]
