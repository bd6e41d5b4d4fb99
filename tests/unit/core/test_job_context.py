"""The handler's side of a job: what JobContext exposes and what it leaves to the runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.core.worker import JobCancelled, JobContext, percent_progress, stage_progress
from mediatasks.core.worker._attempt import AttemptState
from mediatasks.v1 import image_pb2, subtitle_pb2, tasks_pb2


def context(tmp_path: Path, state: AttemptState) -> JobContext:
    task = tasks_pb2.Task(task_id="t-1", task_type="subtitle_generation", owner="alice", priority="high")
    task.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="hello"))
    settings = Settings()
    return JobContext(
        task, attempt=2, workdir=tmp_path, settings=settings, artifacts=ArtifactStore(None, settings), state=state
    )


def test_the_task_is_read_only_to_the_handler(tmp_path: Path) -> None:
    ctx = context(tmp_path, AttemptState())
    assert (ctx.task_id, ctx.task_type, ctx.owner, ctx.priority, ctx.attempt) == (
        "t-1",
        "subtitle_generation",
        "alice",
        "high",
        2,
    )
    assert ctx.workdir == tmp_path
    with pytest.raises(AttributeError):
        ctx.owner = "mallory"  # type: ignore[misc]


def test_input_is_typed_and_a_wrong_type_is_invalid_input(tmp_path: Path) -> None:
    ctx = context(tmp_path, AttemptState())
    assert ctx.input(subtitle_pb2.GenerateSubtitlesRequest).text == "hello"
    with pytest.raises(MediaTasksError) as raised:
        ctx.input(image_pb2.TransformImageRequest)
    assert raised.value.reason == "INVALID_INPUT"


async def test_progress_and_logs_reach_the_runner_state(tmp_path: Path) -> None:
    state = AttemptState()
    ctx = context(tmp_path, state)
    await ctx.progress(140.7, "encoding")
    assert state.latest == (100, "encoding") and state.changed.is_set()
    state.changed.clear()
    await ctx.progress(100, "encoding")  # no change: nothing to report
    assert not state.changed.is_set()
    ctx.log("one")
    ctx.log("two")
    # A new stage is a line of the task log too (once per change).
    assert state.take_logs() == ["stage: encoding", "one", "two"] and state.take_logs() == []
    await ctx.progress(100, "uploading")
    assert state.take_logs() == ["stage: uploading"]


async def test_progress_bridges_map_onto_a_slice_of_the_job(tmp_path: Path) -> None:
    state = AttemptState()
    ctx = context(tmp_path, state)
    await stage_progress(ctx, 10, 90)(50, "muxing")
    assert state.latest == (50, "muxing")
    await percent_progress(ctx, 10, 20, "aligning")(100)
    assert state.latest == (20, "aligning")


async def test_cancellation_is_seen_by_the_handler_and_confirmed_to_the_runner(tmp_path: Path) -> None:
    state = AttemptState()
    ctx = context(tmp_path, state)
    assert not ctx.cancelled
    state.cancel_requested = True
    assert ctx.cancelled
    with pytest.raises(JobCancelled):
        await ctx.progress(50, "encoding")
    ctx.confirm_cancel(True)
    assert state.cancel_confirmed is True
