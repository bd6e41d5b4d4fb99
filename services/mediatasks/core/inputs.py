"""Media inputs: an ``https://`` URL or the id of an uploaded artifact.

Remote fetches refuse private, loopback, link-local and other non-public addresses
(checked on every redirect hop, and against the address actually resolved) unless
``MEDIATASKS_ALLOW_PRIVATE_URLS`` is set, and enforce size and time limits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import cast
from urllib.parse import urljoin, urlsplit

import grpc
import httpx

from mediatasks.core.artifacts import ArtifactStore, looks_like_artifact_id
from mediatasks.core.errors import MediaTasksError, invalid_input, too_large, transient
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)
_MAX_REDIRECTS = 5


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, settings: Settings, *, field: str = "url") -> None:
    """Refuse a URL that is not https (or http when private URLs are allowed) or that
    resolves to a non-public address."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if settings.allow_private_urls else ("https",)
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise invalid_input(f"{field} must be an https:// URL or an artifact id", field=field)
    if settings.allow_private_urls:
        return
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM),
            timeout=5.0,
        )
    except (TimeoutError, OSError) as exc:
        raise invalid_input(f"{field}: cannot resolve host {parts.hostname!r}: {exc}", field=field) from None
    for info in infos:
        address = cast(str, info[4][0])  # an AF_INET or AF_INET6 sockaddr: (host, port, ...)
        if not _is_public(address):
            raise MediaTasksError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "URL_NOT_ALLOWED",
                f"{field}: {parts.hostname} resolves to a private, loopback or link-local address ({address})",
                metadata={"field": field},
            )


async def validate_ref(ref: str, settings: Settings, artifacts: ArtifactStore, owner: str, *, field: str) -> None:
    """Submit-time check of one input reference (URL safety, or the artifact exists)."""
    if not ref:
        raise invalid_input(f"{field} is required", field=field)
    if looks_like_artifact_id(ref):
        await artifacts.get_info(ref, owner=owner)
        return
    await check_url(ref, settings, field=field)


async def fetch_to(ref: str, dest: Path, settings: Settings, artifacts: ArtifactStore, owner: str) -> Path:
    """Materialise an input reference as a local file at ``dest``."""
    if looks_like_artifact_id(ref):
        await artifacts.download_to(ref, dest, owner=owner)
        return dest
    url = ref
    limit = settings.max_fetch_bytes
    timeout = httpx.Timeout(settings.fetch_timeout_seconds, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for _hop in range(_MAX_REDIRECTS + 1):
            await check_url(url, settings)
            try:
                async with asyncio.timeout(settings.fetch_timeout_seconds):
                    async with client.stream("GET", url) as response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers.get("location", ""))
                            continue
                        if response.status_code >= 500 or response.status_code == 429:
                            raise transient("FETCH_FAILED", f"GET {url} answered {response.status_code}")
                        if response.status_code >= 400:
                            raise invalid_input(f"GET {url} answered {response.status_code}")
                        declared = int(response.headers.get("content-length") or 0)
                        if declared > limit:
                            raise too_large(f"{url} is {declared} bytes; the limit is {limit}", limit)
                        size = 0
                        with dest.open("wb") as out:
                            async for chunk in response.aiter_bytes(65536):
                                size += len(chunk)
                                if size > limit:
                                    raise too_large(f"{url} is larger than the limit of {limit} bytes", limit)
                                out.write(chunk)
                        return dest
            except TimeoutError:
                raise transient(
                    "FETCH_TIMEOUT", f"GET {url} took longer than {settings.fetch_timeout_seconds}s"
                ) from None
            except httpx.HTTPError as exc:
                raise transient("FETCH_FAILED", f"GET {url} failed: {exc}") from None
    raise invalid_input(f"{ref}: more than {_MAX_REDIRECTS} redirects")
