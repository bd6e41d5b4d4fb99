"""Background tasks end to end: the registry behind the real Envoy, user-defined and
built-in task types in separate `mediatasks worker` processes, submitted over REST."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy
from aiosmtpd.controller import Controller
from helpers.stacks import error_reason, isolated_stack
from mediatasks.core.settings import child_environment
from mediatasks.core.webhook_sender import standard_signature
from mediatasks.devstack.servers import ChildProcess, free_port
from mediatasks.testing.fake_vendors.embeddings_api import FakeEmbeddings, fake_vector
from mediatasks.worker.submit import BackgroundClient, BackgroundError

pytestmark = pytest.mark.e2e

SIGNING_SECRET = "bg-signing-secret"
N8N_SECRET = "n8n-secret"

USER_APP = textwrap.dedent(
    '''
    import asyncio
    from pathlib import Path

    from mediatasks.worker import BackgroundTask, RetryPolicy, TaskApp, TaskHandler, TransientError

    tasks = TaskApp()


    @tasks.task("slow_steps", schema={"type": "object", "required": ["steps"],
                                      "properties": {"steps": {"type": "integer", "minimum": 1}}})
    async def slow_steps(task: BackgroundTask) -> dict:
        for step in range(task.payload["steps"]):
            task.log(f"step {step + 1}")
            await task.update_progress((step + 1) / task.payload["steps"], f"step {step + 1}")
            await asyncio.sleep(0.4)
        return {"steps": task.payload["steps"]}


    @tasks.task("flaky", retry=RetryPolicy(max_retries=2, base_delay=1.0, backoff_factor=2.0))
    async def flaky(task: BackgroundTask) -> dict:
        task.log(f"attempt {task.attempt}")
        if task.attempt < 3:
            raise TransientError("the service is down")
        return {"attempt": task.attempt}


    @tasks.handler
    class Crashy(TaskHandler):
        """Blocks on its first attempt (the test kills the worker), completes on the next."""

        task_type = "crashy"
        payload_schema = {"type": "object", "required": ["marker"]}

        async def execute(self, task: BackgroundTask) -> dict:
            marker = Path(task.payload["marker"])
            await self.update_progress(task, 0.1, "started")
            if task.attempt == 1:
                marker.write_text(str(task.attempt))
                await asyncio.sleep(120)
            with marker.open("a") as runs:
                runs.write(f" done:{task.attempt}")
            return {"attempt": task.attempt}


    @tasks.task("prio_probe")
    async def prio_probe(task: BackgroundTask) -> dict:
        return {"ok": True}


    @tasks.task("quick_sum", quick=True)
    async def quick_sum(task: BackgroundTask) -> dict:
        return {"sum": sum(task.payload["numbers"])}
    '''
)


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers the status queued for its path (default 200)."""

    requests: list[dict] = []
    statuses: dict[str, list[int]] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        queued = self.statuses.get(self.path) or [200]
        status = queued.pop(0) if len(queued) > 1 else queued[0]
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": envelope.content})
        return "250 OK"


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def embeddings() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as fake:
        yield fake


@pytest.fixture(scope="module")
def bg(postgres_server, receiver, mailbox, embeddings, tmp_path_factory):
    """Registry + Envoy; a worker of the built-in types and one of the user's app."""
    app_dir = tmp_path_factory.mktemp("userapp")
    (app_dir / "userapp.py").write_text(USER_APP)
    env = {
        "MEDIATASKS_ACK_WAIT_SECONDS": "2",
        "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.2",
        "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "3",
        "MEDIATASKS_LOG_JSON": "false",
        "MEDIATASKS_ALLOW_PRIVATE_URLS": "true",
        "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "50",
        "MEDIATASKS_SCHEDULER_INTERVAL_SECONDS": "0.5",
        "MEDIATASKS_SMTP_HOST": "127.0.0.1",
        "MEDIATASKS_SMTP_PORT": str(mailbox[1]),
        "MEDIATASKS_SMTP_TLS": "none",
        "MEDIATASKS_SMTP_FROM": "noreply@example.test",
        "MEDIATASKS_BACKGROUND_SIGNING_SECRET": SIGNING_SECRET,
        "MEDIATASKS_N8N_WEBHOOK_URL": receiver + "/n8n",
        "MEDIATASKS_N8N_WEBHOOK_SECRET": N8N_SECRET,
        **embeddings.env(),
    }
    with isolated_stack(postgres_server, "background", media_services=(), env=env) as stack:
        workers: list[ChildProcess] = []

        def start_worker(name: str, *args: str) -> ChildProcess:
            child = ChildProcess(
                name,
                [sys.executable, "-m", "mediatasks.cli.main", "worker", *args],
                stack.state_dir / "logs" / f"{name}.log",
                cwd=app_dir,
                env=child_environment({**stack.service_env(), "MEDIATASKS_METRICS_PORT": "-1"}),
            )
            child.start()
            workers.append(child)
            return child

        stack.start_worker = start_worker  # type: ignore[attr-defined]
        stack.bg_workers = workers  # type: ignore[attr-defined]
        start_worker("builtin-worker", "--app", "mediatasks.background.builtin:tasks")
        start_worker("user-worker-1", "--app", "userapp:tasks", "--queues", "normal,high,low", "--concurrency", "4")
        with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, timeout=30.0) as client:
            _wait_types(client, {"slow_steps", "flaky", "crashy", "webhook_delivery", "document_processing"})
            yield stack, client
        for child in workers:
            child.stop(timeout=5)


def _wait_types(client: httpx.Client, names: set[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/api/background/health")
        if response.status_code == 200 and names <= {n for n, c in response.json()["workers"].items() if c}:
            return
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def _submit(client: httpx.Client, task_type: str, payload: dict, **extra) -> dict:
    response = client.post("/api/background/tasks", json={"task_type": task_type, "payload": payload, **extra})
    assert response.status_code == 202, response.text
    return response.json()


def _wait(client: httpx.Client, task_id: str, statuses=("completed", "failed", "cancelled"), timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = client.get(f"/api/background/tasks/{task_id}").json()
        if task["status"] in statuses:
            return task
        assert time.monotonic() < deadline, f"{task_id} still {task['status']} ({task['stage']})"
        time.sleep(0.1)


def test_user_type_progress_and_logs_live_then_completes(bg) -> None:
    _stack, client = bg
    task = _submit(client, "slow_steps", {"steps": 6}, name="six steps", priority="high")
    assert task["status"] == "pending" and task["name"] == "six steps" and task["priority"] == "high"
    seen = set()
    deadline = time.monotonic() + 30
    while True:
        current = client.get(f"/api/background/tasks/{task['task_id']}").json()
        if current["status"] == "running" and 0 < current["progress"] < 100:
            seen.add(current["progress"])
        if current["status"] == "completed":
            break
        assert time.monotonic() < deadline, json.dumps(current)
        time.sleep(0.1)
    assert seen, "progress was never seen between 0 and 100 while running"
    assert current["result"] == {"steps": 6}
    logs = client.get(f"/api/background/tasks/{task['task_id']}/logs").json()["logs"]
    assert [entry["message"] for entry in logs if entry["message"].startswith("step")][:6] == [
        f"step {n}" for n in range(1, 7)
    ]


def test_a_type_declared_quick_starts_with_its_completion(bg) -> None:
    _stack, client = bg
    _wait_types(client, {"quick_sum", "prio_probe"})
    quick = _submit(client, "quick_sum", {"numbers": [1, 2, 3]})
    plain = _submit(client, "prio_probe", {})
    logs = {}
    for task in (quick, plain):
        done = _wait(client, task["task_id"], {"completed"})
        logs[task["task_id"]] = [
            entry["message"]
            for entry in client.get(f"/api/background/tasks/{task['task_id']}/logs").json()["logs"]
            if entry["message"].startswith("started attempt 1")
        ]
        if task is quick:
            assert done["result"] == {"sum": 6}
    # The quick type's start was recorded by its completion; the other's by StartAttempt.
    assert len(logs[quick["task_id"]]) == 1 and logs[quick["task_id"]][0].endswith("(a quick job)")
    assert len(logs[plain["task_id"]]) == 1 and "quick" not in logs[plain["task_id"]][0]


def test_stream_carries_progress_until_the_end(bg) -> None:
    _stack, client = bg
    task = _submit(client, "slow_steps", {"steps": 4})
    events = []
    with client.stream("GET", f"/api/background/tasks/{task['task_id']}/stream", timeout=30.0) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    kinds = [event["event_type"] for event in events]
    assert kinds[-1] == "task.completed", kinds
    assert "task.progress" in kinds or "task.started" in kinds
    assert events[-1]["task"]["status"] == "completed"
    # Server-sent events proper: id: and event: lines, and a reconnect resumes after the
    # last id seen (Last-Event-ID), nothing repeated.
    frames = []
    with client.stream("GET", f"/api/background/tasks/{task['task_id']}/stream", timeout=30.0) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        for line in response.iter_lines():
            if not line:
                frames.append(frame)
                frame = {}
            elif ":" in line:
                key, _, value = line.partition(":")
                frame[key] = value.strip()
    assert [f["event"] for f in frames] == kinds
    ids = [int(f["id"]) for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    with client.stream(
        "GET",
        f"/api/background/tasks/{task['task_id']}/stream",
        headers={"Last-Event-ID": str(ids[0])},
        timeout=30.0,
    ) as response:
        resumed = [int(line[3:].strip()) for line in response.iter_lines() if line.startswith("id:")]
    assert resumed == ids[1:]


def test_cancel_mid_run_stops_the_handler(bg) -> None:
    _stack, client = bg
    task = _submit(client, "slow_steps", {"steps": 50})
    _wait(client, task["task_id"], statuses=("running",))
    time.sleep(0.8)
    response = client.post(f"/api/background/tasks/{task['task_id']}/cancel", json={"reason": "test"})
    assert response.status_code == 200, response.text
    done = _wait(client, task["task_id"])
    assert done["status"] == "cancelled"
    steps_logged = [
        e
        for e in client.get(f"/api/background/tasks/{task['task_id']}/logs").json()["logs"]
        if e["message"].startswith("step")
    ]
    time.sleep(1.0)
    later = [
        e
        for e in client.get(f"/api/background/tasks/{task['task_id']}/logs").json()["logs"]
        if e["message"].startswith("step")
    ]
    assert len(later) == len(steps_logged) < 50


def test_transient_failure_retried_on_the_declared_schedule(bg) -> None:
    _stack, client = bg
    task = _submit(client, "flaky", {})
    done = _wait(client, task["task_id"], timeout=60)
    assert done["status"] == "completed", done
    assert done["result"] == {"attempt": 3}
    assert done["retry_count"] == 2 and done["max_retries"] == 2
    logs = client.get(f"/api/background/tasks/{task['task_id']}/logs").json()["logs"]
    starts = [
        dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        for e in logs
        # The handler's own lines ("attempt 2"), not the registry's lifecycle lines
        # ("attempt 1 failed (...); retrying in 1.0s").
        if re.fullmatch(r"attempt \d+", e["message"])
    ]
    assert len(starts) == 3
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    # Declared: 1 s, then 2 s, each ±20% jitter; a retry also waits for the next poll (< 1 s).
    assert 0.8 <= gaps[0] <= 1.2 + 1.5, gaps
    assert 1.6 <= gaps[1] <= 2.4 + 1.5, gaps


def test_unknown_type_and_bad_payload_are_400(bg) -> None:
    _stack, client = bg
    response = client.post("/api/background/tasks", json={"task_type": "nope", "payload": {}})
    assert response.status_code == 400 and error_reason(response) == "INVALID_INPUT"
    assert "slow_steps" in response.json()["message"]
    response = client.post("/api/background/tasks", json={"task_type": "slow_steps", "payload": {"steps": 0}})
    assert response.status_code == 400 and error_reason(response) == "INVALID_INPUT"
    assert "steps" in response.json()["message"]


def test_idempotency_key_and_statistics(bg) -> None:
    _stack, client = bg
    body = {"task_type": "slow_steps", "payload": {"steps": 1}}
    key = {"Idempotency-Key": f"key-{time.time_ns()}"}
    first = client.post("/api/background/tasks", json=body, headers=key)
    again = client.post("/api/background/tasks", json=body, headers=key)
    assert first.status_code == 202 and again.json()["task_id"] == first.json()["task_id"]
    other = client.post("/api/background/tasks", json={**body, "payload": {"steps": 2}}, headers=key)
    assert other.status_code == 409 and error_reason(other) == "IDEMPOTENCY_KEY_REUSED"
    _wait(client, first.json()["task_id"])
    stats = client.get("/api/v1/media/statistics").json()
    assert any(t["task_type"] == "slow_steps" and int(t["completed"]) >= 1 for t in stats["by_type"])


def test_worker_killed_mid_task_completes_once_on_another(bg, tmp_path) -> None:
    stack, client = bg
    marker = tmp_path / "crashy-runs"
    task = _submit(client, "crashy", {"marker": str(marker)})
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the first attempt never started"
        time.sleep(0.1)
    victim = next(c for c in _workers(stack) if c.name == "user-worker-1")
    victim._process.send_signal(signal.SIGKILL)  # the whole point: no hand-back, no goodbye
    victim._process.wait(timeout=10)
    stack.start_worker("user-worker-2", "--app", "userapp:tasks")
    done = _wait(client, task["task_id"], timeout=60)
    assert done["status"] == "completed", done
    assert done["result"]["attempt"] >= 2
    assert marker.read_text().count("done:") == 1


def _workers(stack) -> list[ChildProcess]:
    return [child for child in stack.bg_workers if child.is_running()]


def test_queue_restriction_is_honoured(bg) -> None:
    stack, client = bg
    # Only this worker runs prio_probe jobs of priority critical; nobody takes normal ones.
    for child in _workers(stack):
        if child.name.startswith("user-worker"):
            child.stop(timeout=5)
    stack.start_worker("critical-worker", "--app", "userapp:tasks", "--queues", "critical")
    _wait_types(client, {"prio_probe"})
    normal = _submit(client, "prio_probe", {}, priority="normal")
    critical = _submit(client, "prio_probe", {}, priority="critical")
    assert _wait(client, critical["task_id"], timeout=30)["status"] == "completed"
    time.sleep(2.0)
    assert client.get(f"/api/background/tasks/{normal['task_id']}").json()["status"] == "pending"
    stats = client.get("/api/background/queue/stats").json()
    probe = [q for q in stats["queues"] if q["task_type"] == "prio_probe" and q["priority"] == "normal"]
    assert probe and probe[0]["pending"] == 1 and probe[0]["oldest_pending_age_seconds"] >= 2.0
    client.post(f"/api/background/tasks/{normal['task_id']}/cancel", json={})


def test_webhook_delivery_signed_with_headers_and_retried(bg, receiver) -> None:
    _stack, client = bg
    _Receiver.statuses["/hook"] = [503, 200]
    response = client.post(
        "/api/background/tasks/webhook-delivery",
        json={
            "webhook_url": receiver + "/hook",
            "data": {"order": 7},
            "headers": {"X-Tenant": "acme"},
            "sign_payload": True,
        },
    )
    assert response.status_code == 202, response.text
    # webhook_delivery's own schedule starts at 30 s: submit one with a short schedule is
    # not possible for a built-in type, so the first 503 is checked and the retry is due.
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 20
    while not [r for r in _Receiver.requests if r["path"] == "/hook"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    retrying = _wait(client, task_id, statuses=("retrying",), timeout=20)
    assert retrying["error"]["reason"] == "DELIVERY_FAILED" and retrying["next_retry_at"]
    sent = [r for r in _Receiver.requests if r["path"] == "/hook"][0]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["x-tenant"] == "acme"
    assert json.loads(sent["body"]) == {"order": 7}
    expected = standard_signature(
        SIGNING_SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), sent["body"]
    )
    assert headers["webhook-signature"] == expected
    client.post(f"/api/background/tasks/{task_id}/cancel", json={})


def test_webhook_delivery_delivered_unsigned(bg, receiver) -> None:
    _stack, client = bg
    response = client.post(
        "/api/background/tasks/webhook-delivery", json={"webhook_url": receiver + "/hook-ok", "data": {"a": [1, 2]}}
    )
    assert response.status_code == 202, response.text
    done = _wait(client, response.json()["task_id"])
    assert done["status"] == "completed" and done["result"] == {
        "delivered": True,
        "status_code": 200,
        "signed": False,
        "attempts": 1,
    }
    sent = [r for r in _Receiver.requests if r["path"] == "/hook-ok"][-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert "webhook-signature" not in headers and headers["webhook-id"] == done["task_id"]
    assert json.loads(sent["body"]) == {"a": [1, 2]}
    refused = client.post(
        "/api/background/tasks/webhook-delivery", json={"webhook_url": "ftp://x", "data": {}, "bogus": 1}
    )
    assert refused.status_code == 400


def test_health_without_credentials_says_only_up_or_down(bg) -> None:
    stack, client = bg
    with httpx.Client(base_url=stack.http_url, timeout=10.0) as anonymous:
        answer = anonymous.get("/api/background/health")
    assert answer.status_code == 200 and answer.json()["status"] == "healthy"
    assert not answer.json()["workers"] and not answer.json()["dependencies"]
    full = client.get("/api/background/health").json()
    assert full["dependencies"]["postgresql"] == "ok" and full["workers"]["webhook_delivery"] >= 1


def test_n8n_sync_is_a_signed_call(bg, receiver) -> None:
    _stack, client = bg
    response = client.post(
        "/api/background/tasks/n8n-sync", json={"sync_type": "user_registration", "data": {"user": "u1"}}
    )
    assert response.status_code == 202, response.text
    done = _wait(client, response.json()["task_id"])
    assert done["status"] == "completed", done
    sent = [r for r in _Receiver.requests if r["path"] == "/n8n/webhook/user_registration"][-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert json.loads(sent["body"])["data"] == {"user": "u1"}
    assert headers["webhook-signature"] == standard_signature(
        N8N_SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), sent["body"]
    )


def test_email_notification_reaches_the_smtp_server(bg, mailbox) -> None:
    _stack, client = bg
    box, _port = mailbox
    task = _submit(
        client,
        "email_notification",
        {"to": ["ana@example.test"], "template": "welcome", "variables": {"name": "Ana", "product": "mediatasks"}},
    )
    done = _wait(client, task["task_id"])
    assert done["status"] == "completed", done
    assert done["result"]["accepted"] == ["ana@example.test"]
    message = box.messages[-1]
    assert message["to"] == ["ana@example.test"] and message["from"] == "noreply@example.test"
    assert b"Subject: Welcome, Ana" in message["data"] and b"welcome to mediatasks" in message["data"]
    missing = _submit(client, "email_notification", {"to": "ana@example.test", "template": "welcome"})
    failed = _wait(client, missing["task_id"])
    assert failed["status"] == "failed" and failed["error"]["reason"] == "INVALID_INPUT"


def test_document_processing_chunks_and_embeds(bg, embeddings) -> None:
    _stack, client = bg
    content = " ".join(f"word{n}" for n in range(600))
    stack = _stack
    with BackgroundClient(stack.http_url, stack.api_key) as sdk:  # the seed's convenience submit
        task = sdk.submit_document_processing("doc_123", content, chunk_size=1000, chunk_overlap=100)
        assert task["status"] == "pending"
        done = sdk.wait(task["task_id"], timeout=60, poll_seconds=0.1)
        with pytest.raises(BackgroundError) as refused:
            sdk.submit_document_processing("doc_124", content, chunk_size=10)
        assert (refused.value.status, refused.value.reason) == (400, "INVALID_INPUT")
    assert done["status"] == "completed", done
    result = done["result"]
    assert result["document_id"] == "doc_123" and result["chunk_count"] == len(result["chunks"]) >= 4
    for chunk in result["chunks"]:
        assert chunk["embedding"] == pytest.approx(fake_vector(chunk["text"], embeddings.dimensions), abs=1e-5)
    first, second = result["chunks"][0], result["chunks"][1]
    assert second["start"] < first["end"]  # overlapping
    assert embeddings.count("embeddings") >= 1


def test_knowledge_bulk_and_n8n_trigger_paths(bg, receiver) -> None:
    _stack, client = bg
    response = client.post(
        "/api/background/integrations/knowledge/process-bulk",
        json={
            "documents": [
                {"document_id": "a", "content": "alpha beta gamma"},
                {"document_id": "b", "content": ""},
                {"document_id": "c", "content": "delta epsilon", "chunk_size": 50},
            ],
            "priority": "low",
        },
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["document_id"] for r in results] == ["a", "b", "c"]
    assert results[1]["error"]["reason"] == "INVALID_INPUT"
    assert not results[1].get("task") and not results[0].get("error")
    for item in (results[0], results[2]):
        done = _wait(client, item["task"]["task_id"])
        assert done["status"] == "completed" and done["priority"] == "low", done
        assert done["result"]["chunk_count"] == 1
    trigger = client.post(
        "/api/background/integrations/n8n/trigger", json={"sync_type": "order_paid", "data": {"order": 1}}
    )
    assert trigger.status_code == 202, trigger.text
    assert _wait(client, trigger.json()["task_id"])["status"] == "completed"
    assert any(r["path"] == "/n8n/webhook/order_paid" for r in _Receiver.requests)


def test_analytics_report_artifact(bg) -> None:
    _stack, client = bg
    points = [{"name": "latency", "value": v, "timestamp": f"2026-11-0{1 + v % 2}T10:00:00Z"} for v in range(1, 11)]
    task = _submit(client, "analytics_processing", {"metrics": points, "group_by": ["day"], "report_name": "daily"})
    done = _wait(client, task["task_id"])
    assert done["status"] == "completed", done
    summary = done["result"]["metrics"]["latency"]
    assert summary["count"] == 10 and summary["sum"] == 55 and summary["mean"] == 5.5 and summary["max"] == 10
    assert {g["day"] for g in done["result"]["groups"]["day"]} == {"2026-11-01", "2026-11-02"}
    artifact = done["artifacts"][0]
    report = client.get(f"/api/v1/media/artifacts/{artifact['artifact_id']}")
    assert report.status_code == 200 and json.loads(report.content)["metrics"]["latency"]["count"] == 10


def test_daily_analytics_schedule_runs_once_per_day(bg) -> None:
    stack, client = bg
    points = [{"name": "signups", "value": v, "timestamp": "2026-11-30T08:00:00Z"} for v in (3, 4)]
    body = {"name": "nightly", "payload": {"metrics": points, "report_name": "nightly"}, "hour_utc": 3, "minute": 30}
    refused = client.post("/api/background/integrations/analytics/schedule-daily", json={**body, "hour_utc": 24})
    assert refused.status_code == 400
    bad_payload = client.post(
        "/api/background/integrations/analytics/schedule-daily", json={**body, "payload": {"metrics": "x"}}
    )
    assert bad_payload.status_code == 400  # checked against the type's schema today, not tomorrow
    created = client.post("/api/background/integrations/analytics/schedule-daily", json={**body, "run_now": True})
    assert created.status_code == 200, created.text
    schedule = created.json()
    assert (schedule["hour_utc"], schedule["minute"], schedule["task_type"]) == (3, 30, "analytics_processing")
    deadline = time.monotonic() + 30
    while not (listed := client.get("/api/background/schedules").json()["schedules"])[0]["last_task_id"]:
        assert time.monotonic() < deadline, "the schedule never ran"
        time.sleep(0.2)
    run = _wait(client, listed[0]["last_task_id"])
    assert run["status"] == "completed", run
    assert run["result"]["metrics"]["signups"]["sum"] == 7
    next_run = dt.datetime.fromisoformat(listed[0]["next_run_at"].replace("Z", "+00:00"))
    assert next_run > dt.datetime.now(dt.UTC) and (next_run.hour, next_run.minute) == (3, 30)
    time.sleep(1.5)  # three more scheduler rounds: nothing else is due today
    engine = sqlalchemy.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(
                sqlalchemy.text("SELECT count(*) FROM tasks WHERE idempotency_key LIKE :key"),
                {"key": f"schedule:{schedule['schedule_id']}:%"},
            ).scalar()
    finally:
        engine.dispose()
    assert runs == 1
    # Sending it again updates the one schedule; deleting it stops it.
    again = client.post("/api/background/integrations/analytics/schedule-daily", json={**body, "minute": 45}).json()
    assert again["schedule_id"] == schedule["schedule_id"] and again["minute"] == 45
    assert client.delete(f"/api/background/schedules/{schedule['schedule_id']}").status_code == 200
    assert client.get("/api/background/schedules").json()["schedules"] == []
    assert client.delete(f"/api/background/schedules/{schedule['schedule_id']}").status_code == 404


def _age(stack, task_id: str, days: float) -> None:
    """Make a finished task look as if it ended ``days`` ago."""
    engine = sqlalchemy.create_engine(stack.database_url)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE tasks SET completed_at = now() - make_interval(days => :days) WHERE id = :id"),
            {"days": days, "id": task_id},
        )
    engine.dispose()


def test_cleanup_is_owner_scoped(bg) -> None:
    stack, client = bg
    other = stack.create_api_key("someone-else")
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": other}, timeout=30.0) as them:
        theirs = _submit(them, "prio_probe", {}, priority="critical")
        mine_old = _submit(client, "prio_probe", {}, priority="critical")
        mine_new = _submit(client, "prio_probe", {}, priority="critical")
        for client_, task in ((them, theirs), (client, mine_old), (client, mine_new)):
            assert _wait(client_, task["task_id"], timeout=30)["status"] == "completed"
        _age(stack, theirs["task_id"], 3)
        _age(stack, mine_old["task_id"], 3)
        response = client.post("/api/background/queue/cleanup?max_age_days=2")
        assert response.status_code == 200, response.text
        assert response.json()["all_owners"] is False and int(response.json()["deleted_tasks"]) >= 1
        assert client.get(f"/api/background/tasks/{mine_old['task_id']}").status_code == 404
        assert client.get(f"/api/background/tasks/{mine_new['task_id']}").status_code == 200
        assert them.get(f"/api/background/tasks/{theirs['task_id']}").status_code == 200
    assert client.post("/api/background/queue/cleanup?max_age_days=-1").status_code == 400
