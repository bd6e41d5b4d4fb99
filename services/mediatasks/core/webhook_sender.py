"""Signed webhook sending, shared by the registry's event webhooks and the
``webhook_delivery`` background type: the signature headers and one HTTP attempt.

Signatures follow Standard Webhooks: ``webhook-id`` (stable across retries),
``webhook-timestamp`` (unix seconds of the attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. A secret of the form ``whsec_<base64>``
is base64-decoded into the key (what verifier libraries expect); any other secret is used
as its UTF-8 bytes. ``X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`` is sent
as well, keyed with the secret's UTF-8 bytes, for receivers that verify that header.
Without a secret, deliveries are unsigned (``webhook-id`` and ``webhook-timestamp`` only).

:func:`send_signed` makes one attempt: the SSRF check of the URL, a POST to the checked
address with a deadline, the answer classified; retrying is the caller's business.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from mediatasks.core.errors import MediaTasksError
from mediatasks.core.inputs import pinned_stream, resolve_url
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "mediatasks-webhooks/1"


def signing_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature.

    ``whsec_<base64>`` secrets are decoded (the Standard Webhooks secret format); any
    other secret, or a ``whsec_`` one whose rest is not valid base64, is its UTF-8 bytes.
    """
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            log.warning("a webhook secret starts with whsec_ but is not base64; using it as text")
    return secret.encode("utf-8")


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def legacy_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>`` keyed with the secret's UTF-8 bytes: the
    ``X-Webhook-Signature`` that receivers verifying it expect."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def delivery_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one attempt; without a secret, no signature headers."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = standard_signature(secret, msg_id, timestamp, body)
        headers["x-webhook-signature"] = legacy_signature(secret, body)
    return headers


def is_retryable_status(status_code: int) -> bool:
    """Whether an HTTP answer that is not 2xx is worth another try."""
    if 400 <= status_code < 500:
        return status_code in (408, 429)
    return True  # 3xx (never followed) and 5xx


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header given in seconds; None for anything else."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


@dataclass(frozen=True)
class SendResult:
    """How one attempt ended: an HTTP status (0 when none came) or an error."""

    status_code: int = 0
    error: str = ""
    retryable: bool = True
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return bool(self.status_code) and not self.error


async def send_signed(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    secret: str,
    msg_id: str,
    timestamp: int,
    settings: Settings,
    timeout: float,
    extra_headers: Mapping[str, str] | None = None,
    field: str = "webhook_url",
) -> SendResult:
    """One signed POST of ``body`` to ``url``; never raises.

    ``client`` comes from :func:`mediatasks.core.inputs.fetch_client` (no proxies, no
    redirects). The URL is checked against the SSRF rules first and the POST goes to the
    checked address. ``extra_headers`` go out too, but never replace the signature headers.
    """
    try:
        target = await resolve_url(url, settings, field=field)
    except MediaTasksError as error:
        # An unresolvable host may be a passing DNS failure; a refused one is not.
        retryable = "cannot resolve" in error.message
        return SendResult(error=f"{error.reason}: {error.message}", retryable=retryable)
    headers = dict(extra_headers or {})
    headers.update(delivery_headers(secret, msg_id, timestamp, body))
    try:
        async with asyncio.timeout(timeout):
            # Streamed and closed unread: the receiver's answer body is not wanted.
            async with pinned_stream(client, "POST", target, content=body, headers=headers) as response:
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
    except (TimeoutError, httpx.TimeoutException):
        return SendResult(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return SendResult(error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= status < 300:
        return SendResult(status_code=status, retryable=False)
    return SendResult(
        status_code=status, error=f"HTTP {status}", retryable=is_retryable_status(status), retry_after=retry_after
    )
