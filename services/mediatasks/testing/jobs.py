"""Run one job handler without the worker, as Temporal's ``ActivityEnvironment`` runs one
activity: no queue, no registry, but a real :class:`~mediatasks.core.worker.JobContext`
on a real artifact store.

::

    env = JobEnvironment(settings, ArtifactStore(js, settings), owner="alice")
    result = await env.run(partial(generate_subtitles, router), GenerateSubtitlesRequest(text="Hi."))
    assert env.progress[-1] == (95, "uploading")

Every progress change and log line the handler makes is recorded (the worker only
reports the latest value every quarter second; a test wants them all), and
:meth:`JobEnvironment.cancel` cancels the job the way a client's CancelTask does.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.catalog import kind_for_request
from mediatasks.core.settings import Settings
from mediatasks.core.worker import JobCancelled, JobContext, JobHandler, JobResult

# A JobEnvironment is a runner of jobs like the Worker, so it holds the runner's side of
# the attempt (progress, logs, cancel flags) that handlers never see.
from mediatasks.core.worker._attempt import AttemptState
from mediatasks.v1 import tasks_pb2


class JobEnvironment:
    """Runs job handlers one at a time, recording what they report."""

    def __init__(
        self,
        settings: Settings,
        artifacts: ArtifactStore,
        *,
        owner: str = "test-owner",
        priority: str = "medium",
        attempt: int = 1,
    ) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.owner = owner
        self.priority = priority
        self.attempt = attempt
        # (percent, stage) of every progress change, and every log line, in order.
        self.progress: list[tuple[int, str]] = []
        self.logs: list[str] = []
        # Called with each progress change as it is made (e.g. to cancel at a stage).
        self.on_progress: Callable[[int, str], None] | None = None
        # What the last run's provider calls recorded through JobContext.confirm_cancel.
        self.cancel_confirmed = False
        self._state: AttemptState | None = None
        self._running: asyncio.Task[JobResult] | None = None

    async def run(
        self,
        handler: JobHandler,
        request: Message,
        *,
        task_type: str | None = None,
        task_id: str | None = None,
    ) -> JobResult:
        """Run ``handler`` on a task whose input is ``request`` and return its result.

        The task type is the catalog's for ``request`` unless given. Raises what the
        handler raises, and :class:`JobCancelled` when :meth:`cancel` stopped it. The
        work directory is removed afterwards; stored artifacts are kept for the test to
        read.
        """
        task = tasks_pb2.Task(
            task_id=task_id or str(uuid.uuid4()),
            task_type=task_type or kind_for_request(request).task_type,
            status=tasks_pb2.Task.PROCESSING,
            priority=self.priority,
            owner=self.owner,
            attempt=self.attempt,
        )
        task.input.Pack(request)
        self.progress, self.logs, self.cancel_confirmed = [], [], False
        state = AttemptState(on_progress=self._record_progress, on_log=self.logs.append)
        workdir = Path(tempfile.mkdtemp(prefix=f"mt-env-{task.task_id[:8]}-", dir=self.settings.work_dir or None))
        ctx = JobContext(
            task, attempt=self.attempt, workdir=workdir, settings=self.settings, artifacts=self.artifacts, state=state
        )
        self._state = state
        self._running = asyncio.create_task(_call(handler, ctx))
        try:
            return await self._running
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if state.cancel_requested and not (current and current.cancelling()):
                raise JobCancelled() from None
            raise  # the caller itself was cancelled
        finally:
            self.cancel_confirmed = state.cancel_confirmed
            self._state = self._running = None
            shutil.rmtree(workdir, ignore_errors=True)

    def cancel(self) -> None:
        """Cancel the running job as a client's CancelTask does: the handler is cancelled
        at its next await, and its next ``ctx.progress()`` raises :class:`JobCancelled`."""
        if self._state is None or self._running is None:
            raise RuntimeError("no job is running")
        self._state.cancel_requested = True
        self._running.cancel()

    def _record_progress(self, percent: int, stage: str) -> None:
        self.progress.append((percent, stage))
        if self.on_progress is not None:
            self.on_progress(percent, stage)


async def _call(handler: JobHandler, ctx: JobContext) -> JobResult:
    return await handler(ctx)
