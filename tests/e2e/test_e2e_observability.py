"""Live progress (SSE with resume), tenancy, metrics, statistics and health through Envoy."""

from __future__ import annotations

import uuid

import httpx
import pytest
from helpers.stacks import error_reason, isolated_stack, upload, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(": ")
            fields[key] = value
        if "data" in fields:
            events.append(fields)
    return events


def test_sse_stream_and_resume(rest):
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Stream me {uuid.uuid4().hex}."}).json()
    with rest.stream("GET", f"/api/v1/media/tasks/{task['task_id']}/events", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    events = parse_sse(body)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "task.created" and kinds[-1] == "task.completed"
    assert "task.started" in kinds
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    resumed = rest.get(
        f"/api/v1/media/tasks/{task['task_id']}/events", headers={"Last-Event-ID": str(ids[0])}, timeout=30
    )
    again = parse_sse(resumed.text)
    assert [int(e["id"]) for e in again] == ids[1:]  # nothing lost, nothing repeated


def test_other_owner_sees_nothing(rest, stack):
    mallory = stack.create_api_key("mallory")
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Private {uuid.uuid4().hex}."}).json()
    done = wait_for(rest, task["task_id"])
    artifact_url = done["output"]["artifacts"][0]["url"]
    upload_id = upload(rest, b"secret bytes", "application/octet-stream")
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": mallory}, timeout=30) as other:
        for response in (
            other.get(f"/api/v1/media/tasks/{task['task_id']}"),
            other.get(f"/api/v1/media/tasks/{task['task_id']}/result"),
            other.post(f"/api/v1/media/tasks/{task['task_id']}/cancel", json={}),
            other.delete(f"/api/v1/media/tasks/{task['task_id']}"),
            other.get(artifact_url),
            other.get(f"/api/v1/media/artifacts/{upload_id}"),
        ):
            assert response.status_code == 404, response.text
        listing = other.get("/api/v1/media/tasks").json()
        assert all(item["owner"] == "mallory" for item in listing["items"])
        assert task["task_id"] not in {item["task_id"] for item in listing["items"]}
        submit = other.post("/api/v1/media/audio/transcribe", json={"audio_url": upload_id})
        assert submit.status_code == 404 and error_reason(submit) == "ARTIFACT_NOT_FOUND"


def scrape(stack, service: str, port: int) -> dict:
    """One service process's /metrics, parsed by prometheus_client's own parser."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def total(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, v2) in ls for k, v2 in labels.items()))


def jobs_completed(stack) -> float:
    """Completed subtitle jobs over every subtitle replica (a job runs on one of them)."""
    return sum(
        total(
            scrape(stack, "subtitle", process.metrics_port),
            "mediatasks_jobs_total",
            task_type="subtitle_generation",
            outcome="completed",
        )
        for process in stack.processes
        if process.service == "subtitle"
    )


def test_metrics_move_with_the_work(rest, stack):
    registry_port = next(p.metrics_port for p in stack.processes if p.service == "registry")
    before = scrape(stack, "registry", registry_port)
    jobs_before = jobs_completed(stack)
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Count me {uuid.uuid4().hex}."}).json()
    wait_for(rest, task["task_id"])
    after = scrape(stack, "registry", registry_port)
    for name, labels in (
        ("mediatasks_rpc_requests_total", {"method": "GetTask", "code": "OK"}),
        ("mediatasks_task_transitions_total", {"task_type": "subtitle_generation", "status": "COMPLETED"}),
        ("mediatasks_outbox_published_total", {"kind": "job"}),
    ):
        assert total(after, name, **labels) > total(before, name, **labels), name
    assert jobs_completed(stack) == jobs_before + 1


def test_statistics_and_health(rest):
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Stats {uuid.uuid4().hex}."}).json()
    wait_for(rest, task["task_id"])
    stats = rest.get("/api/v1/media/statistics", params={"window_seconds": 3600}).json()
    by_type = {entry["task_type"]: entry for entry in stats["by_type"]}
    assert int(by_type["subtitle_generation"]["completed"]) >= 1
    assert by_type["subtitle_generation"]["mean_duration_seconds"] > 0
    assert 0 < stats["success_rate"] <= 1
    assert set(stats["queue_by_priority"]) == {"urgent", "high", "medium", "low"}
    health = rest.get("/api/v1/media/health").json()
    assert health["status"] == "ok", health
    assert health["dependencies"] == {"postgresql": "ok", "nats": "ok", "outbox": "ok"}
    assert health["workers"]["subtitle_generation"] >= 1


def test_gateway_rate_limits_each_api_key(postgres_server):
    """Past its bucket (burst 2 x rate, refilled each second) a key gets 429 RATE_LIMITED
    as the REST JSON error, while another key is unaffected. A stack of its own with a low
    rate makes this independent of how fast the machine is."""
    with isolated_stack(postgres_server, "ratelimit", media_services=(), rate_limit_per_second=5) as stack:
        noisy = stack.create_api_key("noisy")
        calm = stack.create_api_key("calm")
        with httpx.Client(base_url=stack.http_url, timeout=30) as client:
            codes = [
                client.get("/api/v1/media/tasks", params={"limit": 1}, headers={"X-API-Key": noisy}).status_code
                for _ in range(30)
            ]
            assert codes[:10] == [200] * 10  # the burst
            assert codes.count(429) >= 10
            limited = client.get("/api/v1/media/tasks", headers={"X-API-Key": noisy})
            assert limited.status_code == 429 and error_reason(limited) == "RATE_LIMITED"
            assert client.get("/api/v1/media/tasks", headers={"X-API-Key": calm}).status_code == 200
