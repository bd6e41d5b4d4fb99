"""The worker runtime every media service runs its jobs on.

One :class:`Worker` per process serves one or more task types. For each type it pulls
from four durable consumers (one per priority) of MEDIATASKS_JOBS, always trying the
highest priority first but starting from the lowest one on every
``LOW_PRIORITY_SHARE``-th pick so that low priorities never starve. A core-NATS
"doorbell" subscription on the job subjects wakes idle workers the moment a job is
published, so an idle worker costs nothing and a new job starts within a round trip.

For each job: StartAttempt (fencing number), run the handler while heart-beating the
message with ``in_progress()``, listen for cancellation, then CompleteTask or FailTask.
A quick job (one its service declares quick, first delivery, its task in the job message)
runs at once instead, and its start rides on its completion: one registry call and one
transaction fewer per job. One that is still running after ``QUICK_START_SECONDS``, or
that fails, starts as any other (and is stopped if the start is refused), so limits and
fencing hold from then on as for every job.
How that ended is an :class:`~.settlement.Outcome`, and :mod:`.settlement` alone decides
from it whether the message is acked, naked (with the registry's backoff), terminated or
left alone. A job delivered more than ``max_deliver`` times goes to MEDIATASKS_DLQ and its
task to FAILED ``DELIVERY_EXHAUSTED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from mediatasks.core import metrics, topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.clients import (
    ANSWER_ALONE,
    BATCH_OVERLAP_SECONDS,
    REGISTRY_BATCH_LIMIT,
    RegistryClient,
    answer_alone,
    answered_alone,
    error_from_status,
)
from mediatasks.core.coalescing import Coalescer, Pending
from mediatasks.core.errors import (
    STALE_ATTEMPT,
    START_REFUSED,
    WORKER_SHUTDOWN,
    MediaTasksError,
    dependency_outage,
)
from mediatasks.core.limits import retry_allowed
from mediatasks.core.logs import current_task_id
from mediatasks.core.settings import Settings
from mediatasks.core.worker._attempt import STARTING, AttemptState, Progress
from mediatasks.core.worker.context import JobCancelled, JobContext, JobHandler, JobResult
from mediatasks.core.worker.outputs import keep_inline_small
from mediatasks.core.worker.settlement import Outcome, OutcomeKind, settle
from mediatasks.core.worker.task_log import current_attempt, install_task_log_bridge
from mediatasks.v1 import common_pb2, tasks_pb2

log = logging.getLogger(__name__)

LOW_PRIORITY_SHARE = 8  # every 8th pick starts from the lowest priority
_IDLE_POLL_SECONDS = 0.5  # also catches AckWait and nak-delay redeliveries (no doorbell)
# A queue that answered "no messages" is not asked again for this long unless its doorbell
# rings, so a pick pulls the one queue that has work instead of every (type, priority)
# queue before it (three to eight NATS round trips a job). Redeliveries ring no doorbell:
# they wait at most this long.
_EMPTY_FOR_SECONDS = 0.25
_PROGRESS_MIN_INTERVAL = 0.25
# Jobs one pull request asks for at most (as many as there are free slots).
_FETCH_LIMIT = REGISTRY_BATCH_LIMIT
# How long a quick job runs before StartAttempt at most: past it, the attempt starts as
# any other does (the registry may still refuse it: capacity, a cancel, another copy).
QUICK_START_SECONDS = 0.1

# Whether a job of a type is quick: local work of milliseconds, no provider called, so it
# may run before its start is recorded (see Worker's quick_jobs).
QuickJob = Callable[[tasks_pb2.Task], bool]


# Each attempt works in a directory of its own, emptied when it ends (see Workdirs). One
# left behind (a worker killed mid-job) is older than any attempt can run, and the next
# worker to start on the machine removes it.
WORKDIR_PREFIX = "mt-"


def remove_stale_workdirs(settings: Settings) -> int:
    """Delete attempt directories older than twice the job timeout; how many went."""
    root = Path(settings.work_dir or tempfile.gettempdir())
    cutoff = time.time() - 2 * settings.longest_job_timeout()
    removed = 0
    for entry in root.glob(f"{WORKDIR_PREFIX}*"):
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:  # another worker removed it first
            continue
    return removed


class Workdirs:
    """Attempt directories, reused: an attempt gets an empty directory of its own, and one
    left empty goes back for the next attempt instead of being removed. Creating and
    removing a directory per job cost the worker's event loop ~2 ms of waiting on the
    file system (ext4 here) and ~0.2 ms of CPU; most jobs never write a file there."""

    def __init__(self, parent: str, keep: int) -> None:
        self.parent = parent or None
        self.keep = keep
        self._free: list[Path] = []

    def take(self) -> Path:
        while self._free:
            path = self._free.pop()
            try:
                # A fresh mtime: remove_stale_workdirs in another worker never takes it.
                os.utime(path)
                return path
            except OSError:  # removed meanwhile (by hand, or as stale): make another
                continue
        return Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=self.parent))

    def give_back(self, path: Path) -> None:
        try:
            with os.scandir(path) as entries:
                empty = next(entries, None) is None
        except OSError:
            return
        if empty and len(self._free) < self.keep:
            self._free.append(path)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def clear(self) -> None:
        while self._free:
            shutil.rmtree(self._free.pop(), ignore_errors=True)


class Worker:
    """Pulls and runs the jobs of the given task types."""

    def __init__(
        self,
        settings: Settings,
        nc: NATS,
        js: JetStreamContext,
        registry: RegistryClient,
        artifacts: ArtifactStore,
        handlers: dict[str, JobHandler],
        *,
        concurrency: int | None = None,
        priorities: tuple[str, ...] = topology.PRIORITIES,
        quick_jobs: dict[str, QuickJob] | None = None,
    ) -> None:
        """``priorities``: the queues this worker takes jobs from (all by default; a
        worker limited to ``("urgent",)`` leaves lower ones to other workers);
        ``quick_jobs``: per task type, which of its jobs may run before StartAttempt."""
        self.settings = settings
        self.nc = nc
        self.js = js
        self.registry = registry
        self.artifacts = artifacts
        self.handlers = handlers
        self.quick_jobs = quick_jobs or {}
        self.concurrency = concurrency or settings.worker_concurrency
        self.priorities = tuple(p for p in topology.PRIORITIES if p in priorities) or topology.PRIORITIES
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._slots = asyncio.Semaphore(self.concurrency)
        self._workdirs = Workdirs(settings.work_dir, keep=self.concurrency)
        self._doorbell = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._picks = 0
        self._subs: list[Subscription] = []
        self._liveness: KeyValue | None = None
        self._inbox = ""
        self._pull_sub: Subscription | None = None
        # Per (type, priority) queue: doorbell rings so far, and until when it counts as
        # empty (see _EMPTY_FOR_SECONDS).
        self._queue_of_subject: dict[str, tuple[str, str]] = {}
        self._rings: dict[tuple[str, str], int] = {}
        self._empty_until: dict[tuple[str, str], float] = {}
        # Running attempts' cancel callbacks, by task id (one subscription for them all).
        self._cancellers: dict[str, Callable[[], None]] = {}
        # Starts and completions that happen together (the jobs of one fetch, jobs ending
        # in the same moment) go to the registry as one call each.
        self._starts: Coalescer[tasks_pb2.StartAttemptRequest, tasks_pb2.StartAttemptResponse] = Coalescer(
            self._send_starts, REGISTRY_BATCH_LIMIT, overlap_after=BATCH_OVERLAP_SECONDS
        )
        self._completions: Coalescer[tasks_pb2.CompleteTaskRequest, None] = Coalescer(
            self._send_completions, REGISTRY_BATCH_LIMIT, overlap_after=BATCH_OVERLAP_SECONDS
        )

    # --- fetching -------------------------------------------------------------------

    async def _setup(self) -> None:
        removed = await asyncio.to_thread(remove_stale_workdirs, self.settings)
        if removed:
            log.info("removed %d stale work directories of crashed attempts", removed)
        for task_type in self.handlers:
            for priority in self.priorities:
                await topology.ensure_job_consumer(self.js, task_type, priority, self.settings)
                subject = topology.job_subject(task_type, priority)
                self._queue_of_subject[subject] = (task_type, priority)
                self._subs.append(await self.nc.subscribe(subject, cb=self._ring))
        self._subs.append(await self.nc.subscribe(topology.CANCEL_SUBJECTS, cb=self._on_cancel))
        self._liveness = await topology.ensure_kv(self.js, topology.WORKERS_BUCKET, ttl=topology.WORKERS_TTL_SECONDS)
        self._inbox = self.nc.new_inbox()
        self._pull_sub = await self.nc.subscribe(self._inbox, pending_msgs_limit=1024)
        self._subs.append(self._pull_sub)

    async def _ring(self, msg: Msg) -> None:
        queue = self._queue_of_subject.get(msg.subject)
        if queue is not None:
            self._rings[queue] = self._rings.get(queue, 0) + 1
            self._empty_until.pop(queue, None)
        self._doorbell.set()

    async def _on_cancel(self, msg: Msg) -> None:
        cancel = self._cancellers.get(topology.task_of_cancel_subject(msg.subject))
        if cancel is not None:
            cancel()

    def _pick_order(self) -> list[tuple[str, str]]:
        """(task type, priority) pairs in the order to try for this pick."""
        self._picks += 1
        priorities = list(self.priorities)
        if self._picks % LOW_PRIORITY_SHARE == 0:
            priorities.reverse()
        types = list(self.handlers)
        shift = self._picks % len(types)
        types = types[shift:] + types[:shift]
        return [(t, p) for p in priorities for t in types]

    async def _pull(self, task_type: str, priority: str, batch: int) -> tuple[list[Msg], bool]:
        """Up to ``batch`` jobs from one consumer without waiting (none when it has none),
        and whether the consumer said it had no more (the answer ended short of ``batch``).

        Pull requests carry this worker's own inbox as reply subject: JetStream delivers
        a pulled message with its original subject, which the client's request/reply
        muxer cannot route, so a plain subscription on a private inbox receives them.
        JetStream answers a no-wait pull with what it has, ended by a status message when
        that is less than asked for.
        """
        assert self._pull_sub is not None, "pulled before _setup"
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{topology.JOBS_STREAM}.{topology.job_consumer(task_type, priority)}"
        await self.nc.publish(subject, b'{"batch":%d,"no_wait":true}' % batch, reply=self._inbox)
        msgs: list[Msg] = []
        while len(msgs) < batch:
            try:
                msg = await self._pull_sub.next_msg(timeout=2.0)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            status = msg.headers.get("Status") if msg.headers else None
            if status == "100":
                continue  # idle heartbeat
            if status:
                return msgs, True  # 404 No Messages, 408 Request Timeout, 409 ...
            msgs.append(msg)
        return msgs, False

    async def _next_jobs(self, most: int) -> list[Msg]:
        """The next jobs, at most ``most``, from the first queue in pick order that has any.
        A pick that starts from the lowest priority takes one job: that pick is the low
        priorities' share, and a batch would make it more than its share."""
        while not self._stopping.is_set():
            self._doorbell.clear()
            order = self._pick_order()
            batch = 1 if self._picks % LOW_PRIORITY_SHARE == 0 else most
            for queue in order:
                if self._empty_until.get(queue, 0.0) > time.monotonic():
                    continue
                rings = self._rings.get(queue, 0)
                msgs, exhausted = await self._pull(*queue, batch)
                # A queue that answered all it had is empty as one that had nothing: at a
                # steady rate each job came alone, and the next pick's pull of its queue
                # was a round trip of its own to hear "no messages".
                if (exhausted or not msgs) and self._rings.get(queue, 0) == rings:  # no job arrived while asking
                    self._empty_until[queue] = time.monotonic() + _EMPTY_FOR_SECONDS
                if msgs:
                    return msgs
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._doorbell.wait(), timeout=_IDLE_POLL_SECONDS)
        return []

    async def _heartbeat_liveness(self) -> None:
        assert self._liveness is not None, "beating before _setup"
        while not self._stopping.is_set():
            for task_type in self.handlers:
                try:
                    await self._liveness.put(f"{task_type}.{self.worker_id}", str(time.time()).encode())
                except Exception as exc:  # NATS down for a moment: try again next beat
                    log.warning("liveness beat failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=5.0)

    async def _setup_with_retries(self) -> None:
        """Declare consumers and subscriptions, waiting out a NATS that is restarting."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._setup()
                return
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.warning("worker setup failed (%s); retrying in %.1fs", exc, delay)
                for sub in self._subs:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                self._subs.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)

    async def run(self) -> None:
        """Fetch and run jobs until :meth:`stop`."""
        install_task_log_bridge()
        await self._setup_with_retries()
        if self._stopping.is_set():
            return
        beat = asyncio.create_task(self._heartbeat_liveness())
        log.info("worker %s serving %s (concurrency %d)", self.worker_id, ",".join(self.handlers), self.concurrency)
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                free = 1
                # Every slot free now takes part in this fetch: one pull request, and the
                # starts of its jobs go to the registry together.
                while free < _FETCH_LIMIT and not self._slots.locked():
                    await self._slots.acquire()  # free: returns at once
                    free += 1
                try:
                    msgs = await self._next_jobs(free)
                except Exception:
                    for _ in range(free):
                        self._slots.release()
                    log.exception("fetching a job failed")
                    metrics.ERRORS.labels("worker", "FETCH").inc()
                    await asyncio.sleep(1.0)
                    continue
                for _ in range(free - len(msgs)):
                    self._slots.release()
                if not msgs:
                    break
                for msg in msgs:
                    self._start(msg)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await self._forget_liveness()

    async def _forget_liveness(self) -> None:
        """A worker that stops says so at once: its types are not shown as served (and their
        queued tasks not as merely waiting for a slot) until its entries would expire."""
        if self._liveness is None:
            return
        for task_type in self.handlers:
            try:
                await asyncio.wait_for(self._liveness.delete(f"{task_type}.{self.worker_id}"), timeout=2.0)
            except Exception as exc:  # NATS away: the entry expires on its own
                log.info("liveness entry of %s not removed: %s", task_type, exc)

    def _start(self, msg: Msg) -> None:
        """Run one job in the background; its slot is freed when it ends."""
        key = f"{msg.reply}"
        task = asyncio.create_task(self._run_job(msg))
        self._running[key] = task

        def finished(_task: asyncio.Task[None]) -> None:
            self._running.pop(key, None)
            self._slots.release()

        task.add_done_callback(finished)

    async def stop(self) -> None:
        """Stop fetching; let running jobs finish within the grace period, then hand them back."""
        self._stopping.set()
        self._doorbell.set()
        running = list(self._running.values())
        if running:
            log.info("waiting for %d running job(s)", len(running))
            done, pending = await asyncio.wait(running, timeout=self.settings.shutdown_grace_seconds * 0.8)
            for task in pending:
                task.cancel()  # _run_job naks the message so another worker takes it at once
            await asyncio.gather(*pending, return_exceptions=True)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._workdirs.clear()

    # --- running one job ---------------------------------------------------------------

    async def _run_job(self, msg: Msg) -> None:
        """Run one delivery to its outcome, then settle its message as the outcome says."""
        job = tasks_pb2.Job.FromString(msg.data)
        token = current_task_id.set(job.task_id)
        outcome: Outcome | None = None
        try:
            outcome = await self._outcome_of(msg, job)
            await settle(msg, outcome.settlement)
        except asyncio.CancelledError:
            outcome = Outcome(OutcomeKind.SHUTDOWN)
            # Handing the job back is worth a try even when NATS is going away too; if
            # it fails, AckWait redelivers the message all the same.
            with contextlib.suppress(Exception):
                await settle(msg, outcome.settlement)
            raise
        except Exception:
            outcome = Outcome(OutcomeKind.RUNTIME_CRASH)
            log.exception("job %s crashed the runtime; it will be redelivered", job.task_id)
            metrics.ERRORS.labels("worker", "RUNTIME").inc()
            await settle(msg, outcome.settlement)
        finally:
            current_task_id.reset(token)
            if outcome is not None and outcome.metric_label is not None:
                metrics.JOBS.labels(job.task_type, outcome.metric_label).inc()

    async def _outcome_of(self, msg: Msg, job: tasks_pb2.Job) -> Outcome:
        deliveries = msg.metadata.num_delivered or 0
        if deliveries == 1 and self._is_quick(job):
            return await self._attempt(msg, job, job.task, job.task.attempt + 1, unstarted=True)
        started = await self._starts.submit(self._start_request(job, deliveries))
        if not started.proceed:
            outcome = Outcome.not_started(started.reason)
            if outcome.kind is OutcomeKind.DEAD_LETTERED:
                await self._dead_letter(msg, job, deliveries)
            return outcome
        return await self._attempt(msg, job, started.task, started.attempt)

    def _start_request(self, job: tasks_pb2.Job, deliveries: int) -> tasks_pb2.StartAttemptRequest:
        return tasks_pb2.StartAttemptRequest(task_id=job.task_id, delivery_count=deliveries, worker_id=self.worker_id)

    def _is_quick(self, job: tasks_pb2.Job) -> bool:
        quick = self.quick_jobs.get(job.task_type)
        if quick is None or not job.HasField("task") or job.task.task_id != job.task_id:
            return False
        try:
            return quick(job.task)
        except Exception:  # a malformed input: the normal path reports it
            return False

    async def _dead_letter(self, msg: Msg, job: tasks_pb2.Job, deliveries: int) -> None:
        """Copy the job to the dead-letter stream (the registry already failed its task,
        counting the attempts that started; the caller terms the message)."""
        reason = f"its attempts kept vanishing (max_deliver={self.settings.max_deliver}); {deliveries} deliveries"
        headers = {
            "Nats-Msg-Id": f"{job.task_id}:dlq:{msg.metadata.sequence.stream}",
            "Mediatasks-Reason": reason,
            "Mediatasks-Deliveries": str(deliveries),
            "Mediatasks-Task-Type": job.task_type,
        }
        await self.js.publish(topology.dlq_subject(job.task_type), msg.data, headers=headers)
        log.error("job %s dead-lettered: %s", job.task_id, reason)

    async def _attempt(
        self, msg: Msg, job: tasks_pb2.Job, task: tasks_pb2.Task, attempt: int, *, unstarted: bool = False
    ) -> Outcome:
        """Run the handler with its supervisors (heartbeat, progress, cancellation) around
        it. ``unstarted``: a quick job whose attempt StartAttempt has not recorded (``task``
        is the job message's, ``attempt`` the number its start will give)."""
        if unstarted:
            task = self._as_started(task, attempt)
        state = AttemptState()
        workdirs: list[Path] = []

        def take_workdir() -> Path:
            workdirs.append(self._workdirs.take())
            return workdirs[0]

        ctx = JobContext(
            task,
            attempt=attempt,
            workdir=take_workdir,
            settings=self.settings,
            artifacts=self.artifacts,
            state=state,
        )
        # The handler's task copies the context: its log records go to this attempt's log.
        attempt_token = current_attempt.set(state)
        try:
            run = asyncio.create_task(_call(self.handlers[job.task_type], ctx))
        finally:
            current_attempt.reset(attempt_token)

        def cancel_job() -> None:
            state.cancel_requested = True
            run.cancel()

        t0 = time.perf_counter()
        supervisors: list[asyncio.Task[None]] = []

        def supervise() -> None:
            # Both would sleep this long before doing anything: most jobs end sooner, and
            # then the two tasks (made, scheduled and cancelled per job) are never made.
            supervisors.append(asyncio.create_task(self._keep_alive(msg, waited=_PROGRESS_MIN_INTERVAL)))
            supervisors.append(
                asyncio.create_task(self._report_progress(state, job.task_id, attempt, cancel_job, waited=True))
            )

        self._cancellers[job.task_id] = cancel_job
        supervising: asyncio.TimerHandle | None = None
        try:
            if unstarted:
                ended = await self._start_late(msg, job, attempt, state, run)
                if ended is not None:
                    return ended
            # Progress reports and heartbeats only for an attempt the registry knows.
            supervising = asyncio.get_running_loop().call_later(_PROGRESS_MIN_INTERVAL, supervise)
            return await self._finish(job, attempt, state, run)
        finally:
            run.cancel()  # a no-op once it ended; stops it when the runtime itself failed
            if supervising is not None:
                supervising.cancel()
            for supervisor in supervisors:
                supervisor.cancel()
            if self._cancellers.get(job.task_id) is cancel_job:
                del self._cancellers[job.task_id]
            for workdir in workdirs:
                self._workdirs.give_back(workdir)
            metrics.JOB_DURATION.labels(job.task_type).observe(time.perf_counter() - t0)

    @staticmethod
    def _as_started(queued: tasks_pb2.Task, attempt: int) -> tasks_pb2.Task:
        """The job message's task as StartAttempt would answer it."""
        task = tasks_pb2.Task()
        task.CopyFrom(queued)
        task.status = tasks_pb2.Task.PROCESSING
        task.attempt = attempt
        task.stage, task.progress, task.queued_reason = "starting", 0, ""
        task.started_at.GetCurrentTime()
        task.ClearField("next_attempt_at")
        return task

    async def _start_late(
        self, msg: Msg, job: tasks_pb2.Job, attempt: int, state: AttemptState, run: asyncio.Task[JobResult]
    ) -> Outcome | None:
        """A quick job's run before its start: its outcome when it completed within
        QUICK_START_SECONDS (its completion carries the start); otherwise (still running,
        failed, cancelled) StartAttempt now, and None when the attempt goes on as any
        started one. A refused start stops the handler."""
        began = time.perf_counter()
        start = self._start_request(job, 1)
        done, _ = await asyncio.wait({run}, timeout=QUICK_START_SECONDS)
        if done and not run.cancelled() and run.exception() is None:
            return await self._complete(job, attempt, run.result(), state, start, time.perf_counter() - began)
        started = await self._starts.submit(start)
        if started.proceed and started.attempt == attempt:
            return None
        run.cancel()
        with contextlib.suppress(BaseException):
            await run
        if not started.proceed:
            return Outcome.not_started(started.reason)
        # The task moved on since its job was queued (another attempt number): run it
        # afresh as StartAttempt gave it.
        return await self._attempt(msg, job, started.task, started.attempt)

    async def _finish(
        self, job: tasks_pb2.Job, attempt: int, state: AttemptState, run: asyncio.Task[JobResult]
    ) -> Outcome:
        """Wait for the handler and record how it ended with the registry."""
        try:
            result = await self._with_last_logs(self._result_of(run, state, job.task_type), job.task_id, attempt, state)
        except JobCancelled:
            if state.superseded:
                return Outcome(OutcomeKind.SUPERSEDED)
            return await self._record_cancelled(job, attempt, state)
        except MediaTasksError as failure:
            return await self._fail(job, attempt, failure)
        except asyncio.CancelledError:
            await self._hand_back(job, attempt)
            raise
        except Exception as exc:
            outage = dependency_outage(exc)
            if outage is not None:
                # NATS or the database was away (a restart, an election): retryable, and
                # named as what it is rather than as a bug.
                log.warning("handler for %s: %s", job.task_type, outage.message)
                return await self._fail(job, attempt, outage)
            # A bug or an unexpected library error: retryable, bounded by max_attempts.
            log.exception("handler for %s raised", job.task_type)
            internal = MediaTasksError(
                grpc.StatusCode.INTERNAL, "INTERNAL", f"{type(exc).__name__}: {exc}", retryable=True
            )
            return await self._fail(job, attempt, internal)
        # Finished work is recorded, never failed: a registry that cannot be reached is
        # not the job's fault (see _complete).
        return await self._complete(job, attempt, result, state)

    async def _with_last_logs(
        self, outcome: Awaitable[JobResult], task_id: str, attempt: int, state: AttemptState
    ) -> JobResult:
        """The handler's result, or its exception once the log lines it wrote since the
        reporter's last round are with the registry: the reporter sends at most every
        0.25 s, and a handler that logs and then fails at once would otherwise lose the
        lines that say why. Not on worker shutdown. A result's last lines go with its
        CompleteTask (see _complete)."""
        try:
            return await outcome
        except asyncio.CancelledError:
            raise
        except BaseException:
            await self._send_last_logs(task_id, attempt, state)
            raise

    async def _send_last_logs(self, task_id: str, attempt: int, state: AttemptState) -> None:
        if not state.pending_logs or state.superseded:
            return
        progress, stage = state.latest
        request = tasks_pb2.ReportProgressRequest(
            task_id=task_id, attempt=attempt, progress=progress, stage=stage, log_lines=state.take_logs()
        )
        try:
            await self.registry.call(self.registry.stub.ReportProgress, request)
        except MediaTasksError as error:  # stale or cancelled meanwhile: the outcome says so next
            log.info("last log lines of attempt %d of %s not recorded: %s", attempt, task_id, error)

    async def _hand_back(self, job: tasks_pb2.Job, attempt: int) -> None:
        """The worker is stopping mid-job: give the task back to the registry so its next
        start uses no attempt budget (best effort; otherwise it counts as a lost attempt)."""
        error = common_pb2.TaskError(
            code="UNAVAILABLE", reason=WORKER_SHUTDOWN, message="worker stopped", retryable=True
        )
        try:
            await asyncio.wait_for(
                self.registry.call(
                    self.registry.stub.FailTask,
                    tasks_pb2.FailTaskRequest(task_id=job.task_id, attempt=attempt, error=error),
                ),
                timeout=2.0,
            )
        except Exception as exc:  # includes TimeoutError: the registry is gone too
            log.warning("could not hand %s back on shutdown: %s", job.task_id, exc)

    async def _result_of(self, run: asyncio.Task[JobResult], state: AttemptState, task_type: str) -> JobResult:
        """The handler's result, within the job timeout; :class:`JobCancelled` when it was
        cancelled; ``CancelledError`` (propagated) when the worker is shutting down."""
        try:
            # asyncio.wait, not wait_for: wait_for raises TimeoutError for a TimeoutError the
            # handler itself raised (a NATS or HTTP call timing out), which would pass for
            # the job's own time limit, and that one is retried once at most.
            limit = self.settings.job_timeout_for(task_type)
            finished, _ = await asyncio.wait({run}, timeout=limit)
            if not finished:
                run.cancel()
                with contextlib.suppress(BaseException):
                    await run
                raise MediaTasksError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "JOB_TIMEOUT",
                    f"the job ran longer than {limit:g}s (the limit of a {task_type} job)",
                    retryable=True,
                )
            return run.result()
        except asyncio.CancelledError:
            if not state.cancel_requested:
                run.cancel()
                raise  # worker shutdown
            raise JobCancelled() from None
        except JobCancelled:
            state.cancel_requested = True
            raise

    async def _complete(
        self,
        job: tasks_pb2.Job,
        attempt: int,
        result: JobResult,
        state: AttemptState,
        start: tasks_pb2.StartAttemptRequest | None = None,
        run_seconds: float = 0.0,
    ) -> Outcome:
        """Record the result; ``start``: the attempt was never started (a quick job), the
        registry starts it with this completion (``run_seconds``: how long it ran)."""
        inline, whole = await keep_inline_small(result.result, self.artifacts, job.owner)
        if whole is not None:
            result.artifacts.append(whole)
        output = tasks_pb2.TaskOutput(artifacts=result.artifacts, result_truncated=whole is not None)
        output.result.Pack(inline)
        request = tasks_pb2.CompleteTaskRequest(
            task_id=job.task_id,
            attempt=attempt,
            output=output,
            provider=result.provider,
            model=result.model,
            cost_usd=result.cost_usd,
            log_lines=state.take_logs(),
        )
        if start is not None:
            request.start.CopyFrom(start)
            request.run_seconds = run_seconds
        try:
            await self._completions.submit(request)
        except MediaTasksError as error:
            refused: Outcome | None
            if error.reason == START_REFUSED:
                # StartAttempt would not have let it run (cancelled, already running
                # elsewhere, capacity): settled as that refusal, the result dropped.
                refused = Outcome.not_started(error.metadata.get("start_reason", ""))
            else:
                refused = Outcome.complete_refused(error.reason)
            if refused is None:
                # The registry stayed unreachable: the message is left, AckWait redelivers
                # it and the job runs again; this attempt's outputs are nobody's.
                log.error("result of attempt %d of %s not recorded: %s", attempt, job.task_id, error)
                refused = Outcome(OutcomeKind.UNRECORDED)
            else:
                # A newer attempt owns the task, or it was cancelled: our result is not
                # the task's, so its artifacts would only take space.
                log.warning("result of attempt %d dropped: %s", attempt, error)
            await self.artifacts.delete_many(a.artifact_id for a in result.artifacts)
            return refused
        return Outcome(OutcomeKind.COMPLETED)

    async def _send_starts(
        self, batch: list[Pending[tasks_pb2.StartAttemptRequest, tasks_pb2.StartAttemptResponse]]
    ) -> None:
        """One StartAttempts call for ``batch``; retried while the registry is away (each
        start is idempotent per delivery), its error every start's once it gives up."""
        response = await self.registry.call_batch(
            self.registry.stub.StartAttempts,
            tasks_pb2.StartAttemptsRequest(attempts=[pending.item for pending in batch]),
            batch,
            partial(self._call_registry, self.registry.stub.StartAttempt),
            retry_for=self.settings.registry_retry_seconds,
        )
        if response is None:
            return
        for pending, started in zip(batch, response.attempts, strict=True):
            if not started.proceed and started.reason == ANSWER_ALONE:
                answer_alone(pending, partial(self._call_registry, self.registry.stub.StartAttempt, pending.item))
            else:
                pending.resolve(started)

    async def _send_completions(self, batch: list[Pending[tasks_pb2.CompleteTaskRequest, None]]) -> None:
        """One CompleteTasks call for ``batch``: each completion recorded, or refused with
        the error CompleteTask would have raised."""
        response = await self.registry.call_batch(
            self.registry.stub.CompleteTasks,
            tasks_pb2.CompleteTasksRequest(completions=[pending.item for pending in batch]),
            batch,
            partial(self._call_registry, self.registry.stub.CompleteTask),
            retry_for=self.settings.registry_retry_seconds,
        )
        if response is None:
            return
        for pending, status in zip(batch, response.results, strict=True):
            if status.code == 0:
                pending.resolve(None)
            elif answered_alone(status):
                answer_alone(pending, partial(self._call_registry, self.registry.stub.CompleteTask, pending.item))
            else:
                pending.fail(error_from_status(status))

    async def _call_registry(self, method: Callable[..., Any], request: Any) -> Any:
        return await self.registry.call(method, request, retry_for=self.settings.registry_retry_seconds)

    async def _record_cancelled(self, job: tasks_pb2.Job, attempt: int, state: AttemptState) -> Outcome:
        error = common_pb2.TaskError(code="CANCELLED", reason="CANCELLED", message="cancelled by the client")
        request = tasks_pb2.FailTaskRequest(
            task_id=job.task_id, attempt=attempt, error=error, cancel_confirmed=state.cancel_confirmed
        )
        try:
            await self.registry.call(
                self.registry.stub.FailTask, request, retry_for=self.settings.registry_retry_seconds
            )
        except MediaTasksError as refusal:
            # The registry did not confirm the task is cancelled (it answered stale: a newer
            # attempt owns it): the message may be that attempt's, so it is left alone.
            log.info("cancelled attempt %d not recorded: %s", attempt, refusal)
            return Outcome.fail_refused(refusal.reason) or Outcome(OutcomeKind.SUPERSEDED)
        return Outcome(OutcomeKind.CANCELLED)

    async def _fail(self, job: tasks_pb2.Job, attempt: int, failure: MediaTasksError) -> Outcome:
        retryable = retry_allowed(failure.reason, failure.retryable, attempt)
        error = common_pb2.TaskError(
            code=failure.code.name, reason=failure.reason, message=failure.message, retryable=retryable
        )
        try:
            response = await self.registry.call(
                self.registry.stub.FailTask,
                tasks_pb2.FailTaskRequest(task_id=job.task_id, attempt=attempt, error=error),
                retry_for=self.settings.registry_retry_seconds,
            )
        except MediaTasksError as exc:
            refused = Outcome.fail_refused(exc.reason)
            if refused is None:
                raise
            return refused
        return Outcome.failed(requeued=response.requeued, retry_delay_seconds=response.retry_delay_seconds)

    # --- supervising one job -------------------------------------------------------------

    async def _report_progress(
        self, state: AttemptState, task_id: str, attempt: int, cancel_job: Callable[[], None], *, waited: bool = False
    ) -> None:
        """Send the job's latest progress and logs, at most every _PROGRESS_MIN_INTERVAL,
        and at least every AckWait even when nothing changed: that report is the attempt's
        sign of life to the registry's reconciler. ``waited``: started that interval after
        the attempt, so the first round goes at once."""
        sent: Progress = STARTING
        beat = max(1.0, self.settings.ack_wait_seconds)
        last_report = time.monotonic() - (_PROGRESS_MIN_INTERVAL if waited else 0.0)
        pause = 0.0 if waited else _PROGRESS_MIN_INTERVAL
        while True:
            await asyncio.sleep(pause)
            pause = _PROGRESS_MIN_INTERVAL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), timeout=max(0.0, last_report + beat - time.monotonic()))
            state.changed.clear()
            due = time.monotonic() - last_report >= beat
            if state.latest == sent and not state.pending_logs and not due:
                continue
            sent, logs = state.latest, state.take_logs()
            last_report = time.monotonic()
            try:
                response = await self.registry.call(
                    self.registry.stub.ReportProgress,
                    tasks_pb2.ReportProgressRequest(
                        task_id=task_id, attempt=attempt, progress=sent[0], stage=sent[1], log_lines=logs
                    ),
                )
            except MediaTasksError as error:
                if error.reason == STALE_ATTEMPT:
                    # A newer attempt owns the task: this one's work is wasted; stop it
                    # without touching the message (it may be the newer attempt's).
                    log.warning("attempt %d of %s is stale; stopping it", attempt, task_id)
                    state.superseded = True
                    cancel_job()
                    return
                log.warning("progress report failed: %s", error)
                continue
            if response.cancel_requested:
                cancel_job()
                return

    async def _keep_alive(self, msg: Msg, *, waited: float = 0.0) -> None:
        """Tell JetStream the job is still being worked on, every third of AckWait;
        ``waited``: seconds since the attempt started."""
        interval = max(0.5, self.settings.ack_wait_seconds / 3)
        pause = max(0.0, interval - waited)
        while True:
            await asyncio.sleep(pause)
            pause = interval
            try:
                await msg.in_progress()
            except Exception as exc:
                log.warning("in_progress heartbeat failed: %s", exc)


async def _call(handler: JobHandler, ctx: JobContext) -> JobResult:
    """``handler(ctx)`` as a coroutine (a handler may return any awaitable), for create_task."""
    return await handler(ctx)
