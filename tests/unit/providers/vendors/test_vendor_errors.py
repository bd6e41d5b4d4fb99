"""How vendor HTTP answers become project errors (the table every adapter shares)."""

from __future__ import annotations

import grpc
import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import ConfigurationError, Settings
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import errors


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (429, "PROVIDER_RATE_LIMITED", True),
        (408, "PROVIDER_UNAVAILABLE", True),
        (500, "PROVIDER_UNAVAILABLE", True),
        (502, "PROVIDER_UNAVAILABLE", True),
        (503, "PROVIDER_UNAVAILABLE", True),
        (504, "PROVIDER_UNAVAILABLE", True),
        (400, "PROVIDER_REJECTED", False),
        (404, "PROVIDER_REJECTED", False),
        (422, "PROVIDER_REJECTED", False),
        (401, "PROVIDER_AUTH_FAILED", False),
        (403, "PROVIDER_AUTH_FAILED", False),
    ],
)
def test_http_status_mapping(status: int, reason: str, retryable: bool) -> None:
    error = errors.from_http_status("acme", status, "vendor words", env_var="MEDIATASKS_ACME_KEY")
    assert (error.reason, error.retryable) == (reason, retryable)
    assert "vendor words" in error.message
    assert error.metadata["provider"] == "acme"
    assert error.metadata["vendor_status"] == str(status)


def test_auth_failure_names_the_setting_and_is_a_precondition() -> None:
    error = errors.from_http_status("acme", 401, "bad key", env_var="MEDIATASKS_ACME_KEY")
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "MEDIATASKS_ACME_KEY" in error.message


def test_policy_codes_win_over_the_status() -> None:
    error = errors.from_http_status(
        "acme",
        400,
        "rejected by safety system",
        env_var="X",
        vendor_code="Content_Policy_Violation",
        policy_codes=frozenset({"content_policy_violation"}),
    )
    assert error.reason == "CONTENT_POLICY_VIOLATION" and not error.retryable
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.metadata["vendor_code"] == "Content_Policy_Violation"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert errors.parse_retry_after(headers) == seconds


def test_timeouts_are_transient_with_their_deadline() -> None:
    error = errors.timed_out("acme", 2.5)
    assert error.retryable and error.reason == "PROVIDER_TIMEOUT"
    assert error.metadata["timeout_seconds"] == "2.5"
    assert errors.timed_out("acme").message == "acme did not answer in time"


def test_bad_strategy_setting_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="MEDIATASKS_PROVIDER_STRATEGY"):
        ProviderRouter(Settings(provider_strategy="fastest"), [])


def test_errors_are_project_errors() -> None:
    assert isinstance(errors.bad_response("acme", "x"), MediaTasksError)
