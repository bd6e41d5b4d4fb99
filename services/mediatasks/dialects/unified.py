"""Seed 001 (unified media API): the operator reads its troubleshooting guide calls,
``GET /api/v1/media/webhooks/{id}/status``, ``/webhooks/statistics`` and
``/cache/stats``, in the native JSON style (the rest of seed 001 *is* the native API).

The registry hands in its webhook dispatcher and task store (``get_delivery``,
``count_by_state``, ``cache_statistics``); reads are scoped to the caller's tasks.
"""

from __future__ import annotations

from typing import Any

from mediatasks.core.auth import ALL_OWNERS, caller
from mediatasks.v1 import dialect_unified_pb2, dialect_unified_pb2_grpc


def _scope() -> str | None:
    principal = caller()
    return None if principal.internal and principal.owner == ALL_OWNERS else principal.owner


class UnifiedMediaDialect(dialect_unified_pb2_grpc.UnifiedMediaDialectServicer):
    def __init__(self, webhooks: Any, store: Any) -> None:
        self.webhooks = webhooks
        self.store = store

    async def GetWebhookStatus(self, request, context):
        return await self.webhooks.get_delivery(request.delivery_id, _scope())

    async def GetWebhookStatistics(self, request, context):
        by_state = await self.webhooks.count_by_state(_scope())
        return dialect_unified_pb2.WebhookStatistics(total=sum(by_state.values()), by_state=by_state)

    async def GetCacheStats(self, request, context):
        entries, hits, cached = await self.store.cache_statistics(_scope())
        return dialect_unified_pb2.CacheStats(entries=entries, hits=hits, cached_tasks=cached)
