"""Which addresses and URLs remote fetches refuse (no network: IP literals only)."""

from __future__ import annotations

import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.inputs import address_refusal, check_url, resolve_url
from mediatasks.core.settings import Settings

STRICT = Settings(allow_private_urls=False)
LOOPBACK_OK = Settings(allow_private_urls=True)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("0.0.0.0", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "private"),
        ("::1", "loopback"),
        ("::", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private"),
        ("2001::1", "private"),  # Teredo
        # IPv4-mapped
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, a link-local"),
        # NAT64 (RFC 6052 well-known prefix): judged by the embedded IPv4 address
        ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1, a loopback"),
        ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254, a link-local"),
        ("64:ff9b::10.0.0.1", "NAT64 form of 10.0.0.1, a private"),
        ("64:ff9b:1::808:808", "local-use NAT64"),
        # 6to4: the IPv4 address is bits 16-48
        ("2002:7f00:1::1", "6to4 form of 127.0.0.1, a loopback"),
        ("2002:a9fe:a9fe::1", "6to4 form of 169.254.169.254, a link-local"),
        ("2002:c0a8:101::", "6to4 form of 192.168.1.1, a private"),
        # IPv4-compatible (deprecated): never public
        ("::7f00:1", "IPv4-compatible"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("::808:808", "IPv4-compatible"),
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    refusal = address_refusal(address)
    assert refusal is not None
    assert why in refusal


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://[64:ff9b::7f00:1]/clip.mp4", "127.0.0.1"),
        ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data", "169.254.169.254"),
        ("https://[2002:7f00:1::1]/clip.mp4", "127.0.0.1"),
        ("https://[::7f00:1]/clip.mp4", "IPv4-compatible"),
        ("https://[::ffff:7f00:1]/clip.mp4", "127.0.0.1"),
        ("https://[::1]:8443/clip.mp4", "loopback"),
        ("https://2130706433/clip.mp4", "127.0.0.1"),  # 127.0.0.1 spelled as one number
        ("https://0x7f000001/clip.mp4", "127.0.0.1"),
        ("https://127.1/clip.mp4", "127.0.0.1"),
        ("https://169.254.169.254/latest", "link-local"),
    ],
)
async def test_urls_with_non_public_literals_are_refused(url: str, named: str) -> None:
    with pytest.raises(MediaTasksError) as refused:
        await check_url(url, STRICT, field="video_url")
    assert refused.value.reason == "URL_NOT_ALLOWED"
    assert named in refused.value.message
    assert refused.value.metadata == {"field": "video_url"}


@pytest.mark.parametrize(
    "url",
    ["http://93.184.215.14/clip.mp4", "file:///etc/passwd", "ftp://93.184.215.14/x", "https:///x", "gopher://x/", ""],
)
async def test_only_https_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(MediaTasksError) as refused:
        await check_url(url, STRICT, field="audio_url")
    assert refused.value.reason == "INVALID_INPUT"
    assert refused.value.metadata == {"field": "audio_url"}


async def test_allowing_private_urls_admits_http_and_loopback_but_no_other_scheme() -> None:
    await check_url("http://127.0.0.1:9/clip.mp4", LOOPBACK_OK)
    await check_url("https://[::1]/clip.mp4", LOOPBACK_OK)
    with pytest.raises(MediaTasksError) as refused:
        await check_url("file:///etc/passwd", LOOPBACK_OK)
    assert refused.value.reason == "INVALID_INPUT"


async def test_a_public_literal_resolves_to_itself() -> None:
    target = await resolve_url("https://[2606:4700:4700::1111]:8443/a.mp4?x=1", STRICT)
    assert target.addresses == ("2606:4700:4700::1111",)
    assert target.url.netloc == b"[2606:4700:4700::1111]:8443"
