"""What the API answers, as plain typed objects (built from the REST JSON or a gRPC message
converted to the same JSON), each keeping the full answer in ``raw``."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent."""
    if not value or not isinstance(value, str):
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Artifact:
    """A stored file: an upload or a task's output."""

    artifact_id: str
    content_type: str = ""
    size_bytes: int = 0
    sha256: str = ""
    filename: str = ""
    url: str = ""
    role: str = ""
    # Absolute, usable without credentials until it expires (signed or S3-presigned).
    download_url: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            artifact_id=str(data.get("artifact_id", "")),
            content_type=str(data.get("content_type", "")),
            size_bytes=int(data.get("size_bytes") or 0),
            sha256=str(data.get("sha256", "")),
            filename=str(data.get("filename", "")),
            url=str(data.get("url", "")),
            role=str(data.get("role", "")),
            download_url=str(data.get("download_url", "")),
        )


@dataclass(frozen=True)
class TaskError:
    """Why a task failed: the same code/reason vocabulary as API errors."""

    code: str
    reason: str
    message: str
    retryable: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskError:
        return cls(
            code=str(data.get("code", "")),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            retryable=bool(data.get("retryable", False)),
        )


@dataclass(frozen=True)
class Task:
    """One task as the registry reports it."""

    task_id: str
    task_type: str
    status: str
    progress: int
    stage: str
    priority: str
    attempt: int
    max_attempts: int
    queue_position: int
    queued_reason: str
    provider: str
    cache_hit: bool
    cost_usd: float
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    started_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    estimated_completion: datetime.datetime | None
    error: TaskError | None
    artifacts: list[Artifact]
    result: dict[str, Any] | None
    metadata: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """COMPLETED, FAILED or CANCELLED: the task will not change by itself any more."""
        return self.status in FINISHED

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until the estimated completion (None when the server gives no estimate)."""
        if self.estimated_completion is None or self.finished:
            return None
        now = datetime.datetime.now(datetime.UTC)
        return max(0.0, (self.estimated_completion - now).total_seconds())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        output = data.get("output") or {}
        error = data.get("error")
        return cls(
            task_id=str(data.get("task_id", "")),
            task_type=str(data.get("task_type", "")),
            status=str(data.get("status", "")),
            progress=int(data.get("progress") or 0),
            stage=str(data.get("stage", "")),
            priority=str(data.get("priority", "")),
            attempt=int(data.get("attempt") or 0),
            max_attempts=int(data.get("max_attempts") or 0),
            queue_position=int(data.get("queue_position") or 0),
            queued_reason=str(data.get("queued_reason", "")),
            provider=str(data.get("provider", "")),
            cache_hit=bool(data.get("cache_hit", False)),
            cost_usd=float(data.get("cost_usd") or 0.0),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")),
            estimated_completion=parse_time(data.get("estimated_completion")),
            error=TaskError.from_json(error) if error and error.get("reason") else None,
            artifacts=[Artifact.from_json(a) for a in output.get("artifacts") or ()],
            result=output.get("result") or None,
            metadata=dict(data.get("metadata") or {}),
            raw=data,
        )


@dataclass(frozen=True)
class TaskEvent:
    """One event of a task's stream; ``sequence`` is what a resumed stream continues after."""

    event_type: str
    sequence: int
    task: Task
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskEvent:
        return cls(
            event_type=str(data.get("event_type", "")),
            sequence=int(data.get("sequence") or 0),
            task=Task.from_json(data.get("task") or {"task_id": data.get("task_id", "")}),
            raw=data,
        )


@dataclass(frozen=True)
class LogEntry:
    """One log line a worker reported for a task."""

    timestamp: datetime.datetime | None
    level: str
    message: str
    attempt: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogEntry:
        return cls(
            timestamp=parse_time(data.get("timestamp")),
            level=str(data.get("level", "")),
            message=str(data.get("message", "")),
            attempt=int(data.get("attempt") or 0),
        )


@dataclass(frozen=True)
class TaskPage:
    """One page of a task list; ``next_page_token`` is empty on the last page."""

    items: list[Task]
    total: int
    next_page_token: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskPage:
        return cls(
            items=[Task.from_json(item) for item in data.get("items") or ()],
            total=int(data.get("total") or 0),
            next_page_token=str(data.get("next_page_token", "")),
        )


@dataclass(frozen=True)
class Upload:
    """A finished upload: the artifact id to give a job as its input."""

    artifact_id: str
    size_bytes: int
    sha256: str
    content_type: str = ""
    resumable: bool = False
