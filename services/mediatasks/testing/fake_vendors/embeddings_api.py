"""A loopback OpenAI-compatible embeddings API (``POST /v1/embeddings``), as OpenAI and
OpenRouter serve it: float or base64 (``encoding_format``) vectors, usage, OpenAI's
error bodies. Vectors are deterministic (from a hash of the text), so a test can check
that every chunk got its own."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from mediatasks.testing.fake_vendors._faults import Fault
from mediatasks.testing.fake_vendors._http import FakeHTTPVendor, Request, Response


def fake_vector(text: str, dimensions: int) -> list[float]:
    """The vector the fake gives ``text``: unit-free values in [-1, 1] from its SHA-256."""
    digest = b""
    counter = 0
    while len(digest) < dimensions:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return [round(byte / 127.5 - 1.0, 6) for byte in digest[:dimensions]]


class FakeEmbeddings(FakeHTTPVendor):
    """Point the ``openai`` SDK (or MEDIATASKS_EMBEDDINGS_*) at :attr:`base_url`."""

    name = "embeddings"

    def __init__(self, *, api_key: str = "sk-fake-embeddings", dimensions: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.dimensions = dimensions
        self.route("POST", r"/v1/embeddings", "embeddings", self._embeddings)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def env(self) -> dict[str, str]:
        return {"MEDIATASKS_EMBEDDINGS_API_KEY": self.api_key, "MEDIATASKS_EMBEDDINGS_BASE_URL": self.base_url}

    def check_auth(self, request: Request) -> Response | None:
        if request.header("authorization") == f"Bearer {self.api_key}":
            return None
        return self.error_response(Fault(None, 401, "invalid_api_key", "Incorrect API key provided."), request)

    def error_response(self, fault: Fault, request: Request | None) -> Response:
        body = {
            "error": {
                "message": fault.message or f"HTTP {fault.status}",
                "type": "invalid_request_error" if fault.status < 500 else "server_error",
                "param": None,
                "code": fault.code,
            }
        }
        return Response.json(body, fault.status)

    def _embeddings(self, request: Request) -> Response:
        body = request.json()
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.error_response(Fault(None, 400, None, "input must be a string or a list of strings"), request)
        dimensions = int(body.get("dimensions") or self.dimensions)
        data = []
        for index, text in enumerate(texts):
            vector = fake_vector(text, dimensions)
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(text.split()) for text in texts)
        return Response.json(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
