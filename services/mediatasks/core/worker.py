"""The worker runtime every media service runs its jobs on.

One :class:`Worker` per process serves one or more task types. For each type it pulls
from four durable consumers (one per priority) of MEDIATASKS_JOBS, always trying the
highest priority first but starting from the lowest one on every
``LOW_PRIORITY_SHARE``-th pick so that low priorities never starve. A core-NATS
"doorbell" subscription on the job subjects wakes idle workers the moment a job is
published, so an idle worker costs nothing and a new job starts within a round trip.

For each job: StartAttempt (fencing number), run the handler while heart-beating the
message with ``in_progress()``, listen for cancellation, then CompleteTask or FailTask,
then ack (or nak with the registry's backoff). A job delivered more than
``max_deliver`` times goes to MEDIATASKS_DLQ and its task to FAILED
``DELIVERY_EXHAUSTED``.
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
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import nats.errors
from google.protobuf.message import Message

from mediatasks.core import metrics, topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.clients import RegistryClient
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.logs import current_task_id
from mediatasks.core.settings import Settings
from mediatasks.v1 import common_pb2, tasks_pb2

log = logging.getLogger(__name__)

LOW_PRIORITY_SHARE = 8  # every 8th pick starts from the lowest priority
_IDLE_POLL_SECONDS = 0.5  # also catches AckWait and nak-delay redeliveries (no doorbell)
_PROGRESS_MIN_INTERVAL = 0.25


class JobCancelled(Exception):
    """Raised inside a handler's context when the task was cancelled by a client."""


@dataclass
class JobResult:
    """What a handler returns: the typed result and the artifacts it stored."""

    result: Message
    artifacts: list[common_pb2.Artifact] = field(default_factory=list)
    provider: str = "local"
    model: str = ""
    cost_usd: float = 0.0


@dataclass
class JobContext:
    """Everything a job handler needs; created by the runtime for one attempt.

    Progress is sent by a background reporter, not by the handler's own await: a handler
    records its progress and goes on, and the latest state reaches the registry at most
    every ``_PROGRESS_MIN_INTERVAL`` seconds (a job that ends sooner sends none at all).
    """

    task: tasks_pb2.Task
    attempt: int
    workdir: Path
    settings: Settings
    artifacts: ArtifactStore
    # The process's ProviderRouter (mediatasks.providers.router), for cloud-backed jobs.
    providers: object | None = None
    cancel_requested: bool = False
    # Set by provider adapters: whether the vendor confirmed it stopped the work.
    cancel_confirmed: bool = False
    latest: tuple[int, str] = (0, "starting")
    pending_logs: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def owner(self) -> str:
        return self.task.owner

    def input(self, message_type: type[Message]) -> Message:
        """The task's typed request."""
        request = message_type()
        if not self.task.input.Unpack(request):
            raise MediaTasksError(
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", f"task input is not a {message_type.__name__}"
            )
        return request

    def log(self, line: str) -> None:
        """Queue a log line for the task (sent with the next progress report)."""
        self.pending_logs.append(line)
        self.changed.set()

    async def progress(self, percent: float, stage: str) -> None:
        """Record progress (0–100) and the current stage; the runtime reports it."""
        if self.cancel_requested:
            raise JobCancelled()
        value = (max(0, min(100, int(percent))), stage)
        if value != self.latest:
            self.latest = value
            self.changed.set()


JobHandler = Callable[[JobContext], Awaitable[JobResult]]


class Worker:
    """Pulls and runs the jobs of the given task types."""

    def __init__(
        self,
        settings: Settings,
        nc,
        js,
        registry: RegistryClient,
        artifacts: ArtifactStore,
        handlers: dict[str, JobHandler],
        *,
        concurrency: int | None = None,
        providers: object | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.nc = nc
        self.js = js
        self.registry = registry
        self.artifacts = artifacts
        self.handlers = handlers
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._slots = asyncio.Semaphore(self.concurrency)
        self._doorbell = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[str, asyncio.Task] = {}
        self._picks = 0
        self._subs: list = []

    # --- fetching -------------------------------------------------------------------

    async def _setup(self) -> None:
        for task_type in self.handlers:
            for priority in topology.PRIORITIES:
                await topology.ensure_job_consumer(self.js, task_type, priority, self.settings)

            async def ring(_msg) -> None:
                self._doorbell.set()

            self._subs.append(await self.nc.subscribe(f"mediatasks.jobs.{task_type}.*", cb=ring))
        self._liveness = await topology.ensure_kv(self.js, topology.WORKERS_BUCKET, ttl=topology.WORKERS_TTL_SECONDS)
        self._inbox = self.nc.new_inbox()
        self._pull_sub = await self.nc.subscribe(self._inbox, pending_msgs_limit=1024)
        self._subs.append(self._pull_sub)

    def _pick_order(self) -> list[tuple[str, str]]:
        """(task type, priority) pairs in the order to try for this pick."""
        self._picks += 1
        priorities = list(topology.PRIORITIES)
        if self._picks % LOW_PRIORITY_SHARE == 0:
            priorities.reverse()
        types = list(self.handlers)
        shift = self._picks % len(types)
        types = types[shift:] + types[:shift]
        return [(t, p) for p in priorities for t in types]

    async def _pull(self, task_type: str, priority: str):
        """One job from one consumer without waiting, or None when it has none.

        Pull requests carry this worker's own inbox as reply subject: JetStream delivers
        a pulled message with its original subject, which the client's request/reply
        muxer cannot route, so a plain subscription on a private inbox receives them.
        """
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{topology.JOBS_STREAM}.{topology.job_consumer(task_type, priority)}"
        await self.nc.publish(subject, b'{"batch":1,"no_wait":true}', reply=self._inbox)
        while True:
            try:
                msg = await self._pull_sub.next_msg(timeout=2.0)
            except (nats.errors.TimeoutError, TimeoutError):
                return None
            status = msg.headers.get("Status") if msg.headers else None
            if status == "100":
                continue  # idle heartbeat
            if status:
                return None  # 404 No Messages, 408 Request Timeout, 409 ...
            return msg

    async def _next_job(self):
        while not self._stopping.is_set():
            self._doorbell.clear()
            for task_type, priority in self._pick_order():
                msg = await self._pull(task_type, priority)
                if msg is not None:
                    return msg
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._doorbell.wait(), timeout=_IDLE_POLL_SECONDS)
        return None

    async def _heartbeat_liveness(self) -> None:
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
        await self._setup_with_retries()
        if self._stopping.is_set():
            return
        beat = asyncio.create_task(self._heartbeat_liveness())
        log.info("worker %s serving %s (concurrency %d)", self.worker_id, ",".join(self.handlers), self.concurrency)
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                try:
                    msg = await self._next_job()
                except Exception:
                    self._slots.release()
                    log.exception("fetching a job failed")
                    metrics.ERRORS.labels("worker", "FETCH").inc()
                    await asyncio.sleep(1.0)
                    continue
                if msg is None:
                    self._slots.release()
                    break
                key = f"{msg.reply}"
                task = asyncio.create_task(self._run_job(msg))
                self._running[key] = task
                task.add_done_callback(lambda _t, k=key: (self._running.pop(k, None), self._slots.release()))
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

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

    # --- running one job ---------------------------------------------------------------

    async def _run_job(self, msg) -> None:
        job = tasks_pb2.Job.FromString(msg.data)
        token = current_task_id.set(job.task_id)
        try:
            await self._run_job_inner(msg, job)
        except asyncio.CancelledError:
            # Worker shutdown: give the job back for immediate redelivery elsewhere.
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except Exception:
            log.exception("job %s crashed the runtime; it will be redelivered", job.task_id)
            metrics.ERRORS.labels("worker", "RUNTIME").inc()
        finally:
            current_task_id.reset(token)

    async def _dead_letter(self, msg, job: tasks_pb2.Job, deliveries: int) -> None:
        reason = f"delivered {deliveries} times without finishing (max_deliver={self.settings.max_deliver})"
        headers = {
            "Nats-Msg-Id": f"{job.task_id}:dlq:{msg.metadata.sequence.stream}",
            "Mediatasks-Reason": reason,
            "Mediatasks-Deliveries": str(deliveries),
            "Mediatasks-Task-Type": job.task_type,
        }
        await self.js.publish(topology.dlq_subject(job.task_type), msg.data, headers=headers)
        error = common_pb2.TaskError(code="ABORTED", reason="DELIVERY_EXHAUSTED", message=reason, retryable=False)
        await self.registry.call(
            self.registry.stub.FailTask,
            tasks_pb2.FailTaskRequest(task_id=job.task_id, attempt=0, error=error),
            retries=3,
        )
        await msg.term()
        metrics.JOBS.labels(job.task_type, "dead_lettered").inc()
        log.error("job %s dead-lettered: %s", job.task_id, reason)

    async def _run_job_inner(self, msg, job: tasks_pb2.Job) -> None:
        deliveries = msg.metadata.num_delivered
        if deliveries > self.settings.max_deliver:
            await self._dead_letter(msg, job, deliveries)
            return
        started = await self.registry.call(
            self.registry.stub.StartAttempt,
            tasks_pb2.StartAttemptRequest(task_id=job.task_id, delivery_count=deliveries, worker_id=self.worker_id),
            retries=3,
        )
        if not started.proceed:
            if started.reason == "CAPACITY":
                await msg.nak(delay=1.0)
            else:
                await msg.ack()
            return
        handler = self.handlers[job.task_type]
        workdir = Path(tempfile.mkdtemp(prefix=f"mt-{job.task_id[:8]}-", dir=self.settings.work_dir or None))
        attempt = started.attempt

        ctx = JobContext(
            task=started.task,
            attempt=attempt,
            workdir=workdir,
            settings=self.settings,
            artifacts=self.artifacts,
            providers=self.providers,
        )
        run = asyncio.create_task(handler(ctx))

        def cancel_job() -> None:
            ctx.cancel_requested = True
            run.cancel()

        async def on_cancel(_m) -> None:
            cancel_job()

        cancel_sub = await self.nc.subscribe(topology.cancel_subject(job.task_id), cb=on_cancel)
        heartbeat = asyncio.create_task(self._keep_alive(msg))
        reporter = asyncio.create_task(self._report_progress(ctx, job.task_id, attempt, cancel_job))
        t0 = time.perf_counter()
        outcome = "completed"
        try:
            try:
                result = await asyncio.wait_for(asyncio.shield(run), timeout=self.settings.job_timeout_seconds)
            except TimeoutError:
                run.cancel()
                with contextlib.suppress(BaseException):
                    await run
                raise MediaTasksError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "JOB_TIMEOUT",
                    f"the job ran longer than {self.settings.job_timeout_seconds:.0f}s",
                    retryable=True,
                ) from None
            except asyncio.CancelledError:
                if not ctx.cancel_requested:
                    run.cancel()
                    raise  # worker shutdown
                raise JobCancelled() from None
            except JobCancelled:
                ctx.cancel_requested = True
                raise
            output = tasks_pb2.TaskOutput(artifacts=result.artifacts)
            output.result.Pack(result.result)
            try:
                await self.registry.call(
                    self.registry.stub.CompleteTask,
                    tasks_pb2.CompleteTaskRequest(
                        task_id=job.task_id,
                        attempt=attempt,
                        output=output,
                        provider=result.provider,
                        model=result.model,
                        cost_usd=result.cost_usd,
                    ),
                    retries=5,
                )
            except MediaTasksError as error:
                if error.reason in ("STALE_ATTEMPT", "TASK_CANCELLED"):
                    # A newer attempt owns the task (or it was cancelled): drop our result and
                    # leave the message to whoever holds it now.
                    outcome = "stale"
                    log.warning("result of attempt %d dropped: %s", attempt, error)
                    await self.artifacts.delete_many(a.artifact_id for a in result.artifacts)
                    if error.reason == "TASK_CANCELLED":
                        await msg.ack()
                    return
                raise
            await msg.ack()
        except JobCancelled:
            outcome = "cancelled"
            error = common_pb2.TaskError(code="CANCELLED", reason="CANCELLED", message="cancelled by the client")
            with contextlib.suppress(MediaTasksError):
                await self.registry.call(
                    self.registry.stub.FailTask,
                    tasks_pb2.FailTaskRequest(
                        task_id=job.task_id, attempt=attempt, error=error, cancel_confirmed=ctx.cancel_confirmed
                    ),
                )
            await msg.ack()
        except MediaTasksError as failure:
            outcome = "retry" if failure.retryable else "failed"
            await self._fail(msg, job, attempt, failure)
        except Exception as exc:
            # A bug or an unexpected library error: retryable, bounded by max_attempts.
            outcome = "retry"
            log.exception("handler for %s raised", job.task_type)
            failure = MediaTasksError(
                grpc.StatusCode.INTERNAL, "INTERNAL", f"{type(exc).__name__}: {exc}", retryable=True
            )
            await self._fail(msg, job, attempt, failure)
        finally:
            heartbeat.cancel()
            reporter.cancel()
            with contextlib.suppress(Exception):
                await cancel_sub.unsubscribe()
            shutil.rmtree(workdir, ignore_errors=True)
            metrics.JOBS.labels(job.task_type, outcome).inc()
            metrics.JOB_DURATION.labels(job.task_type).observe(time.perf_counter() - t0)

    async def _fail(self, msg, job: tasks_pb2.Job, attempt: int, failure: MediaTasksError) -> None:
        error = common_pb2.TaskError(
            code=failure.code.name, reason=failure.reason, message=failure.message, retryable=failure.retryable
        )
        try:
            response = await self.registry.call(
                self.registry.stub.FailTask,
                tasks_pb2.FailTaskRequest(task_id=job.task_id, attempt=attempt, error=error),
                retries=5,
            )
        except MediaTasksError as exc:
            if exc.reason in ("STALE_ATTEMPT", "TASK_CANCELLED"):
                return
            raise
        if response.requeued:
            await msg.nak(delay=response.retry_delay_seconds)
        else:
            await msg.ack()

    async def _report_progress(self, ctx: JobContext, task_id: str, attempt: int, cancel_job) -> None:
        """Send the job's latest progress and logs, at most every _PROGRESS_MIN_INTERVAL."""
        sent: tuple[int, str] = (0, "starting")
        while True:
            await asyncio.sleep(_PROGRESS_MIN_INTERVAL)
            await ctx.changed.wait()
            ctx.changed.clear()
            if ctx.latest == sent and not ctx.pending_logs:
                continue
            sent, logs, ctx.pending_logs = ctx.latest, ctx.pending_logs, []
            try:
                response = await self.registry.call(
                    self.registry.stub.ReportProgress,
                    tasks_pb2.ReportProgressRequest(
                        task_id=task_id, attempt=attempt, progress=sent[0], stage=sent[1], log_lines=logs
                    ),
                )
            except MediaTasksError as error:
                if error.reason == "STALE_ATTEMPT":
                    # A newer attempt owns the task: this one's work is wasted; stop it.
                    log.warning("attempt %d of %s is stale; stopping it", attempt, task_id)
                    cancel_job()
                    return
                log.warning("progress report failed: %s", error)
                continue
            if response.cancel_requested:
                cancel_job()
                return

    async def _keep_alive(self, msg) -> None:
        interval = max(0.5, self.settings.ack_wait_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await msg.in_progress()
            except Exception as exc:
                log.warning("in_progress heartbeat failed: %s", exc)
