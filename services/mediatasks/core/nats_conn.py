"""The one place that opens NATS connections."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from mediatasks.core.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

# A server that stops answering (frozen, or cut off by a partition) keeps its TCP
# connection open, so only unanswered PINGs reveal it: after PING_INTERVAL_SECONDS *
# MAX_OUTSTANDING_PINGS the client gives up on it and reconnects to another node
# (nats.py's defaults, 120 s x 2, would keep a service stuck on a dead node for 4 minutes).
PING_INTERVAL_SECONDS = 3
MAX_OUTSTANDING_PINGS = 2


def server_urls(settings: Settings) -> list[str]:
    """The URLs of ``MEDIATASKS_NATS_URL``: one server, or every node of a cluster."""
    urls = [part.strip() for part in settings.nats_url.split(",") if part.strip()]
    if not urls:
        raise ConfigurationError(
            f"set {settings.env_name('nats_url')} (for example nats://127.0.0.1:4222, "
            "or nats://a:4222,nats://b:4222,nats://c:4222 for a cluster)"
        )
    return urls


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context the ``MEDIATASKS_NATS_TLS_*`` settings describe, or None.

    A CA file alone verifies the servers; a certificate and key add mutual TLS. A file
    that is missing or unreadable fails at start, naming its variable.
    """
    ca, cert, key = settings.nats_tls_ca_file, settings.nats_tls_cert_file, settings.nats_tls_key_file
    if not (ca or cert or key):
        return None
    if bool(cert) != bool(key):
        raise ConfigurationError(
            f"set both {settings.env_name('nats_tls_cert_file')} and {settings.env_name('nats_tls_key_file')} "
            "(a client certificate needs its key)"
        )
    for field, path in (("nats_tls_ca_file", ca), ("nats_tls_cert_file", cert), ("nats_tls_key_file", key)):
        if path and not Path(path).is_file():
            raise ConfigurationError(f"{settings.env_name(field)}: no such file {path!r}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca or None)
    if cert:
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                f"{settings.env_name('nats_tls_cert_file')} / {settings.env_name('nats_tls_key_file')}: "
                f"cannot load the client certificate: {exc}"
            ) from exc
    return context


async def connect(settings: Settings, *, name: str) -> NATS:
    """Connect to any server of ``MEDIATASKS_NATS_URL`` with reconnects forever, across
    all of them, so a NATS restart or the loss of a cluster node is survived by every
    service."""
    servers = server_urls(settings)
    tls = tls_context(settings)

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?")

    # reconnect_time_wait is annotated int in nats.py but is used as seconds, fractions included.
    options: dict[str, Any] = {"reconnect_time_wait": 0.5}
    if settings.nats_user:
        options.update(user=settings.nats_user, password=settings.nats_password)
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    nc = NATS()
    await nc.connect(
        servers,
        name=name,
        **options,
        tls=tls,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        ping_interval=PING_INTERVAL_SECONDS,
        max_outstanding_pings=MAX_OUTSTANDING_PINGS,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    return nc
