"""Provider status publishing: what ``GET /api/v1/media/providers`` shows.

The providers live in the media services (each process has its own
:class:`~mediatasks.providers.router.ProviderRouter`, with its own circuit breakers and
statistics) while the registry answers ``ListProviders``. So every media service that runs
workers writes one entry per provider it uses into the JetStream KV bucket
``mediatasks-providers`` (key ``<service>.<provider>``, value the JSON of a
``mediatasks.v1.ProviderStatus``), and the registry reads the bucket.

A service writes all its entries at start and every :data:`PUBLISH_INTERVAL_SECONDS`, and
checks every :data:`CHANGE_CHECK_SECONDS` whether a status changed (a circuit opened, a
call finished) to write it at once, so ``/providers`` follows the breaker within about a
second. The provider health checks (cheap, local) run on every full write. On shutdown a
service deletes its entries; the bucket's TTL (when this module creates it) removes those
of a service that died. Replicas of one service write the same keys: the last one wins.

A service lists the providers of the operations its task types may call
(:func:`mediatasks.core.catalog.provider_operations_of`);
``task_types`` of an entry are the ones that service uses the provider for. ``health`` is
``healthy``, ``open_circuit``, ``half_open``, ``unconfigured``, or ``unhealthy`` when the
provider's own health check fails; ``success_rate`` and ``mean_latency_seconds`` cover the
recent calls (0 before the first call); ``cost_usd`` is what this process spent there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from mediatasks.core import metrics, topology
from mediatasks.core.catalog import provider_operations_of
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import tasks_pb2

log = logging.getLogger(__name__)

PUBLISH_INTERVAL_SECONDS = 10.0
CHANGE_CHECK_SECONDS = 1.0
# Entries outlive a few missed writes, not a dead service.
ENTRY_TTL_SECONDS = topology.PROVIDERS_TTL_SECONDS
HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def health_of(entry: Mapping[str, Any]) -> str:
    """The ``ProviderStatus.health`` word of one :meth:`ProviderRouter.snapshot` entry."""
    if not entry["configured"]:
        return "unconfigured"
    if entry["circuit"] == "open":
        return "open_circuit"
    if entry["circuit"] == "half_open":
        return "half_open"
    return "healthy" if entry["healthy"] else "unhealthy"


def status_key(service: str, provider: str) -> str:
    """The KV key of one provider of one service."""
    return f"{service}.{provider}"


def provider_statuses(registry: ProviderRouter, service: str) -> list[tasks_pb2.ProviderStatus]:
    """The status of every provider ``service`` uses, from the registry's snapshot."""
    wanted = set(provider_operations_of(service))
    statuses: list[tasks_pb2.ProviderStatus] = []
    for entry in registry.snapshot():
        task_types = [t for t in entry["task_types"] if not wanted or t in wanted]
        if not task_types:
            continue
        mean_ms = entry["latency_ms_mean"]
        models = []
        for offering in entry["offerings"]:
            if offering["task_type"] not in task_types:
                continue
            for name, capabilities in offering["models"].items():
                model = tasks_pb2.ModelOffering(
                    task_type=offering["task_type"], model=name, default=name == offering["model"]
                )
                model.capabilities.update(capabilities)
                models.append(model)
        statuses.append(
            tasks_pb2.ProviderStatus(
                name=entry["name"],
                vendor=entry["vendor"],
                task_types=task_types,
                configured=entry["configured"],
                settings=[variable["name"] for variable in entry["settings"]],
                health=health_of(entry),
                success_rate=entry["success_rate"] or 0.0,
                mean_latency_seconds=round(mean_ms / 1000.0, 4) if mean_ms else 0.0,
                cost_usd=entry["cost_usd_total"],
                service=service,
                models=models,
            )
        )
    return statuses


def status_json(status: tasks_pb2.ProviderStatus) -> bytes:
    """The KV value of one status: its proto JSON with snake_case names."""
    text = json_format.MessageToJson(status, preserving_proto_field_name=True, indent=None)
    return text.encode()


class ProviderStatusPublisher:
    """Writes a media service's provider statuses to KV until :meth:`stop`."""

    def __init__(
        self,
        js: Any,
        registry: ProviderRouter,
        service: str,
        *,
        interval: float = PUBLISH_INTERVAL_SECONDS,
        check_every: float = CHANGE_CHECK_SECONDS,
    ) -> None:
        self.js = js
        self.registry = registry
        self.service = service
        self.interval = interval
        self.check_every = min(check_every, interval)
        self._kv: Any = None
        self._written: dict[str, bytes] = {}
        self._stopping = asyncio.Event()
        self._running = False
        self._finished = asyncio.Event()

    async def _bucket(self) -> Any:
        if self._kv is None:
            self._kv = await topology.ensure_kv(self.js, topology.PROVIDERS_BUCKET, ttl=ENTRY_TTL_SECONDS)
        return self._kv

    async def publish(self, *, only_changed: bool = False) -> int:
        """Write every status (or only those that changed since the last write); returns
        how many entries were written."""
        kv = await self._bucket()
        written = 0
        for status in provider_statuses(self.registry, self.service):
            key = status_key(self.service, status.name)
            value = status_json(status)
            if only_changed and self._written.get(key) == value:
                continue
            await kv.put(key, value)
            self._written[key] = value
            written += 1
        return written

    async def _cycle(self, *, full: bool) -> None:
        try:
            if full:
                await self.registry.check_health(timeout=HEALTH_CHECK_TIMEOUT_SECONDS)
            await self.publish(only_changed=not full)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # NATS away for a moment: the next cycle writes again
            log.warning("publishing provider status of %s failed: %s", self.service, error)
            metrics.ERRORS.labels(self.service, "PROVIDER_STATUS").inc()

    async def run(self) -> None:
        """Write at once, then on every change and every ``interval`` seconds."""
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        self._running = True
        try:
            while not self._stopping.is_set():
                full = loop.time() >= next_full
                await self._cycle(full=full)
                if full:
                    next_full = loop.time() + self.interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.check_every)
        finally:
            self._finished.set()

    async def stop(self) -> None:
        """Stop writing and remove this service's entries (bounded: NATS may be gone)."""
        self._stopping.set()
        if self._running:  # a write in flight must not land after the deletes
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout=3.0)
        if self._kv is None:
            return
        for key in list(self._written):
            try:
                await asyncio.wait_for(self._kv.delete(key), timeout=2.0)
            except Exception as error:
                log.warning("removing provider status %s failed: %s", key, error)
                metrics.ERRORS.labels(self.service, "PROVIDER_STATUS").inc()
                return
