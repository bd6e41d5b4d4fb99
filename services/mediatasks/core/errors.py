"""One project error type, carried from any layer to the gRPC status it becomes.

Raise :class:`MediaTasksError` (or one of the helpers below) anywhere; the server
interceptor in :mod:`mediatasks.core.server` turns it into a gRPC status with one
``google.rpc.ErrorInfo`` (``domain: "mediatasks"``), and job handlers use
``retryable`` to decide between a retry with backoff and a permanent failure.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
import nats.errors
import nats.js.errors
import psycopg
import sqlalchemy.exc

DOMAIN = "mediatasks"
# FailTask reason of a worker that stops mid-job and hands the task back: the registry
# queues it again at once, using none of its attempt budget.
WORKER_SHUTDOWN = "WORKER_SHUTDOWN"

# The registry's answers a worker acts on: StartAttempt's refusal reasons (besides a
# terminal status's name) and the FAILED_PRECONDITION reasons of CompleteTask and FailTask.
UNKNOWN_TASK = "UNKNOWN_TASK"
CAPACITY = "CAPACITY"  # the type is at its global capacity: offered again shortly
ALREADY_RUNNING = "ALREADY_RUNNING"  # a duplicate job message while its attempt is alive
DEAD_LETTERED = "DEAD_LETTERED"  # the registry dead-lettered the task instead of starting it
STALE_ATTEMPT = "STALE_ATTEMPT"  # this attempt no longer owns the task
TASK_CANCELLED = "TASK_CANCELLED"
# CompleteTask's refusal of a quick job's completion that carried its start, when the start
# would have been refused (its ErrorInfo metadata "start_reason" has StartAttempt's reason).
START_REFUSED = "START_REFUSED"


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
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.metadata = dict(metadata or {})
        self.http_status = http_status
        # Sent as google.rpc.RetryInfo: how long a client should wait before trying again.
        self.retry_after_seconds = retry_after_seconds

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


# What a dependency that is down or restarting raises: the database (refused or dropped
# connections, an exhausted pool), NATS (no servers, a closed connection, a JetStream API
# that is recovering), and the network underneath. None of these says anything about
# the request: the same call is expected to work once the dependency is back.
_OUTAGES: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    ConnectionError,
    TimeoutError,
)
OUTAGE_RETRY_AFTER_SECONDS = 1.0


def dependency_outage(exc: BaseException) -> MediaTasksError | None:
    """``exc`` as the retryable UNAVAILABLE ``DEPENDENCY_UNAVAILABLE`` it is when it comes
    from a database or NATS outage (never INTERNAL, which no client retries); else None."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        pass  # a dropped connection surfacing as another DBAPI error class
    elif not isinstance(exc, _OUTAGES):
        return None
    which = "the database" if isinstance(exc, sqlalchemy.exc.SQLAlchemyError | psycopg.Error) else "a dependency"
    return MediaTasksError(
        grpc.StatusCode.UNAVAILABLE,
        "DEPENDENCY_UNAVAILABLE",
        f"{which} is unavailable for a moment ({type(exc).__name__}); try again",
        retryable=True,
        retry_after_seconds=OUTAGE_RETRY_AFTER_SECONDS,
    )
