"""Typed exceptions built from the ``google.rpc.ErrorInfo`` reason of an answer.

Every error the API gives carries a gRPC code, an UPPER_SNAKE reason and a message (the
REST body is the ``google.rpc.Status`` JSON Envoy writes; gRPC carries the same Status in
``grpc-status-details-bin``). The reason picks the most specific class; a reason this
client does not know falls back to the class of the code, so new server reasons still
land in the right family (``except NotFound`` keeps working).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# google.rpc.Code numbers (what the REST body's "code" holds) -> names.
CODE_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
# HTTP statuses -> the code they stand for, for answers without a Status body.
_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    410: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class ApiError(Exception):
    """An error answer of the mediatasks API.

    ``code`` is the gRPC status name (``NOT_FOUND``), ``reason`` the ErrorInfo reason
    (``TASK_NOT_FOUND``), ``http_status`` the REST status (None over gRPC),
    ``retry_after`` the seconds the server asked to wait (RetryInfo or Retry-After).
    """

    def __init__(
        self,
        code: str,
        reason: str,
        message: str,
        *,
        http_status: int | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.http_status = http_status
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later (outages, rate and capacity limits)."""
        return self.code in ("UNAVAILABLE", "RESOURCE_EXHAUSTED")

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{self.reason or self.code}: {self.message}{status}"


class InvalidInput(ApiError):
    """The request is wrong (INVALID_ARGUMENT); fix it, do not retry."""


class PayloadTooLarge(InvalidInput):
    """An upload or input over the server's size limit (HTTP 413)."""


class Unauthenticated(ApiError):
    """No valid API key or token."""


class PermissionDenied(ApiError):
    """The credential may not do this."""


class NotFound(ApiError):
    """No such task or artifact (or it belongs to another owner)."""


class TaskExpired(NotFound):
    """The task existed but its retention ended (HTTP 410)."""


class Conflict(ApiError):
    """ALREADY_EXISTS or ABORTED: the state does not allow it now."""


class IdempotencyKeyReused(Conflict):
    """The same Idempotency-Key was sent with a different request body."""


class FailedPrecondition(ApiError):
    """The call is valid but not in this state (retry of a running task, no provider configured)."""


class RateLimited(ApiError):
    """RESOURCE_EXHAUSTED (HTTP 429): too many requests or too many running tasks."""


class ConcurrencyLimit(RateLimited):
    """The owner already runs as many tasks as allowed; wait for one to finish."""


class Unavailable(ApiError):
    """A dependency or the service is down for a moment (HTTP 503); retried automatically."""


class ServerBusy(Unavailable):
    """The queue is over its bound (HTTP 503 SERVER_BUSY)."""


class TaskFailed(Exception):
    """Raised by a wait that asked for it when the task ended FAILED or CANCELLED."""

    def __init__(self, task: Any) -> None:
        error = getattr(task, "error", None)
        detail = f"{error.reason}: {error.message}" if error else task.status
        super().__init__(f"task {task.task_id} ended {task.status} ({detail})")
        self.task = task


class WaitTimeout(TimeoutError):
    """A wait ended before the task did; ``task`` is its last known state."""

    def __init__(self, task: Any, timeout: float) -> None:
        super().__init__(f"task {task.task_id} still {task.status} after {timeout:g}s")
        self.task = task


class TransferError(Exception):
    """An upload or download that did not arrive whole (checksum or length mismatch)."""


_BY_REASON: dict[str, type[ApiError]] = {
    "TASK_NOT_FOUND": NotFound,
    "ARTIFACT_NOT_FOUND": NotFound,
    "TASK_EXPIRED": TaskExpired,
    "INVALID_INPUT": InvalidInput,
    "INPUT_TOO_LARGE": PayloadTooLarge,
    "UNAUTHENTICATED": Unauthenticated,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReused,
    "CONCURRENCY_LIMIT": ConcurrencyLimit,
    "RATE_LIMITED": RateLimited,
    "SERVER_BUSY": ServerBusy,
    "DEPENDENCY_UNAVAILABLE": Unavailable,
    "PROVIDER_UNAVAILABLE": Unavailable,
    "UPSTREAM_UNAVAILABLE": Unavailable,
    "UPSTREAM_TIMEOUT": Unavailable,
}
_BY_CODE: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": InvalidInput,
    "OUT_OF_RANGE": InvalidInput,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": Conflict,
    "ABORTED": Conflict,
    "FAILED_PRECONDITION": FailedPrecondition,
    "RESOURCE_EXHAUSTED": RateLimited,
    "UNAVAILABLE": Unavailable,
}


def error_class(code: str, reason: str, http_status: int | None = None) -> type[ApiError]:
    """The most specific exception class for a code and reason."""
    if reason in _BY_REASON:
        return _BY_REASON[reason]
    if http_status == 410:
        return TaskExpired
    if http_status == 413:
        return PayloadTooLarge
    return _BY_CODE.get(code, ApiError)


def parse_duration(text: str) -> float | None:
    """A protobuf Duration in JSON (``"2.5s"``) as seconds."""
    if not text.endswith("s"):
        return None
    try:
        return float(text[:-1])
    except ValueError:
        return None


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is not sent by this API)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_status_json(
    body: Any, *, http_status: int | None = None, retry_after_header: str | None = None
) -> ApiError:
    """An exception from a ``google.rpc.Status`` JSON body (anything else still gives one)."""
    if not isinstance(body, dict):
        code = _HTTP_CODES.get(http_status or 0, "UNKNOWN")
        text = body if isinstance(body, str) and body else f"HTTP {http_status}"
        return error_class(code, "", http_status)(code, "", text[:500], http_status=http_status)
    number = body.get("code")
    code = (
        CODE_NAMES.get(number, "UNKNOWN") if isinstance(number, int) else _HTTP_CODES.get(http_status or 0, "UNKNOWN")
    )
    reason, metadata, retry_after = "", {}, parse_retry_after(retry_after_header)
    for detail in body.get("details") or ():
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _ERROR_INFO:
            reason = str(detail.get("reason", ""))
            metadata = {str(k): str(v) for k, v in (detail.get("metadata") or {}).items()}
        elif detail.get("@type") == _RETRY_INFO:
            delay = parse_duration(str(detail.get("retry_delay") or detail.get("retryDelay") or ""))
            if delay is not None:
                retry_after = delay
    message = str(body.get("message") or f"HTTP {http_status}")
    cls = error_class(code, reason, http_status)
    return cls(code, reason, message, http_status=http_status, metadata=metadata, retry_after=retry_after)
