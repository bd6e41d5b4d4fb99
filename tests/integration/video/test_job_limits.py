"""Limits per job that only the worker can know: total input bytes, a slideshow's pixels,
an output's duration, ffmpeg's memory. Real handlers through ``JobEnvironment`` on the
session's JetStream, with small limits so the inputs stay tiny."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from helpers.media import image_bytes, make_video
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.limits import retry_allowed
from mediatasks.core.settings import Settings
from mediatasks.media import ffmpeg
from mediatasks.testing.jobs import JobEnvironment
from mediatasks.v1 import video_pb2
from mediatasks.video.handlers import caption, slideshow


@pytest.fixture(scope="module")
def base_settings(nats_url: str) -> Settings:
    return Settings(nats_url=nats_url, artifact_bucket=f"limits-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def artifacts(base_settings: Settings) -> AsyncIterator[ArtifactStore]:
    nc = await nats.connect(base_settings.nats_url)
    yield ArtifactStore(nc.jetstream(), base_settings)
    await nc.close()


async def _images(artifacts: ArtifactStore, count: int, size: tuple[int, int]) -> list[str]:
    ids = []
    for index in range(count):
        stored = await artifacts.put_bytes(
            image_bytes(size, "blue"), content_type="image/png", filename=f"{index}.png", owner="alice"
        )
        ids.append(stored.artifact_id)
    return ids


async def test_slideshow_over_the_pixel_budget_fails_naming_the_limit(base_settings, artifacts):
    settings = base_settings.model_copy(update={"max_slideshow_pixels": 250_000})
    env = JobEnvironment(settings, artifacts, owner="alice")
    ids = await _images(artifacts, 3, (400, 300))  # 120,000 pixels each: the third passes 250,000
    request = video_pb2.ImagesToVideoRequest(
        images=[video_pb2.SlideImage(image_url=i, duration=0.5) for i in ids], width=160, height=120, fps=10
    )
    with pytest.raises(MediaTasksError) as failed:
        await env.run(slideshow, request)
    assert failed.value.reason == "TOO_MANY_PIXELS"
    assert "0.25 MP" in failed.value.message
    assert not failed.value.retryable
    # Within the budget, the same kind of job runs.
    two = video_pb2.ImagesToVideoRequest(
        images=[video_pb2.SlideImage(image_url=i, duration=0.5) for i in ids[:2]], width=160, height=120, fps=10
    )
    result = await env.run(slideshow, two)
    assert result.artifacts[0].size_bytes > 0


async def test_inputs_over_the_job_budget_stop_downloading(base_settings, artifacts, tmp_path):
    video = make_video(tmp_path / "in.mp4", seconds=1.0, size=(160, 120))
    stored = await artifacts.put_file(video, owner="alice", role="upload")
    settings = base_settings.model_copy(update={"max_job_input_bytes": stored.size_bytes - 1})
    env = JobEnvironment(settings, artifacts, owner="alice")
    request = video_pb2.BurnCaptionsRequest(
        video_url=stored.artifact_id, subtitles="1\n00:00:00,000 --> 00:00:01,000\nHi\n"
    )
    with pytest.raises(MediaTasksError) as failed:
        await env.run(caption, request)
    assert failed.value.reason == "INPUT_TOO_LARGE"
    assert failed.value.metadata["limit_bytes"] == str(stored.size_bytes - 1)


async def test_an_input_longer_than_the_output_limit_fails_before_encoding(base_settings, artifacts, tmp_path):
    video = make_video(tmp_path / "long.mp4", seconds=3.0, size=(160, 120))
    stored = await artifacts.put_file(video, owner="alice", role="upload")
    env = JobEnvironment(base_settings.model_copy(update={"max_output_seconds": 2.0}), artifacts, owner="alice")
    request = video_pb2.BurnCaptionsRequest(
        video_url=stored.artifact_id, subtitles="1\n00:00:00,000 --> 00:00:01,000\nHi\n"
    )
    with pytest.raises(MediaTasksError) as failed:
        await env.run(caption, request)
    assert failed.value.reason == "OUTPUT_TOO_LONG"
    assert not any(stage == "encoding" for _, stage in env.progress)


async def test_ffmpeg_over_its_memory_cap_fails_with_a_reason(base_settings, artifacts, tmp_path):
    video = make_video(tmp_path / "in.mp4", seconds=1.0, size=(160, 120))
    stored = await artifacts.put_file(video, owner="alice", role="upload")
    env = JobEnvironment(base_settings, artifacts, owner="alice")
    request = video_pb2.BurnCaptionsRequest(
        video_url=stored.artifact_id, subtitles="1\n00:00:00,000 --> 00:00:01,000\nHi\n"
    )
    ffmpeg.configure_limits(memory_bytes=16 * 1024 * 1024)  # far too little for libx264
    try:
        with pytest.raises(MediaTasksError) as failed:
            await env.run(caption, request)
    finally:
        ffmpeg.configure_limits(memory_bytes=0)
    assert failed.value.reason in ("FFMPEG_MEMORY_LIMIT", "FFMPEG_KILLED"), failed.value


def test_a_job_that_hit_its_time_limit_runs_once_more_at_most():
    assert retry_allowed("FFMPEG_TIMEOUT", True, attempt=1)
    assert not retry_allowed("FFMPEG_TIMEOUT", True, attempt=2)
    assert not retry_allowed("JOB_TIMEOUT", True, attempt=3)
    assert retry_allowed("PROVIDER_UNAVAILABLE", True, attempt=2)
    assert not retry_allowed("INVALID_INPUT", False, attempt=1)
