"""Vendor failures as project errors: transient ones are retried, the rest fail the job.

Every adapter maps its SDK's exceptions through these helpers, so a rate limit from any
vendor is the same ``PROVIDER_RATE_LIMITED`` (retryable) and a refused prompt the same
``CONTENT_POLICY_VIOLATION`` (permanent), each carrying the vendor's own reason.
"""

from __future__ import annotations

import grpc

from mediatasks.core.errors import MediaTasksError, transient

# HTTP statuses the vendors use for "try again later".
TRANSIENT_HTTP = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _metadata(provider: str, status: int | str | None, vendor_code: str | None) -> dict[str, str]:
    meta = {"provider": provider}
    if status is not None:
        meta["vendor_status"] = str(status)
    if vendor_code:
        meta["vendor_code"] = vendor_code
    return meta


def rate_limited(
    provider: str, message: str, *, retry_after: float | None = None, vendor_code: str | None = None
) -> MediaTasksError:
    error = transient("PROVIDER_RATE_LIMITED", f"{provider} rate limit: {message}")
    error.metadata.update(_metadata(provider, 429, vendor_code))
    if retry_after is not None:
        error.metadata["retry_after_seconds"] = f"{retry_after:g}"
    return error


def unavailable(
    provider: str, message: str, *, status: int | str | None = None, vendor_code: str | None = None
) -> MediaTasksError:
    error = transient("PROVIDER_UNAVAILABLE", f"{provider} is unavailable: {message}")
    error.metadata.update(_metadata(provider, status, vendor_code))
    return error


def timed_out(provider: str, seconds: float | None = None) -> MediaTasksError:
    """The call passed its deadline (ours, or the SDK's own timeout when ``seconds`` is
    unknown)."""
    within = f" within {seconds:g} s" if seconds is not None else " in time"
    error = transient("PROVIDER_TIMEOUT", f"{provider} did not answer{within}")
    error.metadata["provider"] = provider
    if seconds is not None:
        error.metadata["timeout_seconds"] = f"{seconds:g}"
    return error


def content_policy(
    provider: str, message: str, *, status: int | str | None = None, vendor_code: str | None = None
) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONTENT_POLICY_VIOLATION",
        f"{provider} refused the request under its content policy: {message}",
        metadata=_metadata(provider, status, vendor_code),
    )


def auth_failed(provider: str, message: str, env_var: str, *, status: int | str | None = None) -> MediaTasksError:
    # FAILED_PRECONDITION, not UNAUTHENTICATED: the client's credentials are fine, the
    # server's vendor key is not, and the operator must fix the setting.
    return MediaTasksError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_AUTH_FAILED",
        f"{provider} rejected the configured credentials (check {env_var}): {message}",
        metadata=_metadata(provider, status, None) | {"settings": env_var},
    )


def rejected(
    provider: str, message: str, *, status: int | str | None = None, vendor_code: str | None = None
) -> MediaTasksError:
    """The vendor refused this request for a reason retrying will not fix."""
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "PROVIDER_REJECTED",
        f"{provider} rejected the request: {message}",
        metadata=_metadata(provider, status, vendor_code),
    )


def bad_response(provider: str, message: str) -> MediaTasksError:
    """The vendor answered something unusable (malformed JSON, missing output): the same
    request may well succeed next time."""
    error = transient("PROVIDER_BAD_RESPONSE", f"{provider} returned an unusable answer: {message}")
    error.metadata["provider"] = provider
    return error


def from_http_status(
    provider: str,
    status: int,
    message: str,
    *,
    env_var: str,
    vendor_code: str | None = None,
    retry_after: float | None = None,
    policy_codes: frozenset[str] = frozenset(),
) -> MediaTasksError:
    """The project error for a vendor's HTTP error answer."""
    code = (vendor_code or "").lower()
    if code and code in policy_codes:
        return content_policy(provider, message, status=status, vendor_code=vendor_code)
    if status == 429:
        return rate_limited(provider, message, retry_after=retry_after, vendor_code=vendor_code)
    if status in TRANSIENT_HTTP or status >= 500:
        return unavailable(provider, message, status=status, vendor_code=vendor_code)
    if status in (401, 403):
        return auth_failed(provider, message, env_var, status=status)
    return rejected(provider, message, status=status, vendor_code=vendor_code)


def parse_retry_after(headers: object) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (a mapping-like of headers)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None
