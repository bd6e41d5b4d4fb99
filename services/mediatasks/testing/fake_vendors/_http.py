"""A small threaded HTTP/1.1 server for the HTTP fakes (stdlib only).

Each fake declares routes (method, path regex, name, handler); the server records every
call, applies scripted faults (error answers in the vendor's format, hangs that notice a
client hanging up), and otherwise calls the handler. Threads, not asyncio, so the fakes
serve blocking SDKs and async ones alike, from any event loop or none.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from mediatasks.testing.fake_vendors._faults import Fault, RecordedCall, ScriptedFake

log = logging.getLogger(__name__)
_ZEROS = memoryview(bytes(1024 * 1024))


@dataclass
class FormPart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str]
    base_url: str
    _form: dict[str, list[FormPart]] | None = field(default=None, repr=False)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body)

    def form(self) -> dict[str, list[FormPart]]:
        """multipart/form-data parts by field name (``name[]`` is stored as ``name``)."""
        if self._form is None:
            self._form = parse_multipart(self.header("content-type"), self.body)
        return self._form

    def field(self, name: str, default: str = "") -> str:
        parts = self.form().get(name)
        return parts[0].text if parts else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Zero bytes sent after the body, a chunk at a time from one buffer: a download of
    # gigabytes that costs the fake no memory.
    zero_tail: int = 0

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))


Handler = Callable[[Request], Response]


def parse_multipart(content_type: str, body: bytes) -> dict[str, list[FormPart]]:
    if "multipart/form-data" not in content_type:
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts: dict[str, list[FormPart]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        name = str(name).removesuffix("[]")
        payload = part.get_payload(decode=True)  # bytes, or None for a nested multipart part
        data = payload if isinstance(payload, bytes) else b""
        parts.setdefault(name, []).append(FormPart(name, data, part.get_filename(), part.get_content_type()))
    return parts


class FakeHTTPVendor(ScriptedFake):
    """Base of the HTTP fakes: routing, recording, faults, lifecycle."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self._address = (host, port)
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- setup ----------------------------------------------------------------------------

    def route(self, method: str, pattern: str, name: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), name, handler))

    def start(self) -> Self:
        vendor = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60  # idle keep-alive connections are closed after this

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                vendor._dispatch(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s: " + format, vendor.name, *args)

        server = ThreadingHTTPServer(self._address, _Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name=self.name
        )
        self._thread.start()
        log.info("fake %s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        self.script.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"fake {self.name} is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    def env(self) -> dict[str, str]:
        """``MEDIATASKS_*`` variables that point the project's settings at this fake."""
        raise NotImplementedError

    # -- vendor specifics (overridden) ------------------------------------------------------

    def error_response(self, fault: Fault, request: Request | None) -> Response:
        """A scripted error, in the vendor's format."""
        raise NotImplementedError

    def check_auth(self, request: Request) -> Response | None:
        """An error answer when the request's credentials are wrong, else ``None``."""
        return None

    # -- serving ------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            body = _read_body(handler)
        except (OSError, ValueError) as error:
            log.debug("%s: bad request body: %s", self.name, error)
            handler.close_connection = True
            return
        split = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        found = next(
            (
                (name, function, match)
                for method, pattern, name, function in self._routes
                if method == handler.command and (match := pattern.fullmatch(split.path))
            ),
            None,
        )
        if found is None:
            self._send(
                handler,
                self.error_response(Fault(None, 404, "not_found", f"no route {handler.command} {split.path}"), None),
            )
            return
        name, function, match = found
        request = Request(
            method=handler.command,
            path=split.path,
            query=parse_qs(split.query),
            headers=headers,
            body=body,
            match=match,
            base_url=self.url,
        )
        self.script.record(_recorded(name, request))
        fault = self.script.take(name)
        if fault is not None and fault.hang_seconds > 0:
            if self._hang(handler.connection, fault.hang_seconds):
                self.script.record_abort(name)
                handler.close_connection = True
                return
        response: Response | None
        if fault is not None and fault.status:
            response = self.error_response(fault, request)
        else:
            response = self.check_auth(request)
            if response is None:
                try:
                    response = function(request)
                except Exception as error:  # a fake bug must show up, not hang the SDK
                    log.exception("%s: handler %s failed", self.name, name)
                    response = self.error_response(Fault(name, 500, "internal", str(error)), request)
        self._send(handler, response)

    def _hang(self, connection: socket.socket, seconds: float) -> bool:
        """Wait; True when the client hung up meanwhile (its call was cancelled)."""
        ends = time.monotonic() + seconds
        generation = self.script.generation
        while time.monotonic() < ends:
            time.sleep(0.02)
            if self.script.hang_ended(generation):
                return False
            try:
                readable, _, _ = select.select([connection], [], [], 0)
                if readable and not connection.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                return True
        return False

    def _send(self, handler: BaseHTTPRequestHandler, response: Response) -> None:
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(response.body) + response.zero_tail))
            for key, value in response.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(response.body)
            left = response.zero_tail
            while left > 0:
                handler.wfile.write(_ZEROS[: min(left, len(_ZEROS))])
                left -= len(_ZEROS)
            handler.wfile.flush()
        except OSError as error:
            log.debug("%s: client went away: %s", self.name, error)
            handler.close_connection = True


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = handler.rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _recorded(route: str, request: Request) -> RecordedCall:
    payload: object | None = None
    fields: dict[str, str] = {}
    content_type = request.header("content-type")
    if "json" in content_type and request.body:
        try:
            payload = request.json()
        except ValueError:
            payload = None
    elif "multipart/form-data" in content_type:
        for name, parts in request.form().items():
            fields[name] = ",".join(part.filename or part.text[:200] for part in parts)
    return RecordedCall(
        route=route,
        method=request.method,
        path=request.path,
        headers=dict(request.headers),
        json=payload,
        fields=fields,
        body_bytes=len(request.body),
    )
