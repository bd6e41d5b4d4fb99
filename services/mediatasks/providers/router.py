"""The provider router: which provider runs a call, and what happened when it did.

:class:`ProviderRouter` picks a provider per call by :class:`~mediatasks.providers.base.Strategy`
among the providers that are configured (their settings are set), healthy, offer the
operation, satisfy the request's requirements and whose circuit breaker is not open.
:meth:`ProviderRouter.run` runs a call on the chosen provider, records latency/outcome/cost,
trips the breaker on repeated failures and, when the call fails transiently, fails over to a
provider of another vendor. :meth:`ProviderRouter.snapshot` feeds ``GET /api/v1/media/providers``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import grpc

from mediatasks.core.errors import MediaTasksError, invalid_input, transient
from mediatasks.core.metrics import ERRORS, PROVIDER_COST
from mediatasks.core.settings import ConfigurationError, Settings, not_configured
from mediatasks.providers.base import CallContext, HealthStatus, Offering, Provider, Strategy, T, unmet_by_offering
from mediatasks.providers.circuit import CircuitBreaker, CircuitState

log = logging.getLogger(__name__)


@dataclass
class ProviderStats:
    """Counters and a window of recent outcomes of one provider."""

    window: int = 50
    calls: int = 0
    successes: int = 0
    failures: int = 0
    rejected: int = 0
    cost_usd: float = 0.0
    in_flight: int = 0
    selections: int = 0
    last_error: dict[str, str] | None = None
    recent: deque[tuple[bool, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.window)

    def record(self, ok: bool, seconds: float) -> None:
        self.recent.append((ok, seconds))

    def success_rate(self) -> float | None:
        if not self.recent:
            return None
        return sum(1 for ok, _ in self.recent if ok) / len(self.recent)

    def reliability(self) -> float:
        """Recent success rate, smoothed so that a new provider starts at 0.5 rather
        than at 0 or 1 (Laplace's rule of succession)."""
        good = sum(1 for ok, _ in self.recent if ok)
        return (good + 1) / (len(self.recent) + 2)

    def latency_ms(self) -> tuple[float | None, float | None]:
        """Mean and 95th percentile of recent call durations, in milliseconds."""
        durations = sorted(seconds for _, seconds in self.recent)
        if not durations:
            return None, None
        mean = sum(durations) / len(durations)
        p95 = durations[min(len(durations) - 1, int(round(0.95 * (len(durations) - 1))))]
        return round(mean * 1000, 1), round(p95 * 1000, 1)


def counts_against_provider(error: MediaTasksError) -> bool:
    """Transient failures and rejected credentials say the provider cannot work now; a
    rejected prompt or bad input says nothing about the provider's health."""
    return error.retryable or error.reason == "PROVIDER_AUTH_FAILED"


def rank_key(strategy: Strategy, offering: Offering, stats: ProviderStats, name: str) -> tuple[float | int | str, ...]:
    """Sort key of one candidate under ``strategy``: the smallest key wins. Ties fall
    back to the other scores and finally to the name, so selection is deterministic."""
    quality, speed, cost = offering.quality, offering.speed, offering.cost.usd_per_unit
    reliability = stats.reliability()
    if strategy is Strategy.QUALITY:
        return (-quality, -reliability, -speed, cost, name)
    if strategy is Strategy.SPEED:
        return (-speed, -reliability, -quality, cost, name)
    if strategy is Strategy.COST:
        return (cost, -quality, -reliability, name)
    if strategy is Strategy.RELIABILITY:
        return (-reliability, -quality, -speed, name)
    # load_balance: fewest calls running, then the least often chosen (round-robin).
    return (stats.in_flight, stats.selections, name)


# --- the registry ------------------------------------------------------------------------


@dataclass
class _Entry:
    provider: Provider
    breaker: CircuitBreaker
    stats: ProviderStats
    health: HealthStatus = HealthStatus(True, "not checked yet")


class ProviderRouter:
    """Chooses, runs and accounts for providers. One per service process.

    ``default_strategies`` maps a task type to its default strategy; otherwise the
    ``provider_strategy`` setting applies. ``clock`` (monotonic seconds) and ``today``
    are injectable for tests.
    """

    def __init__(
        self,
        settings: Settings,
        providers: Iterable[Provider],
        *,
        default_strategies: Mapping[str, Strategy | str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        window: int = 50,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._today = today
        try:
            self._default = Strategy.parse(settings.provider_strategy or Strategy.QUALITY)
        except MediaTasksError as error:
            raise ConfigurationError(f"{settings.env_name('provider_strategy')}: {error.message}") from None
        self._defaults = {k: Strategy.parse(v) for k, v in (default_strategies or {}).items()}
        self._entries: dict[str, _Entry] = {}
        for provider in providers:
            if provider.name in self._entries:
                raise ValueError(f"two providers named {provider.name!r}")
            self._entries[provider.name] = _Entry(
                provider=provider,
                breaker=CircuitBreaker(settings.circuit_failure_threshold, settings.circuit_reset_seconds, clock),
                stats=ProviderStats(window=window),
            )

    # -- lookup ---------------------------------------------------------------------------

    @property
    def providers(self) -> list[Provider]:
        return [entry.provider for entry in self._entries.values()]

    def get(self, name: str) -> Provider:
        return self._entries[name].provider

    def breaker(self, name: str) -> CircuitBreaker:
        return self._entries[name].breaker

    def stats(self, name: str) -> ProviderStats:
        return self._entries[name].stats

    def default_strategy(self, task_type: str) -> Strategy:
        return self._defaults.get(task_type, self._default)

    def _offering(self, entry: _Entry, task_type: str) -> Offering | None:
        offering = entry.provider.spec.offering(task_type)
        if offering is None:
            return None
        if offering.available_until is not None and self._today() > offering.available_until:
            return None
        return offering

    # -- availability ---------------------------------------------------------------------

    def ensure_available(
        self,
        task_type: str,
        require: Mapping[str, Any] | None = None,
        *,
        only: str | None = None,
    ) -> None:
        """Raise unless some configured provider can run ``task_type`` with ``require``.

        Raises ``not_configured`` (FAILED_PRECONDITION naming the variables to set) when
        only unconfigured providers could, and ``INVALID_INPUT`` when none could at all.
        ``only`` pins the provider a client asked for by name. Health and circuit state
        are not considered: a broken vendor is a transient condition, not a reason to
        refuse a job at submit time.
        """
        require = require or {}
        entries = list(self._entries.values())
        if only:
            if only not in self._entries:
                names = ", ".join(sorted(self._entries))
                raise invalid_input(f"unknown provider {only!r} (one of {names})", field="provider")
            entries = [self._entries[only]]
            if self._offering(entries[0], task_type) is None:
                raise invalid_input(f"provider {only} does not run {task_type}", field="provider")
        fitting: list[_Entry] = []
        offered = False
        reasons: list[str] = []
        for entry in entries:
            offering = self._offering(entry, task_type)
            if offering is None:
                continue
            offered = True
            unmet = unmet_by_offering(offering, require)
            if unmet is None:
                fitting.append(entry)
            else:
                reasons.append(f"{entry.provider.name}: {unmet}")
        if any(e.provider.configured(self.settings) for e in fitting):
            return
        if fitting:
            variables: list[str] = []
            for entry in fitting:
                for env in entry.provider.spec.required_env(self.settings):
                    if env not in variables:
                        variables.append(env)
            raise not_configured(task_type, variables)
        if not offered:
            raise MediaTasksError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "PROVIDER_NOT_CONFIGURED",
                f"no provider implements {task_type}",
                metadata={"task_type": task_type},
            )
        raise invalid_input(f"no provider can run this {task_type} request ({'; '.join(reasons)})")

    def candidates(
        self,
        task_type: str,
        *,
        require: Mapping[str, Any] | None = None,
        exclude_vendors: Iterable[str] = (),
        exclude_providers: Iterable[str] = (),
        only: str | None = None,
    ) -> list[tuple[Provider, Offering]]:
        """Configured, healthy providers whose breaker accepts calls and whose offering
        for ``task_type`` meets ``require``, in registration order."""
        require = require or {}
        vendors, names = set(exclude_vendors), set(exclude_providers)
        found: list[tuple[Provider, Offering]] = []
        for entry in self._entries.values():
            provider = entry.provider
            if provider.vendor in vendors or provider.name in names:
                continue
            if only and provider.name != only:
                continue
            offering = self._offering(entry, task_type)
            if offering is None or not provider.configured(self.settings):
                continue
            if not entry.health.ok or not entry.breaker.can_accept():
                continue
            if unmet_by_offering(offering, require) is not None:
                continue
            found.append((provider, offering))
        return found

    def select(
        self,
        task_type: str,
        strategy: Strategy | str | None = None,
        *,
        exclude_vendors: Iterable[str] = (),
        require: Mapping[str, Any] | None = None,
        exclude_providers: Iterable[str] = (),
        only: str | None = None,
    ) -> Provider:
        """The best eligible provider for ``task_type`` under ``strategy`` (default: the
        task type's default strategy), or the provider named ``only``. Raises like
        :meth:`ensure_available` when nothing is configured, and a transient
        ``PROVIDER_UNAVAILABLE`` when every configured provider is unhealthy or has its
        circuit open."""
        self.ensure_available(task_type, require, only=only)
        chosen = Strategy.parse(strategy) if strategy else self.default_strategy(task_type)
        found = self.candidates(
            task_type,
            require=require,
            exclude_vendors=exclude_vendors,
            exclude_providers=exclude_providers,
            only=only,
        )
        if not found:
            raise transient(
                "PROVIDER_UNAVAILABLE",
                f"no provider can take {task_type} now: {self._why_unavailable(task_type)}",
            )
        provider, _ = min(
            found,
            key=lambda pair: rank_key(chosen, pair[1], self._entries[pair[0].name].stats, pair[0].name),
        )
        self._entries[provider.name].stats.selections += 1
        return provider

    def _how_chosen(self, task_type: str, strategy: Strategy | str | None, only: str | None) -> str:
        if only:
            return "pinned by the request"
        return f"strategy {(Strategy.parse(strategy) if strategy else self.default_strategy(task_type)).value}"

    def _why_unavailable(self, task_type: str) -> str:
        parts = []
        for entry in self._entries.values():
            if self._offering(entry, task_type) is None:
                continue
            name = entry.provider.name
            if not entry.provider.configured(self.settings):
                parts.append(f"{name} not configured")
            elif not entry.health.ok:
                parts.append(f"{name} unhealthy ({entry.health.detail})")
            elif not entry.breaker.can_accept():
                wait = entry.breaker.seconds_until_half_open()
                parts.append(f"{name} circuit open (retry in {wait:.0f}s)")
            else:
                parts.append(f"{name} excluded or unsuitable")
        return "; ".join(parts) or "none registered"

    # -- running --------------------------------------------------------------------------

    async def run(
        self,
        task_type: str,
        call: Callable[[Provider], Awaitable[T]],
        strategy: Strategy | str | None = None,
        *,
        failover: bool = True,
        require: Mapping[str, Any] | None = None,
        ctx: CallContext | None = None,
        only: str | None = None,
    ) -> T:
        """Run ``call(provider)`` on the selected provider and account for it.

        A transient failure (``retryable``) counts against the provider's breaker and,
        with ``failover``, the call is tried on the best provider of another vendor; when
        none is left the last transient error is raised for the worker to retry later.
        Permanent errors are raised at once. Cancellation propagates untouched. With
        ``only`` (a client pinned the provider by name) there is nothing to fail over to.
        """
        excluded_vendors: set[str] = set()
        excluded_providers: set[str] = set()
        last_error: MediaTasksError | None = None
        while True:
            try:
                provider = self.select(
                    task_type,
                    strategy,
                    exclude_vendors=excluded_vendors,
                    require=require,
                    exclude_providers=excluded_providers,
                    only=only,
                )
            except MediaTasksError:
                if last_error is not None:
                    raise last_error from None
                raise
            entry = self._entries[provider.name]
            if not entry.breaker.acquire():
                # Another call took the half-open trial between select and here.
                excluded_providers.add(provider.name)
                continue
            if ctx is not None:
                ctx.provider = provider.name
                ctx.attempts.append(provider.name)
            # Job code logs reach the task log (mediatasks.core.worker.task_log).
            log.info(
                "provider %s chosen for %s (%s)", provider.name, task_type, self._how_chosen(task_type, strategy, only)
            )
            started = self._clock()
            try:
                result = await self._run_one(entry, call)
            except MediaTasksError as error:
                if not (error.retryable and failover):
                    raise
                log.warning(
                    "provider %s failed transiently on %s (%s); failing over",
                    provider.name,
                    task_type,
                    error,
                )
                excluded_vendors.add(provider.vendor)
                last_error = error
                continue
            model = getattr(result, "model", "") or ""
            log.info(
                "provider %s%s answered in %.1fs",
                provider.name,
                f" (model {model})" if model else "",
                self._clock() - started,
            )
            return result

    async def _run_one(self, entry: _Entry, call: Callable[[Provider], Awaitable[T]]) -> T:
        stats, breaker = entry.stats, entry.breaker
        stats.in_flight += 1
        stats.calls += 1
        started = self._clock()
        try:
            result = await call(entry.provider)
        except asyncio.CancelledError:
            breaker.release()
            stats.calls -= 1
            raise
        except MediaTasksError as error:
            elapsed = self._clock() - started
            stats.last_error = {
                "reason": error.reason,
                "message": error.message,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            if counts_against_provider(error):
                stats.failures += 1
                stats.record(False, elapsed)
                breaker.record_failure()
            else:
                # The vendor answered properly (e.g. refused a prompt): it is healthy.
                stats.rejected += 1
                stats.record(True, elapsed)
                breaker.record_success()
            raise
        except Exception as error:
            # An adapter must map vendor errors; anything else is a bug, but it still
            # means the provider did not work, so the breaker sees it.
            stats.failures += 1
            stats.record(False, self._clock() - started)
            stats.last_error = {
                "reason": "INTERNAL",
                "message": f"{type(error).__name__}: {error}",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            breaker.record_failure()
            ERRORS.labels("providers", "UNMAPPED_PROVIDER_ERROR").inc()
            raise
        finally:
            stats.in_flight -= 1
        stats.successes += 1
        stats.record(True, self._clock() - started)
        breaker.record_success()
        cost = float(getattr(result, "cost_usd", 0.0) or 0.0)
        if cost > 0:
            stats.cost_usd += cost
            PROVIDER_COST.labels(entry.provider.name).inc(cost)
        return result

    # -- health and reporting ---------------------------------------------------------------

    async def check_health(self, timeout: float = 5.0) -> None:
        """Ask every provider for its health (bounded by ``timeout`` each)."""

        async def one(entry: _Entry) -> None:
            try:
                entry.health = await asyncio.wait_for(entry.provider.health(), timeout)
            except TimeoutError:
                entry.health = HealthStatus(False, f"health check took over {timeout:.0f}s")
            except Exception as error:
                log.exception("health check of %s failed", entry.provider.name)
                entry.health = HealthStatus(False, f"health check failed: {error}")

        await asyncio.gather(*(one(entry) for entry in self._entries.values()))

    def snapshot(self) -> list[dict[str, Any]]:
        """Every provider's configuration, health, recent success rate and latency, and
        cost so far, for ``GET /api/v1/media/providers``. Secrets are never included:
        only whether each variable is set."""
        out: list[dict[str, Any]] = []
        for entry in self._entries.values():
            provider, stats, breaker = entry.provider, entry.stats, entry.breaker
            spec = provider.spec
            configured = provider.configured(self.settings)
            mean_ms, p95_ms = stats.latency_ms()
            state = breaker.state
            variables = [
                {
                    "name": self.settings.env_name(name),
                    "required": name in spec.required_settings,
                    "set": self.settings.is_configured(name),
                }
                for name in (*spec.required_settings, *spec.optional_settings)
            ]
            offerings = []
            for offering in spec.offerings:
                offerings.append(
                    {
                        "task_type": offering.task_type,
                        "model": offering.model,
                        "quality": offering.quality,
                        "speed": offering.speed,
                        "cost_usd_per_unit": offering.cost.usd_per_unit,
                        "cost_unit": offering.cost.unit,
                        "capabilities": dict(offering.capabilities),
                        "models": {name: dict(offering.capabilities_for(name) or {}) for name in offering.model_names},
                        "available": self._offering(entry, offering.task_type) is not None,
                        "available_until": offering.available_until.isoformat() if offering.available_until else None,
                    }
                )
            out.append(
                {
                    "name": spec.name,
                    "vendor": spec.vendor,
                    "task_types": sorted(spec.task_types),
                    "configured": configured,
                    "settings": variables,
                    "healthy": configured and entry.health.ok and state is not CircuitState.OPEN,
                    "health_detail": entry.health.detail,
                    "circuit": state.value,
                    "circuit_retry_in_seconds": round(breaker.seconds_until_half_open(), 1),
                    "consecutive_failures": breaker.consecutive_failures,
                    "calls": stats.calls,
                    "successes": stats.successes,
                    "failures": stats.failures,
                    "rejected": stats.rejected,
                    "in_flight": stats.in_flight,
                    "success_rate": stats.success_rate(),
                    "latency_ms_mean": mean_ms,
                    "latency_ms_p95": p95_ms,
                    "cost_usd_total": round(stats.cost_usd, 6),
                    "last_error": stats.last_error,
                    "offerings": offerings,
                }
            )
        return out

    async def aclose(self) -> None:
        """Close every provider's clients."""
        for entry in self._entries.values():
            try:
                await entry.provider.aclose()
            except Exception:
                log.exception("closing provider %s failed", entry.provider.name)
