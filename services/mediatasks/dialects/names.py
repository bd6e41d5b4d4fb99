"""Each dialect's names for the platform's task states and stages."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.v1 import tasks_pb2

Status = tasks_pb2.Task.Status

# seed 000 (video analysis) and seed 003 (SRT + media): lowercase states.
LOWERCASE: dict[int, str] = {
    Status.QUEUED: "queued",
    Status.PROCESSING: "processing",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}
# seed 002 (async video, RunPod's job states).
RUNPOD: dict[int, str] = {
    Status.QUEUED: "IN_QUEUE",
    Status.PROCESSING: "IN_PROGRESS",
    Status.COMPLETED: "COMPLETED",
    Status.FAILED: "FAILED",
    Status.CANCELLED: "CANCELLED",
}
# seed 003 says "pending" for a task not started yet.
SRT_MEDIA: dict[int, str] = {**LOWERCASE, Status.QUEUED: "pending"}

# seed 000's steps (metadata.current_step): the platform's stages, with the AI step named
# as the seed names it.
ANALYSIS_STEPS = {"scoring": "ai_analysis", "llm_score": "ai_analysis", "provider": "ai_analysis"}

# Failure reasons that seed 000 reports as PROCESSING_TIMEOUT.
TIMEOUT_REASONS = frozenset({"JOB_TIMEOUT", "FFMPEG_TIMEOUT", "PROVIDER_TIMEOUT", "PROCESSING_TIMEOUT"})


def status_name(names: dict[int, str], status: int) -> str:
    """The dialect's name of a native state."""
    return names.get(status, "unknown")


def native_status(names: dict[int, str], name: str, field: str = "status") -> str:
    """The native state name of a dialect's ``name`` (for list filters); 400 naming the
    dialect's own names when it is none of them."""
    for status, dialect_name in names.items():
        if dialect_name == name:
            return Status.Name(status)
    raise invalid_input(f"{field} must be one of {', '.join(sorted(set(names.values())))}", field=field)
