"""Webhook signatures, payloads and retry rules, without network.

The Standard Webhooks signature is checked against the specification's published test
vector (the same one the reference libraries test with) and against an HMAC computed
here by hand; the seeds' ``X-Webhook-Signature`` against the seeds' own verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from mediatasks.core.settings import Settings
from mediatasks.registry.webhooks import (
    build_payload,
    delivery_headers,
    delivery_id,
    is_retryable_status,
    legacy_signature,
    retry_delay,
    signing_key,
    standard_signature,
    wants_event,
)
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2

# Published Standard Webhooks test vector (standard-webhooks spec and reference libraries).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def seed_verify_webhook(payload: str, signature: str, secret: str) -> bool:
    """The verifier the seeds' clients run (seed 001), as written there."""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


def test_standard_signature_matches_the_published_test_vector():
    assert standard_signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_whsec_secret_is_base64_decoded_into_the_key():
    assert signing_key(VECTOR_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_plain_secret_is_used_as_utf8_bytes():
    secret = "s3cr\u00e9t-not-whsec"
    body = '{"event_type":"task.completed","n":"\u00e7"}'.encode()
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), b"abc.1700000000." + body, hashlib.sha256).digest()
    ).decode()
    assert standard_signature(secret, "abc", 1700000000, body) == f"v1,{expected}"


def test_whsec_secret_that_is_not_base64_falls_back_to_its_text():
    secret = "whsec_not base64!!"
    assert signing_key(secret) == secret.encode()


def test_seed_header_is_accepted_by_the_seed_verifier():
    body = b'{"event_type":"task.completed","task_id":"t"}'
    for secret in ("optional-secret-for-verification", VECTOR_SECRET):
        header = legacy_signature(secret, body)
        assert header.startswith("sha256=")
        assert seed_verify_webhook(body.decode(), header, secret)
        assert not seed_verify_webhook(body.decode() + " ", header, secret)


def test_headers_with_and_without_a_secret():
    body = b"{}"
    signed = delivery_headers("k", "id-1", 1700000000, body)
    assert signed["webhook-id"] == "id-1"
    assert signed["webhook-timestamp"] == "1700000000"
    assert signed["webhook-signature"] == standard_signature("k", "id-1", 1700000000, body)
    assert signed["x-webhook-signature"] == legacy_signature("k", body)
    assert signed["content-type"] == "application/json"
    unsigned = delivery_headers("", "id-1", 1700000000, body)
    assert "webhook-signature" not in unsigned and "x-webhook-signature" not in unsigned
    assert unsigned["webhook-id"] == "id-1"


def _event(status: int, event_type: str) -> tasks_pb2.TaskEvent:
    task = tasks_pb2.Task(
        task_id="0b7c6f8e-3a57-4b7a-9d55-0a0e8f1f2c3d",
        task_type="subtitle_generation",
        status=status,
        progress=100 if status == tasks_pb2.Task.COMPLETED else 40,
        stage="completed" if status == tasks_pb2.Task.COMPLETED else "failed",
        owner="alice",
        attempt=1,
        max_attempts=3,
        metadata={"order": "42"},
        webhook_url="https://example.com/hook",
    )
    if status == tasks_pb2.Task.COMPLETED:
        task.output.result.Pack(subtitle_pb2.SubtitleResult(content="WEBVTT\n", cue_count=2))
    else:
        task.error.CopyFrom(common_pb2.TaskError(code="INVALID_ARGUMENT", reason="UNSUPPORTED_MEDIA", message="bad"))
    event = tasks_pb2.TaskEvent(event_id="e1", event_type=event_type, task_id=task.task_id, task=task)
    event.timestamp.FromDatetime(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    return event


def test_payload_of_a_completed_task_has_the_seed_shape():
    body = json.loads(build_payload(_event(tasks_pb2.Task.COMPLETED, "task.completed")))
    assert body["event_type"] == "task.completed"
    assert body["event_id"] == "e1"
    assert body["task_id"] == "0b7c6f8e-3a57-4b7a-9d55-0a0e8f1f2c3d"
    assert body["timestamp"] == "2026-01-02T03:04:05Z"
    assert body["user_id"] == "alice"
    assert body["metadata"] == {"order": "42"}
    data = body["data"]
    assert data["status"] == "completed"
    assert data["type"] == "subtitle_generation"
    assert data["progress"] == 100
    assert data["output_data"]["result"]["content"] == "WEBVTT\n"
    assert data["output_data"]["result"]["@type"].endswith("mediatasks.v1.SubtitleResult")
    assert "error" not in data
    assert body["task"]["status"] == "COMPLETED"
    assert body["task"]["webhook_url"] == "https://example.com/hook"


def test_payload_of_a_failed_task_carries_the_error():
    body = json.loads(build_payload(_event(tasks_pb2.Task.FAILED, "task.failed")))
    assert body["data"]["status"] == "failed"
    assert body["data"]["error"]["reason"] == "UNSUPPORTED_MEDIA"
    assert "output_data" not in body["data"]


def test_event_filter():
    assert wants_event([], "task.progress")
    assert wants_event(None, "task.created")
    assert wants_event(["task.completed", "task.failed"], "task.completed")
    assert not wants_event(["task.completed"], "task.progress")
    assert wants_event(["completed"], "task.completed")


def test_webhooks_get_task_log_events_only_when_asked() -> None:
    assert not wants_event([], "task.log") and wants_event([], "task.progress")
    assert wants_event(["log"], "task.log") and wants_event(["task.log", "completed"], "task.log")
    assert not wants_event(["completed"], "task.log")


def test_delivery_ids_are_stable_per_consumer_and_event():
    assert delivery_id("webhooks", "e1") == delivery_id("webhooks", "e1")
    assert delivery_id("webhooks", "e1") != delivery_id("webhooks", "e2")
    assert delivery_id("webhooks", "e1") != delivery_id("other", "e1")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (301, True),
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (410, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_which_statuses_are_retried(status, retryable):
    assert is_retryable_status(status) is retryable


def test_retry_delay_follows_the_schedule_with_jitter_and_retry_after():
    schedule = [5.0, 30.0, 120.0]
    for attempts_made, base in ((1, 5.0), (2, 30.0), (3, 120.0), (7, 120.0)):
        for _ in range(20):
            assert base * 0.9 <= retry_delay(schedule, attempts_made) <= base * 1.1
    assert retry_delay(schedule, 1, retry_after=600.0) == 600.0
    assert retry_delay(schedule, 1, retry_after=10**6) == 3600.0


def test_default_settings_give_at_least_8_tries_over_an_hour():
    settings = Settings()
    assert settings.webhook_max_attempts >= 8
    schedule = settings.webhook_retry_schedule()
    waits = [schedule[min(n, len(schedule) - 1)] * 0.9 for n in range(settings.webhook_max_attempts - 1)]
    assert sum(waits) >= 3600
