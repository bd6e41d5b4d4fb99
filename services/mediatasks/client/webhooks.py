"""Check that a webhook delivery came from mediatasks (Standard Webhooks signatures).

The server signs ``"<webhook-id>.<webhook-timestamp>.<body>"`` with HMAC-SHA256 and sends
``webhook-signature: v1,<base64>``. The key is the task's ``webhook_secret``: a
``whsec_<base64>`` secret is its decoded bytes, any other secret its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


class WebhookVerificationError(Exception):
    """The delivery is not signed with this secret, or is too old (a replay)."""


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            pass  # the server uses such a secret as text too
    return secret.encode("utf-8")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value the server sends for this delivery."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's JSON payload if ``headers`` carry a valid signature of ``body``.

    Pass the body exactly as received (bytes, before any JSON parsing). Raises
    :class:`WebhookVerificationError` on a missing or wrong signature, or a timestamp
    more than ``tolerance_seconds`` away from ``now`` (replay protection).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = body.encode("utf-8") if isinstance(body, str) else body
    webhook_id = lowered.get("webhook-id", "")
    timestamp_text = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not webhook_id or not timestamp_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError as exc:
        raise WebhookVerificationError(f"webhook-timestamp {timestamp_text!r} is not a number") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError(f"webhook-timestamp is {current - timestamp:.0f}s away from now")
    expected = sign(secret, webhook_id, timestamp, raw)
    # The header may list several space-separated signatures (a secret being rotated).
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()):
        raise WebhookVerificationError("no webhook-signature matches this secret")
    return json.loads(raw)
