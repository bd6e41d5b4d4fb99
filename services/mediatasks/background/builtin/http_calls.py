"""``webhook_delivery`` and ``external_sync``: signed HTTP calls, retried on the type's
schedule, through the platform's webhook sender (SSRF checks, the checked address, no
proxies or redirects, Standard Webhooks and ``X-Webhook-Signature`` signatures)."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx

from mediatasks.background.builtin._settings import settings_of
from mediatasks.core.inputs import fetch_client
from mediatasks.core.webhook_sender import SendResult, send_signed
from mediatasks.worker import BackgroundTask, RetryPolicy, TaskDefinition, TaskFailed, TransientError

# Headers the sender owns: a payload may not set them.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-webhook-signature",
    }
)
_HEADERS_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 50}


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    reserved = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS)
    if reserved:
        raise TaskFailed(f"headers may not set {', '.join(reserved)}", reason="INVALID_INPUT")
    return headers


async def _post(
    task: BackgroundTask, url: str, body: bytes, *, secret: str, headers: dict[str, str], field: str
) -> SendResult:
    settings = settings_of(task)
    timeout = settings.external_sync_timeout_seconds
    await task.update_progress(10, "sending")
    async with fetch_client(httpx.Timeout(timeout)) as client:
        result = await send_signed(
            client,
            url,
            body,
            secret=secret,
            # The task id: the same on every retry, so a receiver can drop a repeat.
            msg_id=task.id,
            timestamp=int(time.time()),
            settings=settings,
            timeout=timeout,
            extra_headers=headers,
            field=field,
        )
    task.log(f"attempt {task.attempt}: POST {url} -> {result.status_code or '-'} {result.error}".rstrip())
    if result.delivered:
        await task.update_progress(100, "delivered")
        return result
    if result.retryable:
        raise TransientError(f"POST {url}: {result.error}", reason="DELIVERY_FAILED")
    raise TaskFailed(f"POST {url}: {result.error}", reason="DELIVERY_REFUSED")


def _body(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def deliver_webhook(task: BackgroundTask) -> dict:
    """POST ``data`` to ``webhook_url`` with custom headers, signed when asked."""
    payload = task.payload
    secret = ""
    if payload.get("sign_payload"):
        secret = settings_of(task).background_signing_secret
        if not secret:
            raise TaskFailed(
                "sign_payload needs a signing secret: set MEDIATASKS_BACKGROUND_SIGNING_SECRET on the worker",
                reason="SIGNING_SECRET_MISSING",
            )
    headers = _check_headers(dict(payload.get("headers") or {}))
    result = await _post(
        task, payload["webhook_url"], _body(payload["data"]), secret=secret, headers=headers, field="webhook_url"
    )
    return {"delivered": True, "status_code": result.status_code, "signed": bool(secret), "attempts": task.attempt}


def _sync_url(task: BackgroundTask) -> str:
    payload = task.payload
    if payload.get("url"):
        return str(payload["url"])
    base = settings_of(task).n8n_webhook_url
    if not base:
        raise TaskFailed(
            "an N8N sync needs the N8N address: set MEDIATASKS_N8N_WEBHOOK_URL on the worker (or give url)",
            reason="N8N_NOT_CONFIGURED",
        )
    # N8N serves a workflow's Webhook node at <base>/webhook/<path>.
    return f"{base.rstrip('/')}/webhook/{payload['sync_type']}"


async def sync_external(task: BackgroundTask) -> dict:
    """Trigger an external system (an N8N workflow by default) with a signed call."""
    payload = task.payload
    url = _sync_url(task)
    body = _body(
        {
            "sync_type": payload["sync_type"],
            "data": payload.get("data") or {},
            "task_id": task.id,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )
    headers = _check_headers(dict(payload.get("headers") or {}))
    result = await _post(task, url, body, secret=settings_of(task).n8n_webhook_secret, headers=headers, field="url")
    return {"synced": True, "url": url, "status_code": result.status_code, "attempts": task.attempt}


WEBHOOK_DELIVERY = TaskDefinition(
    "webhook_delivery",
    deliver_webhook,
    payload_schema={
        "type": "object",
        "required": ["webhook_url", "data"],
        "additionalProperties": False,
        "properties": {
            "webhook_url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
            "data": {"type": "object"},
            "headers": _HEADERS_SCHEMA,
            "sign_payload": {"type": "boolean"},
        },
    },
    priority="high",
    retry=RetryPolicy(max_retries=5, base_delay=30.0, backoff_factor=2.0, max_delay=3600.0),
    description="POST JSON to a URL with custom headers, optionally signed, retried with backoff.",
    builtin=True,
)

EXTERNAL_SYNC = TaskDefinition(
    "external_sync",
    sync_external,
    payload_schema={
        "type": "object",
        "required": ["sync_type"],
        "additionalProperties": False,
        "properties": {
            "target": {"enum": ["n8n", "url"]},
            "url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
            "sync_type": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"},
            "data": {"type": "object"},
            "headers": _HEADERS_SCHEMA,
        },
    },
    priority="high",
    retry=RetryPolicy(max_retries=3, base_delay=60.0),
    description="Trigger an N8N workflow (or another system) with a signed call, retried with backoff.",
    builtin=True,
)
