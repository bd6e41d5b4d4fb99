"""Which task types have a live worker: each worker beats an entry of the workers KV
bucket (``<task type>.<worker id>``), which expires when the worker stops beating."""

from __future__ import annotations

import time

from nats.js import JetStreamContext

from mediatasks.core import topology


class LiveWorkers:
    """Which task types have a live worker, from the workers KV bucket (cached briefly)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._cached_at = 0.0
        self._counts: dict[str, int] = {}

    async def counts(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._cached_at < 2.0:
            return self._counts
        counts: dict[str, int] = {}
        try:
            keys = list(await topology.kv_entries(self.js, topology.WORKERS_BUCKET))
        except Exception:  # NATS down: no worker is known to be live
            keys = []
        for key in keys:
            task_type = key.split(".", 1)[0]
            counts[task_type] = counts.get(task_type, 0) + 1
        self._counts, self._cached_at = counts, now
        return counts
