"""What every provider-backed job does the same way: submit-time checks and the call
context that links a provider call to the job (progress, cancellation confirmation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from mediatasks.core.worker import JobContext, stage_progress
from mediatasks.providers.base import CallContext, Strategy
from mediatasks.providers.router import ProviderRouter

T = TypeVar("T")


def check_provider_request(
    providers: ProviderRouter,
    task_type: str,
    provider: str,
    require: Mapping[str, Any] | None = None,
    *,
    strategy: str = "",
) -> str:
    """Refuse at submit what no configured provider can run; returns the asked provider.

    ``provider`` (a client pinning a provider by name) narrows the check to that provider,
    so a pinned provider that is not configured is refused with FAILED_PRECONDITION
    ``PROVIDER_NOT_CONFIGURED`` naming its own variables, and an unknown name is
    ``INVALID_INPUT``. An unknown ``strategy`` is refused here too rather than failing the
    job later.
    """
    if strategy:
        Strategy.parse(strategy)
    name = pinned_provider(provider)
    providers.ensure_available(task_type, require or {}, only=name)
    return name or ""


def pinned_provider(name: str) -> str | None:
    """The provider a client named (``"OpenAI "`` -> ``"openai"``), or ``None``."""
    return name.strip().lower() or None


async def run_provider_call(
    ctx: JobContext,
    call: Callable[[CallContext], Awaitable[T]],
    *,
    low: float = 5,
    high: float = 90,
) -> T:
    """Run a provider call with the job's progress and deadline; records whether the
    vendor confirmed a cancellation when the job is cancelled."""
    call_context = CallContext(
        on_progress=stage_progress(ctx, low, high),
        timeout_seconds=ctx.job_timeout_seconds,
    )
    try:
        return await call(call_context)
    finally:
        ctx.confirm_cancel(bool(call_context.cancel_confirmed))
