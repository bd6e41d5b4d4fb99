"""Remote fetches connect to the address that was checked (no DNS rebinding), ignore
proxy variables, keep the hostname for Host, SNI and the certificate, and refuse
playlists.

Real HTTP(S) servers listen on loopback (127.0.0.1 and 127.0.0.2, same port), and the
resolver is patched at the socket layer (``socket.getaddrinfo``, which asyncio's and
anyio's lookups call) to give scripted answers for ``*.test`` names: the first answer
differs from the later ones, as a DNS server with TTL 0 can arrange. Nothing leaves the
machine: addresses that are public are only ever resolved, never connected to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.inputs import check_url, fetch_client, fetch_to, pinned_stream, resolve_url
from mediatasks.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

PUBLIC = "93.184.215.14"  # a public address; tests only resolve it, never connect to it


# ----------------------------------------------------------------- loopback servers


@dataclass
class Seen:
    """One request a test server received."""

    target: str
    host: str
    sni: str | None


@dataclass
class Server:
    """A tiny HTTP/1.1 server: ``routes`` maps a path to (status, headers, body)."""

    address: str
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    tls: ssl.SSLContext | None = None
    _server: asyncio.Server | None = None
    _sni: list[str | None] = field(default_factory=list)

    async def start(self, port: int = 0) -> Server:
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self._sni.append(name)  # type: ignore[assignment]
        self._server = await asyncio.start_server(self._handle, self.address, port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        self.seen.append(Seen(target, headers.get("host", ""), self._sni[-1] if self._sni else None))
        path = httpx.URL(target).path if "://" in target else target.split("?")[0]
        status, extra, body = self.routes.get(path, (404, {}, b"not here"))
        out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        out += [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()


async def server_pair(tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None) -> tuple[Server, Server]:
    """Servers on 127.0.0.1 and 127.0.0.2 with the same port (so one URL fits both)."""
    for _ in range(20):
        first = await Server("127.0.0.1", tls=tls[0] if tls else None).start()
        try:
            second = await Server("127.0.0.2", tls=tls[1] if tls else None).start(first.port)
        except OSError:  # that port is taken on 127.0.0.2: try another
            await first.stop()
            continue
        return first, second
    raise AssertionError("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Server, Server]]:
    """``checked`` (127.0.0.1, the address the first lookup gives) and ``rebound``
    (127.0.0.2, the one every later lookup gives)."""
    checked, rebound = await server_pair()
    checked.routes["/clip.bin"] = (200, {}, b"the checked server")
    rebound.routes["/clip.bin"] = (200, {}, b"the rebound server")
    yield checked, rebound
    await checked.stop()
    await rebound.stop()


# ------------------------------------------------------------------ the resolver


class ScriptedResolver:
    """``socket.getaddrinfo`` with scripted answers: each name gives its answers in turn,
    the last one forever. Other names go to the real resolver."""

    def __init__(self, real: Callable[..., list]) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: dict[str, int] = defaultdict(int)

    def script(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        self.lookups[name] += 1
        queue = self.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        infos = []
        for address in addresses:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0))))
        return infos


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> ScriptedResolver:
    scripted = ScriptedResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", scripted)
    return scripted


# ------------------------------------------------------------------ settings, store


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url, connect_timeout=5)
    yield nc.jetstream(timeout=10)
    await nc.close()


def make_settings(nats_url: str, *, allow_private: bool) -> Settings:
    return Settings(
        nats_url=nats_url,
        allow_private_urls=allow_private,
        fetch_timeout_seconds=10,
        artifact_bucket="test-fetch-pinning",
    )


@pytest.fixture(scope="module")
async def store(js, nats_url) -> AsyncIterator[ArtifactStore]:
    yield ArtifactStore(js, make_settings(nats_url, allow_private=False))
    await js.delete_object_store("test-fetch-pinning")


@pytest.fixture
def loopback_ok(nats_url) -> Settings:
    """Private URLs allowed (dev and tests): the only way to fetch from loopback at all."""
    return make_settings(nats_url, allow_private=True)


@pytest.fixture
def strict(nats_url) -> Settings:
    return make_settings(nats_url, allow_private=False)


# ---------------------------------------------------------------------- pinning


async def test_the_connection_goes_to_the_address_that_was_checked(
    servers, resolver, loopback_ok, store, tmp_path: Path
) -> None:
    checked, rebound = servers
    resolver.script("media.test", ["127.0.0.1"], ["127.0.0.2"])
    url = f"http://media.test:{checked.port}/clip.bin"

    path = await fetch_to(url, tmp_path / "clip", loopback_ok, store, "alice")

    assert path.read_bytes() == b"the checked server"
    assert rebound.seen == []
    assert resolver.lookups["media.test"] == 1  # the HTTP client never looked the name up again
    assert checked.seen[0].host == f"media.test:{checked.port}"
    # The scenario is real: a client that resolves by itself lands on the rebound server.
    async with httpx.AsyncClient(trust_env=False) as plain:
        assert (await plain.get(url)).content == b"the rebound server"


async def test_every_redirect_hop_is_resolved_once_and_pinned(
    servers, resolver, loopback_ok, store, tmp_path: Path
) -> None:
    checked, rebound = servers
    checked.routes["/start"] = (302, {"Location": f"http://cdn.test:{checked.port}/clip.bin"}, b"")
    rebound.routes["/start"] = (302, {"Location": f"http://cdn.test:{checked.port}/clip.bin"}, b"")
    resolver.script("media.test", ["127.0.0.1"], ["127.0.0.2"])
    resolver.script("cdn.test", ["127.0.0.1"], ["127.0.0.2"])

    path = await fetch_to(f"http://media.test:{checked.port}/start", tmp_path / "clip", loopback_ok, store, "bob")

    assert path.read_bytes() == b"the checked server"
    assert rebound.seen == []
    assert [seen.host for seen in checked.seen] == [f"media.test:{checked.port}", f"cdn.test:{checked.port}"]
    assert dict(resolver.lookups) == {"media.test": 1, "cdn.test": 1}


async def test_an_answer_that_turns_private_after_the_submit_check_is_refused_at_fetch(
    servers, resolver, strict, store, tmp_path: Path
) -> None:
    checked, rebound = servers
    resolver.script("rebind.test", [PUBLIC], ["127.0.0.1"])
    url = f"https://rebind.test:{checked.port}/clip.bin"

    await check_url(url, strict, field="video_url")  # submit time: the name looks public
    with pytest.raises(MediaTasksError) as refused:
        await fetch_to(url, tmp_path / "clip", strict, store, "carol")

    assert refused.value.reason == "URL_NOT_ALLOWED"
    assert "127.0.0.1" in refused.value.message
    assert checked.seen == [] and rebound.seen == []
    assert not (tmp_path / "clip").exists()


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ([PUBLIC, "10.0.0.5"], "10.0.0.5"),  # every address must be public, not just the first
        (["64:ff9b::a9fe:a9fe"], "169.254.169.254"),  # DNS64 answer for the metadata service
        (["2002:7f00:1::1"], "127.0.0.1"),  # 6to4 wrapping loopback
        (["::ffff:127.0.0.1"], "127.0.0.1"),  # IPv4-mapped loopback
        (["::7f00:1"], "IPv4-compatible"),
    ],
)
async def test_answers_with_a_non_public_address_are_refused(resolver, strict, answer, named) -> None:
    resolver.script("mixed.test", answer)
    with pytest.raises(MediaTasksError) as refused:
        await check_url("https://mixed.test/clip.mp4", strict, field="video_url")
    assert refused.value.reason == "URL_NOT_ALLOWED"
    assert named in refused.value.message
    assert refused.value.metadata == {"field": "video_url"}


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(
    servers, resolver, loopback_ok, store, tmp_path: Path
) -> None:
    checked, rebound = servers
    # Nothing listens on 127.0.0.3: connecting there is refused at once.
    resolver.script("media.test", ["127.0.0.3", "127.0.0.1"], ["127.0.0.2"])

    path = await fetch_to(f"http://media.test:{checked.port}/clip.bin", tmp_path / "clip", loopback_ok, store, "dan")

    assert path.read_bytes() == b"the checked server"
    assert resolver.lookups["media.test"] == 1
    assert rebound.seen == []


# ---------------------------------------------------------------------- proxies


async def test_proxy_variables_are_ignored(
    servers, resolver, loopback_ok, store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked, _ = servers
    proxy = await Server("127.0.0.1", routes={"/clip.bin": (200, {}, b"the proxy")}).start()
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        resolver.script("media.test", ["127.0.0.1"])
        url = f"http://media.test:{checked.port}/clip.bin"

        path = await fetch_to(url, tmp_path / "clip", loopback_ok, store, "erin")

        assert path.read_bytes() == b"the checked server"
        assert proxy.seen == []
        # The variables are live: a client that trusts the environment goes through the proxy.
        async with httpx.AsyncClient() as trusting:
            assert (await trusting.get(url)).content == b"the proxy"
        assert proxy.seen[0].target == url
    finally:
        await proxy.stop()


# -------------------------------------------------------------------------- TLS


@dataclass
class Pki:
    """A test certificate authority; ``client`` trusts it and nothing else."""

    ca_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    client: ssl.SSLContext

    def server(self, tmp_path: Path, hostname: str) -> ssl.SSLContext:
        """A server context with a certificate for ``hostname`` signed by the test CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]), self.ca_cert.subject, key)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        cert_file, key_file = tmp_path / f"{hostname}.pem", tmp_path / f"{hostname}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mediatasks test CA")])
    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Pki(cert, key, ssl.create_default_context(cafile=str(ca_file)))


async def fetch_pinned(url: str, settings: Settings, pki: Pki) -> bytes:
    target = await resolve_url(url, settings)
    async with fetch_client(httpx.Timeout(10), verify=pki.client) as client:
        async with pinned_stream(client, "GET", target) as response:
            return await response.aread()


async def test_https_keeps_the_hostname_for_sni_host_and_certificate(
    resolver, loopback_ok, pki: Pki, tmp_path: Path
) -> None:
    # Both servers hold a valid certificate for media.test: only the address tells them apart.
    checked, rebound = await server_pair(tls=(pki.server(tmp_path, "media.test"), pki.server(tmp_path, "media.test")))
    try:
        checked.routes["/clip.bin"] = (200, {}, b"over tls")
        resolver.script("media.test", ["127.0.0.1"], ["127.0.0.2"])

        body = await fetch_pinned(f"https://media.test:{checked.port}/clip.bin", loopback_ok, pki)

        assert body == b"over tls"
        assert checked.seen == [Seen("/clip.bin", f"media.test:{checked.port}", "media.test")]
        assert rebound.seen == []
        assert resolver.lookups["media.test"] == 1
    finally:
        await checked.stop()
        await rebound.stop()


async def test_https_certificate_is_verified_for_the_hostname_not_the_address(
    resolver, loopback_ok, pki: Pki, tmp_path: Path
) -> None:
    # The server at the pinned address holds a valid certificate, but for another name.
    server = await Server("127.0.0.1", tls=pki.server(tmp_path, "other.test")).start()
    try:
        server.routes["/clip.bin"] = (200, {}, b"must not be read")
        resolver.script("media.test", ["127.0.0.1"])
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await fetch_pinned(f"https://media.test:{server.port}/clip.bin", loopback_ok, pki)
        assert server.seen == []
    finally:
        await server.stop()


# ---------------------------------------------------------------------- playlists

HLS = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile 'input_audio'\n"


@pytest.mark.parametrize(("body", "named"), [(HLS, "HLS"), (CONCAT, "concat")])
async def test_a_fetched_playlist_fails_as_unsupported_media(
    servers, resolver, loopback_ok, store, tmp_path: Path, body: bytes, named: str
) -> None:
    checked, _ = servers
    checked.routes["/video.mp4"] = (200, {"Content-Type": "video/mp4"}, body)
    resolver.script("media.test", ["127.0.0.1"])
    with pytest.raises(MediaTasksError) as refused:
        await fetch_to(f"http://media.test:{checked.port}/video.mp4", tmp_path / "input_video", loopback_ok, store, "f")
    assert refused.value.reason == "UNSUPPORTED_MEDIA"
    assert named in refused.value.message and "input_video" in refused.value.message


async def test_an_uploaded_playlist_fails_as_unsupported_media(store, strict, tmp_path: Path) -> None:
    artifact = await store.put_bytes(HLS, content_type="video/mp4", filename="clip.mp4", owner="gina")
    with pytest.raises(MediaTasksError) as refused:
        await fetch_to(artifact.artifact_id, tmp_path / "input_video", strict, store, "gina")
    assert refused.value.reason == "UNSUPPORTED_MEDIA"
    assert "HLS" in refused.value.message
