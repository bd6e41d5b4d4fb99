"""The API a job handler is written against: :class:`JobContext` in, :class:`JobResult` out.

A handler is ``async def handler(ctx: JobContext) -> JobResult``. It reads its typed request
with :meth:`JobContext.input`, works in :attr:`JobContext.workdir`, stores its outputs in
:attr:`JobContext.artifacts`, and tells the runtime how far it is with
:meth:`JobContext.progress` and :meth:`JobContext.log`. Everything else (acks, heartbeats,
reporting to the registry, retries) is the runtime's business and not reachable from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.core.worker._attempt import AttemptState
from mediatasks.v1 import common_pb2, tasks_pb2

RequestT = TypeVar("RequestT", bound=Message)


class JobCancelled(Exception):
    """Raised inside a handler when a client cancelled its task (or a newer attempt took it
    over). A handler may let it propagate or raise it itself; either way the task ends
    CANCELLED, not FAILED."""


@dataclass
class JobResult:
    """What a handler returns: the typed result and the artifacts it stored."""

    result: Message
    artifacts: list[common_pb2.Artifact] = field(default_factory=list)
    provider: str = "local"
    model: str = ""
    cost_usd: float = 0.0


class JobContext:
    """Everything a job handler needs, for one attempt at one task.

    Progress is sent by the runtime in the background, not by the handler's own await: a
    handler records its progress and goes on, and the latest value reaches the registry at
    most every quarter second (a job that ends sooner sends none at all).
    """

    def __init__(
        self,
        task: tasks_pb2.Task,
        *,
        attempt: int,
        workdir: Path | Callable[[], Path],
        settings: Settings,
        artifacts: ArtifactStore,
        state: AttemptState | None = None,
    ) -> None:
        """``state`` is the runner's side of the attempt (the worker passes the one its
        reporter reads); without it the context keeps a fresh one nobody reads.
        ``workdir`` may be a function making the directory, called when a handler first
        asks for it (most jobs never write a file)."""
        self._task = task
        self._attempt = attempt
        self._workdir = workdir
        self._settings = settings
        # Outputs are named after this attempt, so a crashed attempt's can be found later.
        self._artifacts = artifacts.for_attempt(task.task_id, attempt)
        self._state = state if state is not None else AttemptState()
        # Bytes of inputs fetched so far, against MEDIATASKS_MAX_JOB_INPUT_BYTES.
        self.input_bytes = 0

    @property
    def task_id(self) -> str:
        """The task's id: a handler's outputs are idempotent on it (a job may run again)."""
        return self._task.task_id

    @property
    def task_type(self) -> str:
        """The task type, e.g. ``"subtitle_generation"``."""
        return self._task.task_type

    @property
    def owner(self) -> str:
        """Who the task belongs to; stored artifacts should carry the same owner."""
        return self._task.owner

    @property
    def priority(self) -> str:
        """The queue priority the task was submitted with."""
        return self._task.priority

    @property
    def attempt(self) -> int:
        """This attempt's number (1 for the first run, higher on retries)."""
        return self._attempt

    @property
    def workdir(self) -> Path:
        """A directory of this attempt's own, removed when the attempt ends."""
        if not isinstance(self._workdir, Path):
            self._workdir = self._workdir()
        return self._workdir

    @property
    def settings(self) -> Settings:
        """The process's settings (timeouts, limits, provider keys)."""
        return self._settings

    @property
    def job_timeout_seconds(self) -> float:
        """How long this attempt may run (MEDIATASKS_JOB_TIMEOUTS for its type, else
        MEDIATASKS_JOB_TIMEOUT_SECONDS): a deadline for the calls it makes."""
        return self._settings.job_timeout_for(self.task_type)

    @property
    def artifacts(self) -> ArtifactStore:
        """Where inputs are read from and outputs are stored."""
        return self._artifacts

    @property
    def cancelled(self) -> bool:
        """Whether the task was cancelled; the next :meth:`progress` raises :class:`JobCancelled`."""
        return self._state.cancel_requested

    def input(self, message_type: type[RequestT]) -> RequestT:
        """The task's typed request; ``INVALID_INPUT`` when it is not a ``message_type``."""
        request = message_type()
        if not self._task.input.Unpack(request):
            raise MediaTasksError(
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", f"task input is not a {message_type.__name__}"
            )
        return request

    async def progress(self, percent: float, stage: str) -> None:
        """Record progress (0–100, clamped) and the current stage; the runtime reports it.

        Raises :class:`JobCancelled` once the task was cancelled, so a handler that reports
        progress between its steps stops at the next step without checking anything.
        """
        if self._state.cancel_requested:
            raise JobCancelled()
        if stage and stage != self._state.latest[1]:
            self._state.add_log(f"stage: {stage}")
        self._state.set_progress((max(0, min(100, int(percent))), stage))

    def log(self, line: str) -> None:
        """Add a line to the task's log (sent with the next progress report)."""
        self._state.add_log(line)

    def confirm_cancel(self, confirmed: bool) -> None:
        """Record whether the vendor confirmed it stopped the work of a cancelled call.

        The registry shows it on the cancelled task: ``False`` warns that the vendor may
        still finish (and bill) the work.
        """
        self._state.cancel_confirmed = confirmed


JobHandler = Callable[[JobContext], Awaitable[JobResult]]
