"""Signed webhooks end to end: REST submit with a webhook, a loopback receiver that checks
Standard Webhooks signatures independently, delivery listing and manual redelivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from helpers.stacks import isolated_stack

pytestmark = pytest.mark.e2e
SECRET = "whsec_" + base64.b64encode(b"e2e-webhook-secret-key-32-bytes!").decode()


def standard_webhooks_valid(headers, body: bytes) -> bool:
    """Verification as the Standard Webhooks spec describes it (written here, not imported)."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.split(",", 1)[1] for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, sig) for sig in offered)


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["content-length"]))
        seed = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        Receiver.received.append(
            {
                "id": self.headers["webhook-id"],
                "valid": standard_webhooks_valid(self.headers, body),
                "seed_valid": hmac.compare_digest(seed, self.headers.get("x-webhook-signature", "")),
                "payload": json.loads(body),
            }
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook_stack(postgres_server):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with isolated_stack(
        postgres_server,
        "hooks",
        media_services=("subtitle",),
        env={"MEDIATASKS_ALLOW_PRIVATE_URLS": "true", "MEDIATASKS_LOG_JSON": "false"},
    ) as stack:
        yield stack, f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_signed_webhooks_in_order_listed_and_redelivered(webhook_stack):
    stack, hook_url = webhook_stack
    with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, timeout=30) as rest:
        task = rest.post(
            "/api/v1/media/subtitles/generate",
            json={
                "text": f"Hook me {uuid.uuid4().hex}.",
                "webhook_url": hook_url,
                "webhook_secret": SECRET,
                "metadata": {"order": "42"},
            },
        ).json()
        deadline = time.monotonic() + 30
        while not any(r["payload"]["event_type"] == "task.completed" for r in Receiver.received):
            assert time.monotonic() < deadline, Receiver.received
            time.sleep(0.1)
        mine = [r for r in Receiver.received if r["payload"]["task_id"] == task["task_id"]]
        assert [r["payload"]["event_type"] for r in mine][0] == "task.created"
        assert [r["payload"]["event_type"] for r in mine][-1] == "task.completed"
        assert "task.started" in [r["payload"]["event_type"] for r in mine]
        assert all(r["valid"] and r["seed_valid"] for r in mine)
        completed = mine[-1]["payload"]
        assert completed["data"]["status"] == "completed" and completed["metadata"] == {"order": "42"}

        listing = rest.get(f"/api/v1/media/tasks/{task['task_id']}/webhooks").json()["deliveries"]
        assert {d["state"] for d in listing} == {"delivered"}
        assert all(d["attempts"][0]["status_code"] == 204 for d in listing)
        last = next(d for d in listing if d["event_type"] == "task.completed")
        count = len(Receiver.received)
        again = rest.post(f"/api/v1/media/webhooks/{last['delivery_id']}/redeliver", json={})
        assert again.status_code == 200
        deadline = time.monotonic() + 15
        while len(Receiver.received) == count:
            assert time.monotonic() < deadline, "redelivery never arrived"
            time.sleep(0.1)
        assert Receiver.received[-1]["id"] == last["delivery_id"] and Receiver.received[-1]["valid"]
