"""What every provider-backed job does the same way: submit-time checks and the call
context that links a provider call to the job (progress, cancellation confirmation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from mediatasks.core.errors import invalid_input
from mediatasks.core.jobs import stage_progress
from mediatasks.core.providers import CallContext, ProviderRegistry
from mediatasks.core.worker import JobContext

T = TypeVar("T")


def check_provider_request(
    providers: ProviderRegistry, task_type: str, provider: str, require: Mapping[str, Any] | None = None
) -> str:
    """Refuse at submit what no configured provider can run; returns the asked provider."""
    if provider:
        names = {p.name for p in providers.providers}
        if provider not in names:
            raise invalid_input(f"provider must be one of {', '.join(sorted(names))}", field="provider")
    providers.ensure_available(task_type, require or {})
    return provider


async def run_provider_call(
    ctx: JobContext, call: Callable[[CallContext], Awaitable[T]], *, low: float = 5, high: float = 90
) -> T:
    """Run a provider call with the job's progress and deadline; records whether the
    vendor confirmed a cancellation when the job is cancelled."""
    call_context = CallContext(on_progress=stage_progress(ctx, low, high), timeout_seconds=ctx.settings.job_timeout_seconds)
    try:
        return await call(call_context)
    finally:
        ctx.cancel_confirmed = bool(call_context.cancel_confirmed)
