"""Typed exceptions from the google.rpc.Status JSON the gateway writes."""

from __future__ import annotations

import pytest
from mediatasks.client import errors


def _status(code: int, reason: str, *extra: dict) -> dict:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "mediatasks"}
    return {"code": code, "message": f"{reason} happened", "details": [info, *extra]}


@pytest.mark.parametrize(
    ("http_status", "code", "reason", "cls"),
    [
        (404, 5, "TASK_NOT_FOUND", errors.NotFound),
        (410, 5, "TASK_EXPIRED", errors.TaskExpired),
        (400, 3, "INVALID_INPUT", errors.InvalidInput),
        (413, 3, "INPUT_TOO_LARGE", errors.PayloadTooLarge),
        (401, 16, "UNAUTHENTICATED", errors.Unauthenticated),
        (409, 6, "IDEMPOTENCY_KEY_REUSED", errors.IdempotencyKeyReused),
        (429, 8, "CONCURRENCY_LIMIT", errors.ConcurrencyLimit),
        (429, 8, "RATE_LIMITED", errors.RateLimited),
        (503, 14, "SERVER_BUSY", errors.ServerBusy),
        (503, 14, "DEPENDENCY_UNAVAILABLE", errors.Unavailable),
        (400, 9, "PROVIDER_NOT_CONFIGURED", errors.FailedPrecondition),
        # A reason this client has never heard of still lands in its code's family.
        (404, 5, "SOMETHING_NEW_NOT_FOUND", errors.NotFound),
        (500, 13, "INTERNAL", errors.ApiError),
    ],
)
def test_reason_then_code_picks_the_class(http_status, code, reason, cls) -> None:
    error = errors.error_from_status_json(_status(code, reason), http_status=http_status)
    assert type(error) is cls
    assert error.reason == reason and error.http_status == http_status
    assert error.code == errors.CODE_NAMES[code]


def test_retry_info_gives_the_wait_and_outranks_retry_after() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "2.500s"}
    error = errors.error_from_status_json(
        _status(8, "CONCURRENCY_LIMIT", retry), http_status=429, retry_after_header="7"
    )
    assert error.retry_after == 2.5 and error.retryable
    plain = errors.error_from_status_json(_status(14, "SERVER_BUSY"), http_status=503, retry_after_header="3")
    assert plain.retry_after == 3.0


def test_a_body_that_is_no_status_still_gives_a_typed_error() -> None:
    error = errors.error_from_status_json("upstream connect error", http_status=503)
    assert isinstance(error, errors.Unavailable) and "upstream connect error" in error.message
    assert not errors.error_from_status_json(_status(5, "TASK_NOT_FOUND"), http_status=404).retryable
