"""One project error type, carried from any layer to the gRPC status it becomes.

Raise :class:`MediaTasksError` (or one of the helpers below) anywhere; the server
interceptor in :mod:`mediatasks.core.server` turns it into a gRPC status with one
``google.rpc.ErrorInfo`` (``domain: "mediatasks"``), and job handlers use
``retryable`` to decide between a retry with backoff and a permanent failure.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

DOMAIN = "mediatasks"


class MediaTasksError(Exception):
    """An error with a gRPC code, an UPPER_SNAKE reason and a human message.

    ``retryable`` tells the worker runtime whether a job that raised it may be tried
    again (transient: rate limits, timeouts, 5xx) or must fail at once (bad input,
    auth, unsupported media). ``http_status`` overrides Envoy's gRPC→HTTP mapping
    where the REST contract needs another status (410, 413, 503 SERVER_BUSY).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        *,
        retryable: bool = False,
        metadata: Mapping[str, str] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.metadata = dict(metadata or {})
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def invalid_input(message: str, **metadata: str) -> MediaTasksError:
    """Bad request content: never retried."""
    return MediaTasksError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", message, metadata=metadata)


def too_large(message: str, limit_bytes: int) -> MediaTasksError:
    """An input over a size limit: 413 over REST, INVALID_ARGUMENT over gRPC."""
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INPUT_TOO_LARGE",
        message,
        metadata={"limit_bytes": str(limit_bytes)},
        http_status=413,
    )


def unsupported_media(message: str) -> MediaTasksError:
    """Corrupt, truncated or unsupported media found while running a job: permanent."""
    return MediaTasksError(grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_MEDIA", message)


def transient(reason: str, message: str) -> MediaTasksError:
    """A failure worth retrying with backoff (rate limit, timeout, 5xx, network)."""
    return MediaTasksError(grpc.StatusCode.UNAVAILABLE, reason, message, retryable=True)


def not_found(reason: str, message: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.NOT_FOUND, reason, message)
