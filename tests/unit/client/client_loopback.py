"""A small HTTP server on loopback for the client's wire-level tests: each test gives the
handler functions it needs (``do_OPTIONS``...), and the server records every request."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def serve(routes: dict[str, Handler]) -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """``routes`` maps an HTTP method to its handler; yields the base URL and the request log."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            return

        def _dispatch(self) -> None:
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            handler = routes.get(self.command)
            if handler is None:
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            handler(self)

        do_GET = do_POST = do_PATCH = do_HEAD = do_OPTIONS = do_DELETE = _dispatch  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body and handler.command != "HEAD":
        handler.wfile.write(body)
