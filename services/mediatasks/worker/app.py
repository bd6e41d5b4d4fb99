"""Declaring task types: :class:`TaskApp`, the ``task`` decorator, :class:`TaskHandler`."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc
import jsonschema  # type: ignore[import-untyped]
from google.protobuf import json_format, struct_pb2

from mediatasks.core import topology
from mediatasks.core.catalog import check_declared_type_name
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.worker import JobContext, JobHandler, JobResult, QuickJob
from mediatasks.v1 import background_pb2, common_pb2, tasks_pb2


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: retry ``n`` waits ``base_delay * backoff_factor**(n-1)``
    seconds (at most ``max_delay``), ±20%. The default gives 60 s, 120 s, 240 s, then the
    task fails for good."""

    max_retries: int = 3
    base_delay: float = 60.0
    backoff_factor: float = 2.0
    max_delay: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= 9:
            raise ValueError("max_retries must be between 0 and 9")
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not math.isfinite(self.backoff_factor) or self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")

    def delays(self) -> list[float]:
        """The delay before each retry, without jitter."""
        return [min(self.base_delay * self.backoff_factor**step, self.max_delay) for step in range(self.max_retries)]


class TaskFailed(Exception):
    """Raise to fail the task for good (bad payload, a refusal): it is not retried."""

    def __init__(self, message: str, *, reason: str = "TASK_FAILED") -> None:
        super().__init__(message)
        self.reason = reason


class TransientError(Exception):
    """Raise for a failure worth retrying (a service down, a timeout): the task is
    retried on its type's schedule while it has retries left. Any other unexpected
    exception is retried the same way."""

    def __init__(self, message: str, *, reason: str = "TRANSIENT_FAILURE") -> None:
        super().__init__(message)
        self.reason = reason


class BackgroundTask:
    """One attempt at one task, as its handler sees it."""

    def __init__(self, context: JobContext, name: str, payload: dict[str, Any]) -> None:
        self.context = context
        self.name = name
        self.payload = payload
        self.artifacts: list[common_pb2.Artifact] = []

    @property
    def id(self) -> str:
        return self.context.task_id

    @property
    def task_type(self) -> str:
        return self.context.task_type

    @property
    def attempt(self) -> int:
        return self.context.attempt

    @property
    def owner(self) -> str:
        return self.context.owner

    @property
    def cancelled(self) -> bool:
        return self.context.cancelled

    async def update_progress(self, progress: float, message: str) -> None:
        """Progress as a fraction (0.5) or a percent (50), with what is happening now.
        Raises :class:`~mediatasks.core.worker.JobCancelled` once the task was cancelled."""
        percent = progress * 100 if 0 <= progress <= 1 else progress
        await self.context.progress(percent, message)

    def log(self, line: str) -> None:
        """Add a line to the task's log."""
        self.context.log(line)

    async def store_artifact(
        self, data: bytes, *, filename: str, content_type: str, role: str = "output"
    ) -> common_pb2.Artifact:
        """Store a file the task produced; it is listed in the task's ``artifacts``."""
        artifact = await self.context.artifacts.put_bytes(
            data, content_type=content_type, filename=filename, owner=self.owner, role=role
        )
        self.artifacts.append(artifact)
        return artifact


TaskFunction = Callable[[BackgroundTask], Awaitable[dict[str, Any] | None]]


@dataclass
class TaskDefinition:
    """A task type: its name, handler, payload schema, priority and retry policy."""

    name: str
    run: TaskFunction
    payload_schema: dict[str, Any] = field(default_factory=dict)
    priority: str = "normal"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    description: str = ""
    builtin: bool = False
    # A promise that a job is a few milliseconds of local work: it then runs before its
    # start is recorded, which rides on its completion (see core/worker/runtime.py).
    quick: bool = False

    def __post_init__(self) -> None:
        check_declared_type_name(self.name)
        if topology.priority_of(self.priority) is None:
            raise ValueError(f"{self.name}: unknown priority {self.priority!r}")
        jsonschema.validators.validator_for(self.payload_schema).check_schema(self.payload_schema)

    def spec(self) -> background_pb2.TaskTypeSpec:
        """The declaration the worker sends the registry."""
        spec = background_pb2.TaskTypeSpec(
            name=self.name,
            description=self.description,
            default_priority=self.priority,
            builtin=self.builtin,
            retry=background_pb2.RetryPolicySpec(
                max_retries=self.retry.max_retries,
                base_delay_seconds=self.retry.base_delay,
                backoff_factor=self.retry.backoff_factor,
                max_delay_seconds=self.retry.max_delay,
            ),
        )
        json_format.ParseDict(self.payload_schema, spec.payload_schema)
        return spec

    def job_handler(self) -> JobHandler:
        """The handler the runtime calls: payload in, the returned dict out as the result."""

        async def handle(ctx: JobContext) -> JobResult:
            given = ctx.input(background_pb2.BackgroundInput)
            task = BackgroundTask(ctx, given.name, plain_json(json_format.MessageToDict(given.payload)))
            try:
                value = await self.run(task)
            except TaskFailed as failure:
                raise MediaTasksError(grpc.StatusCode.FAILED_PRECONDITION, failure.reason, str(failure)) from None
            except TransientError as failure:
                raise MediaTasksError(
                    grpc.StatusCode.UNAVAILABLE, failure.reason, str(failure), retryable=True
                ) from None
            return JobResult(_result(self.name, value), artifacts=task.artifacts)

        return handle


def plain_json(value: Any) -> Any:
    """``value`` with whole floats as ints: a protobuf Struct keeps every JSON number as a
    double, so a payload's ``6`` would reach a handler as ``6.0`` (and break ``range``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


def _result(name: str, value: Any) -> background_pb2.BackgroundResult:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise MediaTasksError(
            grpc.StatusCode.INTERNAL, "BAD_RESULT", f"the {name} handler returned {type(value).__name__}, not a dict"
        )
    struct = struct_pb2.Struct()
    try:
        # Through JSON: what cannot be said in JSON is refused here, not half-stored.
        json_format.ParseDict(json.loads(json.dumps(value)), struct)
    except (TypeError, ValueError, json_format.ParseError) as exc:
        raise MediaTasksError(
            grpc.StatusCode.INTERNAL, "BAD_RESULT", f"the {name} handler's result is not JSON: {exc}"
        ) from None
    return background_pb2.BackgroundResult(result=struct)


class TaskHandler:
    """A task type written as a class (the seed's style)::

    class Report(TaskHandler):
        task_type = "report"
        payload_schema = {"type": "object"}

        async def execute(self, task: BackgroundTask) -> dict:
            await self.update_progress(task, 0.5, "half way")
            return {"status": "completed"}
    """

    task_type: ClassVar[str] = ""
    payload_schema: ClassVar[dict[str, Any]] = {}
    priority: ClassVar[str] = "normal"
    retry: ClassVar[RetryPolicy] = RetryPolicy()
    description: ClassVar[str] = ""
    quick: ClassVar[bool] = False  # see TaskApp.task

    async def execute(self, task: BackgroundTask) -> dict[str, Any] | None:
        raise NotImplementedError

    async def update_progress(self, task: BackgroundTask, progress: float, message: str) -> None:
        await task.update_progress(progress, message)


class TaskApp:
    """The task types one worker process runs (``mediatasks worker --app module:attribute``)."""

    def __init__(self) -> None:
        self.definitions: dict[str, TaskDefinition] = {}

    def add(self, definition: TaskDefinition) -> TaskDefinition:
        if definition.name in self.definitions:
            raise ValueError(f"task type {definition.name!r} is declared twice")
        self.definitions[definition.name] = definition
        return definition

    def task(
        self,
        name: str | None = None,
        *,
        schema: dict[str, Any] | None = None,
        priority: str = "normal",
        retry: RetryPolicy | None = None,
        description: str = "",
        quick: bool = False,
    ) -> Callable[[TaskFunction], TaskFunction]:
        """Declare ``async def fn(task: BackgroundTask) -> dict`` as a task type (named
        after the function unless ``name`` is given). ``quick``: its jobs are a few
        milliseconds of local work, run before their start is recorded (one registry call
        fewer each); one still running after 0.1 s starts as any other."""

        def register(function: TaskFunction) -> TaskFunction:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{function.__name__} must be an async function")
            self.add(
                TaskDefinition(
                    name or function.__name__,
                    function,
                    payload_schema=schema or {},
                    priority=priority,
                    retry=retry or RetryPolicy(),
                    description=description or (inspect.getdoc(function) or "").split("\n", 1)[0],
                    quick=quick,
                )
            )
            return function

        return register

    def handler(self, handler_class: type[TaskHandler]) -> type[TaskHandler]:
        """Declare a :class:`TaskHandler` subclass (usable as a class decorator)."""
        instance = handler_class()
        self.add(
            TaskDefinition(
                handler_class.task_type or handler_class.__name__.lower(),
                instance.execute,
                payload_schema=dict(handler_class.payload_schema),
                priority=handler_class.priority,
                retry=handler_class.retry,
                description=handler_class.description or (inspect.getdoc(handler_class) or "").split("\n", 1)[0],
                quick=handler_class.quick,
            )
        )
        return handler_class

    def job_handlers(self) -> dict[str, JobHandler]:
        return {name: definition.job_handler() for name, definition in self.definitions.items()}

    def quick_jobs(self) -> dict[str, QuickJob]:
        """The types declared quick, every job of them quick."""
        return {name: _always for name, definition in self.definitions.items() if definition.quick}


def _always(_task: tasks_pb2.Task) -> bool:
    return True


# What ``@background_task`` declares into, and what ``--app module`` runs when the
# module names no TaskApp.
default_app = TaskApp()


def background_task(
    name: str | None = None,
    *,
    schema: dict[str, Any] | None = None,
    priority: str = "normal",
    retry: RetryPolicy | None = None,
    description: str = "",
    quick: bool = False,
) -> Callable[[TaskFunction], TaskFunction]:
    """``@background_task("name", priority="high")``: declare a task type in :data:`default_app`."""
    return default_app.task(name, schema=schema, priority=priority, retry=retry, description=description, quick=quick)
