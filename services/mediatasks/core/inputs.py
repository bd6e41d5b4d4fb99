"""Media inputs: an ``https://`` URL or the id of an uploaded artifact.

Remote fetches refuse private, loopback, link-local and other non-public addresses unless
``MEDIATASKS_ALLOW_PRIVATE_URLS`` is set, and enforce size and time limits. Each hop of a
redirect chain is resolved once; every address of the answer must be public, and the
connection goes to one of those very addresses (the Host header, TLS SNI and certificate
check keep the URL's hostname), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot reach an internal address. Proxy settings from the
environment are ignored: a proxy would do its own lookup.

Every materialised input is also checked for text formats that make ffmpeg open further
files or URLs (HLS and other M3U playlists, concat lists, DASH and IMF manifests, SDP
descriptions); such an input fails with ``UNSUPPORTED_MEDIA`` before any media tool
reads it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import grpc
import httpx

from mediatasks.core.artifacts import ArtifactStore, looks_like_artifact_id
from mediatasks.core.errors import MediaTasksError, invalid_input, too_large, transient, unsupported_media
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)
_MAX_REDIRECTS = 5
_RESOLVE_TIMEOUT_SECONDS = 5.0

# IPv6 forms that carry an IPv4 address a gateway or tunnel turns them into. ``ipaddress``
# calls most of them global; they are judged by the IPv4 address inside instead.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
# Always refused: nothing public is reached through them.
_REFUSED_V6 = (
    (ipaddress.IPv6Network("::/96"), "an IPv4-compatible IPv6 address (deprecated, RFC 4291)"),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "a local-use NAT64 address (RFC 8215)"),
    (ipaddress.IPv6Network("fec0::/10"), "a site-local IPv6 address"),
)


def address_refusal(address: str) -> str | None:
    """Why a connection to ``address`` (an IP literal) is refused, or None if it is public.

    Public means globally routable unicast. IPv4-mapped (``::ffff:a.b.c.d``), NAT64
    (``64:ff9b::/96``) and 6to4 (``2002::/16``) addresses are judged by the IPv4 address
    they embed, so ``64:ff9b::7f00:1`` (127.0.0.1 behind a NAT64 gateway) is refused while
    the NAT64 form of a public address is not. IPv4-compatible (``::a.b.c.d``), local-use
    NAT64 (``64:ff9b:1::/48``) and site-local addresses are always refused.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id only adds a scope
    if isinstance(ip, ipaddress.IPv6Address):
        embedded, form = None, ""
        if ip.ipv4_mapped is not None:
            embedded, form = ip.ipv4_mapped, "IPv4-mapped"
        elif ip in _NAT64:
            embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        elif ip.sixtofour is not None:
            embedded, form = ip.sixtofour, "6to4"
        if embedded is not None:
            inner = address_refusal(str(embedded))
            return f"the {form} form of {embedded}, {inner}" if inner else None
        if int(ip) > 1:  # :: and ::1 get the general wording below
            for network, what in _REFUSED_V6:
                if ip in network:
                    return what
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if not ip.is_global:
        return "a private or reserved address"
    return None


@dataclass(frozen=True)
class ResolvedURL:
    """A URL with the addresses its host resolved to when it was checked.

    Connect to these addresses (see :func:`pinned_stream`), never to a fresh lookup of
    the name: the answer could differ the second time.
    """

    url: httpx.URL
    addresses: tuple[str, ...]


def _parse(url: str, settings: Settings, field: str) -> httpx.URL:
    allowed_schemes = ("https", "http") if settings.allow_private_urls else ("https",)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in allowed_schemes or not parsed.raw_host:
        raise invalid_input(f"{field} must be an https:// URL or an artifact id", field=field)
    return parsed


async def resolve_url(url: str, settings: Settings, *, field: str = "url") -> ResolvedURL:
    """Resolve the URL's host once and check every address of the answer.

    Raises ``INVALID_INPUT`` for a URL that is not https (or http when private URLs are
    allowed) or whose host does not resolve, and ``URL_NOT_ALLOWED`` when any resolved
    address is not public (see :func:`address_refusal`), unless private URLs are allowed.
    The host is looked up in the form the HTTP client sends (IDNA), IP literals included,
    so odd spellings such as ``2130706433`` are judged by the address they mean.
    """
    parsed = _parse(url, settings, field)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            timeout=_RESOLVE_TIMEOUT_SECONDS,
        )
    except (TimeoutError, OSError, UnicodeError) as exc:
        raise invalid_input(f"{field}: cannot resolve host {parsed.host!r}: {exc}", field=field) from None
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and str(sockaddr[0]) not in addresses:
            addresses.append(str(sockaddr[0]))  # (host, port) or (host, port, flow, scope)
    if not addresses:
        raise invalid_input(f"{field}: cannot resolve host {parsed.host!r}: no IP address", field=field)
    if not settings.allow_private_urls:
        for address in addresses:
            if refusal := address_refusal(address):
                raise MediaTasksError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "URL_NOT_ALLOWED",
                    f"{field}: {parsed.host} resolves to {address}, {refusal}",
                    metadata={"field": field},
                )
    return ResolvedURL(parsed, tuple(addresses))


async def check_url(url: str, settings: Settings, *, field: str = "url") -> None:
    """Refuse a URL that is not https (or http when private URLs are allowed) or that
    resolves to a non-public address (:func:`resolve_url` without keeping the answer).

    With private URLs allowed only the scheme is checked, and the host is not looked up.
    """
    _parse(url, settings, field)
    if not settings.allow_private_urls:
        await resolve_url(url, settings, field=field)


def fetch_client(timeout: httpx.Timeout, *, verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """An HTTP client for :func:`pinned_stream`.

    It ignores the environment (``trust_env=False``: no ``HTTP(S)_PROXY``/``ALL_PROXY``, a
    proxy would resolve the name itself; no ``.netrc`` credentials, no ``SSL_CERT_FILE``),
    follows no redirects (each hop must be checked first) and keeps no idle connections,
    so a TLS connection verified for one hostname is never reused for another name on the
    same address. ``verify``: the CA certificates to trust (default: certifi's bundle).
    """
    return httpx.AsyncClient(
        timeout=timeout,
        verify=verify if verify is not None else True,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


@asynccontextmanager
async def pinned_stream(
    client: httpx.AsyncClient,
    method: str,
    target: ResolvedURL,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> AsyncIterator[httpx.Response]:
    """Send one request to an address of ``target`` and yield the streamed response.

    The request goes to the IP address itself, with the URL's ``Host`` header and, for
    https, the hostname as TLS SNI and as the name the certificate must match. Addresses
    are tried in the order of the answer while the connection cannot be made; the
    response is closed when the block ends. ``client`` should come from
    :func:`fetch_client`.
    """
    host = target.url.raw_host.decode("ascii")
    extensions: dict[str, str] = {}
    if target.url.scheme == "https":
        extensions["sni_hostname"] = host
    last_error: httpx.TransportError | None = None
    for address in target.addresses:
        request = client.build_request(
            method,
            target.url.copy_with(host=address),
            headers=headers,
            content=content,
            extensions=extensions,
        )
        request.headers["Host"] = target.url.netloc.decode("ascii")
        try:
            response = await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.info("connecting to %s for %s failed: %s", address, host, exc)
            last_error = exc
            continue
        try:
            yield response
        finally:
            await response.aclose()
        return
    assert last_error is not None  # ResolvedURL always holds at least one address
    raise last_error


# Text that makes a demuxer open other files or URLs. ffmpeg probes the bytes, not the
# name, and its probes read C strings, so only the text before the first NUL byte counts.
_SNIFF_LIMIT_BYTES = 5 * 1024 * 1024  # ffmpeg's default probesize
_PREFIX_FORMATS = (
    (b"#extm3u", "an HLS/M3U playlist"),
    (b"ffconcat", "an ffmpeg concat list"),
)
# (every marker present, anywhere) -> what: a little broader than ffmpeg's own probes
_CONTAINED_FORMATS = (
    ((b"<mpd", b"urn:mpeg:dash"), "a DASH manifest (MPD)"),
    ((b"<mpd", b"dash:profile"), "a DASH manifest (MPD)"),
    ((b"<compositionplaylist",), "an IMF composition playlist"),
)


def reference_format(path: Path) -> str | None:
    """What kind of playlist or manifest ``path`` is, or None for anything else.

    Recognises HLS/M3U playlists, ffmpeg concat lists, DASH and IMF manifests and SDP
    session descriptions, from content (the file name plays no part): formats whose
    entries make ffmpeg open other files, devices or URLs.
    """
    text = b""
    with path.open("rb") as source:
        while len(text) < _SNIFF_LIMIT_BYTES:
            chunk = source.read(65536)
            if not chunk:
                break
            end = chunk.find(b"\0")
            if end >= 0:
                text += chunk[:end]
                break
            text += chunk
    text = text[:_SNIFF_LIMIT_BYTES].lower()
    start = text.removeprefix(b"\xef\xbb\xbf").lstrip()
    for prefix, what in _PREFIX_FORMATS:
        if start.startswith(prefix):
            return what
    for markers, what in _CONTAINED_FORMATS:
        if all(marker in text for marker in markers):
            return what
    if any(line.lstrip().startswith(b"c=in ip") for line in text.splitlines()):
        return "an SDP session description"
    return None


def refuse_reference_formats(path: Path, *, name: str | None = None) -> None:
    """Raise ``UNSUPPORTED_MEDIA`` if ``path`` is a playlist or manifest (see
    :func:`reference_format`): such a file would make ffmpeg read other files or URLs."""
    if what := reference_format(path):
        raise unsupported_media(
            f"{name or path.name} is {what}; playlists, concat lists and manifests that "
            "refer to other files or URLs are not accepted as media"
        )


async def validate_ref(ref: str, settings: Settings, artifacts: ArtifactStore, owner: str, *, field: str) -> int:
    """Submit-time check of one input reference (URL safety, or the artifact exists);
    the artifact's size, 0 for a URL (not known before the fetch)."""
    if not ref:
        raise invalid_input(f"{field} is required", field=field)
    if looks_like_artifact_id(ref):
        return int((await artifacts.get_info(ref, owner=owner)).size_bytes)
    await check_url(ref, settings, field=field)
    return 0


async def fetch_to(
    ref: str, dest: Path, settings: Settings, artifacts: ArtifactStore, owner: str, *, limit: int | None = None
) -> Path:
    """Materialise an input reference as a local file at ``dest``.

    URLs are fetched hop by hop through :func:`resolve_url` and :func:`pinned_stream`.
    A playlist or manifest (see :func:`reference_format`) fails with ``UNSUPPORTED_MEDIA``,
    whether it was fetched or uploaded.
    """
    if looks_like_artifact_id(ref):
        await artifacts.download_to(ref, dest, owner=owner, limit=limit)
    else:
        await _download(ref, dest, settings, limit)
    await asyncio.to_thread(refuse_reference_formats, dest)
    return dest


async def _download(ref: str, dest: Path, settings: Settings, budget: int | None = None) -> None:
    url = ref
    limit = settings.max_fetch_bytes if budget is None else min(budget, settings.max_fetch_bytes)
    timeout = httpx.Timeout(settings.fetch_timeout_seconds, connect=10.0)
    async with fetch_client(timeout) as client:
        for _hop in range(_MAX_REDIRECTS + 1):
            target = await resolve_url(url, settings)
            try:
                async with asyncio.timeout(settings.fetch_timeout_seconds):
                    async with pinned_stream(client, "GET", target) as response:
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
                        return
            except TimeoutError:
                raise transient(
                    "FETCH_TIMEOUT", f"GET {url} took longer than {settings.fetch_timeout_seconds}s"
                ) from None
            except httpx.HTTPError as exc:
                raise transient("FETCH_FAILED", f"GET {url} failed: {exc}") from None
    raise invalid_input(f"{ref}: more than {_MAX_REDIRECTS} redirects")
