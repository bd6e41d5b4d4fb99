"""The SDK's verifier accepts exactly what the registry's webhook sender signs."""

from __future__ import annotations

import base64
import json
import time

import pytest
from mediatasks.client import WebhookVerificationError, verify_webhook
from mediatasks.registry.webhooks import delivery_headers

BODY = json.dumps({"type": "task.completed", "data": {"task_id": "t-1"}}).encode()


@pytest.mark.parametrize("secret", ["whsec_" + base64.b64encode(b"k" * 32).decode(), "plain text secret"])
def test_a_delivery_signed_by_the_server_verifies(secret: str) -> None:
    now = int(time.time())
    headers = delivery_headers(secret, "msg_1", now, BODY)
    assert verify_webhook(secret, headers, BODY) == json.loads(BODY)
    # Header names are case-insensitive on the wire.
    assert verify_webhook(secret, {k.title(): v for k, v in headers.items()}, BODY.decode())


def test_tampering_a_wrong_secret_and_replays_are_refused() -> None:
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    now = int(time.time())
    headers = delivery_headers(secret, "msg_2", now, BODY)
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_webhook(secret, headers, BODY.replace(b"t-1", b"t-2"))
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_webhook("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, BODY)
    with pytest.raises(WebhookVerificationError, match="away from now"):
        verify_webhook(secret, headers, BODY, now=now + 3600)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(secret, {"webhook-id": "msg_2"}, BODY)


def test_an_unsigned_delivery_is_refused() -> None:
    headers = delivery_headers("", "msg_3", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("any", headers, BODY)
