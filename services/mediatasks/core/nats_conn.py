"""The one place that opens NATS connections."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS

from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)


async def connect(settings: Settings, *, name: str) -> NATS:
    """Connect with reconnects forever, so a NATS restart is survived by every service."""
    if not settings.nats_url:
        raise RuntimeError("set MEDIATASKS_NATS_URL (for example nats://127.0.0.1:4222)")

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    credentials: dict[str, str] = {}
    if settings.nats_user:
        credentials.update(user=settings.nats_user, password=settings.nats_password)
    if settings.nats_creds_file:
        credentials["user_credentials"] = settings.nats_creds_file
    return await nats.connect(
        settings.nats_url,
        name=name,
        **credentials,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
