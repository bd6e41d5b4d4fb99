"""The reconciler: no task stays QUEUED or PROCESSING for ever, whatever went wrong.

Every path that moves a task forward is a message: a job in JetStream or an attempt
heart-beating in a worker. Faults can lose both: a worker killed while a stale attempt
acked the live delivery of its job, an outbox row lost with a database restored from a
backup, a bug. Every ``reconcile_interval_seconds`` (any number of registry replicas may
run it; rows are claimed with ``FOR UPDATE SKIP LOCKED``) it looks for

* PROCESSING tasks of types that have live workers, silent (no start, progress or
  heartbeat; workers beat at least every AckWait) for ``reconcile_after_seconds``: the
  attempt is lost; the task is queued again with a new job (its next start takes a new
  fencing number) or, after ``max_deliver`` lost attempts, dead-lettered;
* QUEUED tasks (not held back by their owner's limit, not waiting for a retry) silent for
  as long, of a (type, priority) whose JetStream consumer has nothing pending or in flight,
  with no job in the outbox: their job is gone; they get a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from mediatasks.core import metrics, topology
from mediatasks.core.settings import Settings
from mediatasks.registry.convert import utcnow
from mediatasks.registry.live_workers import LiveWorkers
from mediatasks.registry.outbox import OutboxRelay
from mediatasks.registry.store import TaskStore

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self, store: TaskStore, js: JetStreamContext, workers: LiveWorkers, relay: OutboxRelay, settings: Settings
    ) -> None:
        self.store = store
        self.js = js
        self.workers = workers
        self.relay = relay
        self.settings = settings
        self._stopping = asyncio.Event()

    @property
    def silence(self) -> dt.timedelta:
        """How long an active task may show no sign of life before it is looked at."""
        return dt.timedelta(seconds=self.settings.reconcile_after_seconds)

    async def run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.reconcile_interval_seconds)
            if self._stopping.is_set():
                return
            try:
                await self.reconcile_once()
            except Exception as exc:  # the database or NATS is down: next round
                log.warning("reconciling failed: %s", exc)
                metrics.ERRORS.labels("reconciler", "SWEEP").inc()

    async def stop(self) -> None:
        self._stopping.set()

    async def reconcile_once(self) -> dict[str, int]:
        """One sweep; returns how many tasks were requeued after a lost attempt and how
        many queued tasks got their missing job back."""
        silent_since = utcnow() - self.silence
        live = [task_type for task_type, count in (await self.workers.counts()).items() if count]
        lost = await self.store.requeue_lost(live, silent_since)
        republished = 0
        for (task_type, priority), _waiting in (await self.store.stale_queued(silent_since)).items():
            # Media types and the types workers declared alike; a (type, priority) whose
            # consumer no worker ever created counts as busy (see _consumer_busy).
            if priority not in topology.PRIORITIES:
                continue
            if await self._consumer_busy(task_type, priority):
                continue  # its job may be among those; the queue is moving
            republished += await self.store.republish_missing(task_type, priority, silent_since)
        if lost or republished:
            log.warning("reconciled: %d lost attempt(s) requeued, %d missing job(s) republished", lost, republished)
            metrics.RECONCILED.labels("lost_attempt").inc(lost)
            metrics.RECONCILED.labels("missing_job").inc(republished)
            self.relay.kick()
        return {"lost_attempts": lost, "missing_jobs": republished}

    async def _consumer_busy(self, task_type: str, priority: str) -> bool:
        """Whether the (type, priority) consumer holds any job, waiting or in flight. No
        consumer yet means no worker of that queue ever ran: its jobs wait in the stream
        for the first one, so republishing them would only pile up copies."""
        try:
            info = await self.js.consumer_info(topology.JOBS_STREAM, topology.job_consumer(task_type, priority))
        except NotFoundError:
            return True
        return bool(info.num_pending or info.num_ack_pending)
