"""Hostile requests to every REST route through the real Envoy: never a 5xx, and every 4xx
carries the JSON ``google.rpc.Status`` body (code, message, an ErrorInfo reason).

The inputs are generated from a fixed seed (so a failure reproduces): garbage and deeply
nested bodies, malformed ids and paths (NUL bytes, wildcards, very long), hostile query
values and headers. Raw sockets send what HTTP clients refuse to (a NUL in the path).
"""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.parse

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROUTES = [
    ("DELETE", "/api/v1/media/tasks/{id}"),
    ("GET", "/api/v1/media/artifacts/{id}"),
    ("GET", "/api/v1/media/dead-letters"),
    ("GET", "/api/v1/media/providers"),
    ("GET", "/api/v1/media/statistics"),
    ("GET", "/api/v1/media/tasks"),
    ("GET", "/api/v1/media/tasks/{id}"),
    ("GET", "/api/v1/media/tasks/{id}/logs"),
    ("GET", "/api/v1/media/tasks/{id}/result"),
    ("GET", "/api/v1/media/tasks/{id}/wait"),
    ("GET", "/api/v1/media/tasks/{id}/webhooks"),
    ("POST", "/api/v1/media/audio/transcribe"),
    ("POST", "/api/v1/media/batch"),
    ("POST", "/api/v1/media/dead-letters/{id}/requeue"),
    ("POST", "/api/v1/media/images/generate"),
    ("POST", "/api/v1/media/images/transform"),
    ("POST", "/api/v1/media/subtitles/generate"),
    ("POST", "/api/v1/media/tasks/{id}/cancel"),
    ("POST", "/api/v1/media/tasks/{id}/retry"),
    ("POST", "/api/v1/media/uploads"),
    ("POST", "/api/v1/media/videos/add-audio"),
    ("POST", "/api/v1/media/videos/analyze"),
    ("POST", "/api/v1/media/videos/caption"),
    ("POST", "/api/v1/media/videos/generate"),
    ("POST", "/api/v1/media/videos/img2vid"),
    ("POST", "/api/v1/media/webhooks/{id}/redeliver"),
]

HOSTILE_IDS = [
    "not-a-uuid",
    "*",
    ">",
    "a.b.c",
    "..",
    "%2e%2e",
    "%00",
    "x" * 3000,
    "00000000-0000-0000-0000-000000000000",
    "ÿþ",
    "%F0%9F%92%A9",
    "1; DROP TABLE tasks",
    "%20",
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def hostile_bodies(rng: random.Random) -> list[bytes]:
    return [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b"\x00\x01\x02\xff",
        bytes(rng.getrandbits(8) for _ in range(256)),
        nested(5000).encode(),
        ('{"text": ' + nested(2000) + "}").encode(),
        ('{"a":' * 3000 + "1" + "}" * 3000).encode(),
        b'{"text": "\xff\xfe"}',
        b'{"text": "ok\\u0000"}',
        b'{"priority": 1e999, "max_attempts": 99999999999999999999}',
        b'{"text": 12, "format": ["srt"], "metadata": "nope"}',
        b'{"tasks": [' + b",".join([b'{"task_type": "x"}'] * 200) + b"]}",
        b'{"unknown_field": true}',
        json.dumps({"text": "a" * 200_000}).encode(),
        json.dumps(
            {"video_url": "http://169.254.169.254/latest/meta-data", "subtitle_url": "file:///etc/passwd"}
        ).encode(),
    ]


HOSTILE_QUERIES = [
    "limit=-1",
    "limit=99999999999999999999",
    "offset=-5",
    "page_token=%ff%fe",
    "page_token=" + "A" * 5000,
    "sort=%00",
    "status=NOPE",
    "task_type=../../etc",
    "timeout_seconds=-1",
    "timeout_seconds=1e308",
    "window_seconds=nan",
    "limit=1&limit=2",
]

HOSTILE_HEADERS = [
    {"content-type": "application/x-garbage"},
    {"x-api-key": "\u00ff" * 10},
    {"x-api-key": "k" * 10000},
    {"authorization": "Bearer not.a.jwt"},
    {"prefer": "wait=abc"},
    {"prefer": "wait=999999999"},
    {"idempotency-key": "i" * 5000},
    {"x-filename": "../../../etc/passwd\x7f"},
]


def assert_status_json(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(
                f"{what} -> {response.status_code} without a JSON body: {response.text[:200]!r}"
            ) from None
        assert isinstance(body, dict) and isinstance(body.get("code"), int) and "message" in body, (what, body)
        reasons = [d.get("reason") for d in body.get("details", []) if isinstance(d, dict)]
        assert any(reasons), f"{what} -> no ErrorInfo reason: {body}"


class PacedClient(httpx.Client):
    """The gateway limits each credential's request rate (429, itself a JSON error):
    a fuzz run is many requests, so on a 429 it checks the body, waits and sends again."""

    def request(self, *args, **kwargs):  # type: ignore[override]
        for _ in range(20):
            response = super().request(*args, **kwargs)
            if response.status_code != 429:
                return response
            assert_status_json(response, "rate limited")
            time.sleep(1.0)
        return response


@pytest.fixture(scope="module")
def client(stack):
    key = stack.create_api_key(f"fuzz-{random.randrange(1 << 30)}")
    with PacedClient(base_url=stack.http_url, headers={"X-API-Key": key}, timeout=60.0) as c:
        yield c


def test_hostile_bodies_to_every_route(client) -> None:
    rng = random.Random(20261201)
    for method, template in ROUTES:
        path = template.replace("{id}", "00000000-0000-4000-8000-000000000000")
        for body in hostile_bodies(rng) if method == "POST" else [b""]:
            response = client.request(method, path, content=body, headers={"content-type": "application/json"})
            assert_status_json(response, f"{method} {path} body={body[:40]!r}")


def test_hostile_ids_in_every_path(client) -> None:
    for method, template in ROUTES:
        if "{id}" not in template:
            continue
        for hostile in HOSTILE_IDS:
            path = template.replace("{id}", urllib.parse.quote(hostile, safe="%"))
            response = client.request(method, path, content=b"{}" if method == "POST" else None)
            assert_status_json(response, f"{method} {path[:120]}")
            assert response.status_code in (400, 404, 405), (method, path[:120], response.status_code)


def test_hostile_queries_and_headers(client) -> None:
    gets = [(m, t) for m, t in ROUTES if m == "GET"]
    for method, template in gets:
        path = template.replace("{id}", "00000000-0000-4000-8000-000000000000")
        for query in HOSTILE_QUERIES:
            assert_status_json(client.request(method, f"{path}?{query}"), f"{method} {path}?{query[:60]}")
    for headers in HOSTILE_HEADERS:
        for method, path in (("POST", "/api/v1/media/subtitles/generate"), ("GET", "/api/v1/media/tasks")):
            try:
                response = client.request(method, path, content=b'{"text": "Hi."}', headers=headers)
            except (httpx.LocalProtocolError, UnicodeEncodeError):
                continue  # the client itself refuses to send such a header
            assert_status_json(response, f"{method} {path} {list(headers)}")


def test_unknown_routes_and_methods_answer_json(client) -> None:
    for method, path in [
        ("GET", "/"),
        ("GET", "/api/v1/media/nope"),
        ("PUT", "/api/v1/media/tasks"),
        ("PATCH", "/api/v1/media/tasks/00000000-0000-4000-8000-000000000000"),
        ("GET", "/api/v2/media/tasks"),
    ]:
        assert_status_json(client.request(method, path), f"{method} {path}")


def raw_request(host: str, port: int, head: bytes) -> tuple[int, bytes]:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < 12:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head_part, _, body = data.partition(b"\r\n\r\n")
        status = int(head_part.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head_part.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        while length is not None and len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body


@pytest.mark.parametrize(
    "head",
    [
        b"GET /api/v1/media/tasks/\x00abc HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/media/tasks/a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/media/tasks HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 100_000 + b"\r\n\r\n",
        b"POST /api/v1/media/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"BREW /api/v1/media/tasks HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["nul-in-path", "space-in-path", "huge-header", "negative-length", "unknown-method"],
)
def test_what_http_clients_refuse_to_send(stack, head: bytes) -> None:
    host, port = urllib.parse.urlsplit(stack.http_url).hostname, urllib.parse.urlsplit(stack.http_url).port
    assert host and port
    status, body = raw_request(host, port, head)
    assert 400 <= status < 500, (status, body[:200])
    parsed = json.loads(body)
    assert isinstance(parsed["code"], int) and parsed["message"], parsed
