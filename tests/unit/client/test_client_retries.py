"""Retries on the wire: the server's RetryInfo / Retry-After is honoured, a create call
keeps one Idempotency-Key across its tries, and permanent errors are never retried."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

import pytest
from client_loopback import reply, serve
from mediatasks.client import Client, InvalidInput, RetryPolicy, ServerBusy

TASK = {"task_id": "7d0c1f4e-0000-4000-8000-000000000001", "status": "QUEUED", "task_type": "subtitle_generation"}


def _status(code: int, reason: str, *details: dict) -> bytes:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "mediatasks"}
    return json.dumps({"code": code, "message": reason.lower(), "details": [info, *details]}).encode()


def _answers(*answers):
    queue = list(answers)

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.rfile.read(int(h.headers.get("Content-Length") or 0))
        status, body, headers = queue.pop(0)
        reply(h, status, body, Content_Type="application/json", **headers)

    return handle


def test_a_busy_server_is_retried_after_the_delay_it_asked_for() -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "0.300s"}
    handler = _answers(
        (429, _status(8, "CONCURRENCY_LIMIT", retry_info), {}),
        (503, _status(14, "SERVER_BUSY"), {"Retry_After": "1"}),
        (202, json.dumps(TASK).encode(), {}),
    )
    with serve({"POST": handler}) as (url, seen), Client(url, api_key="k") as client:
        started = time.monotonic()
        task = client.subtitles.generate(text="hello")
        waited = time.monotonic() - started
    assert task.task_id == TASK["task_id"] and task.status == "QUEUED"
    keys = {headers["idempotency-key"] for _, _, headers in seen}
    assert len(seen) == 3 and len(keys) == 1 and "" not in keys
    assert waited >= 1.3  # 0.3 s (RetryInfo) + 1 s (Retry-After)


def test_the_last_try_raises_the_typed_error() -> None:
    handler = _answers(*[(503, _status(14, "SERVER_BUSY"), {"Retry_After": "0"})] * 3)
    with serve({"POST": handler}) as (url, seen), Client(url, api_key="k", retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(ServerBusy) as busy:
            client.subtitles.generate(text="hello")
    assert len(seen) == 3 and busy.value.http_status == 503


def test_bad_input_is_never_retried() -> None:
    handler = _answers((400, _status(3, "INVALID_INPUT"), {}))
    with serve({"POST": handler}) as (url, seen), Client(url, api_key="k") as client:
        with pytest.raises(InvalidInput):
            client.subtitles.generate(text="")
    assert len(seen) == 1


def test_the_policy_caps_a_long_server_delay_and_backs_off_without_one() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    assert policy.delay(1, retry_after=60) == 5.0
    assert all(0 <= policy.delay(4) <= 5.0 for _ in range(100))
    assert all(policy.delay(1) <= 1.0 for _ in range(100))
