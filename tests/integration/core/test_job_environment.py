"""Real job handlers run one at a time through ``mediatasks.testing.JobEnvironment``
against the session's JetStream: outputs land in the real artifact store, every progress
change is recorded, and a cancellation ends the run with ``JobCancelled``."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from functools import partial

import nats
import pytest
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.settings import Settings
from mediatasks.core.worker import JobCancelled, JobContext, JobResult
from mediatasks.image.handlers import transform
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers
from mediatasks.subtitle.handlers import generate_subtitles
from mediatasks.testing.jobs import JobEnvironment
from mediatasks.v1 import image_pb2, subtitle_pb2
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEXT = "Call me back when you can. The train leaves at noon. See you there."


@pytest.fixture(scope="module")
def settings(nats_url: str) -> Settings:
    return Settings(nats_url=nats_url, artifact_bucket=f"env-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def artifacts(settings: Settings) -> AsyncIterator[ArtifactStore]:
    nc = await nats.connect(settings.nats_url)
    yield ArtifactStore(nc.jetstream(), settings)
    await nc.close()


@pytest.fixture
async def router(settings: Settings) -> AsyncIterator[ProviderRouter]:
    """The providers a subtitle job translates with; no vendor keys: it must not need them."""
    providers = ProviderRouter(settings, default_providers(settings))
    yield providers
    await providers.aclose()


@pytest.fixture
def env(settings: Settings, artifacts: ArtifactStore) -> JobEnvironment:
    return JobEnvironment(settings, artifacts, owner=f"env-{uuid.uuid4().hex[:6]}")


async def test_subtitles_from_text_are_stored_and_progress_is_recorded(env, artifacts, router):
    request = subtitle_pb2.GenerateSubtitlesRequest(text=TEXT, format="srt")
    done = await env.run(partial(generate_subtitles, router), request)

    result = done.result
    assert isinstance(result, subtitle_pb2.SubtitleResult)
    assert result.format == "srt" and result.cue_count >= 2
    assert done.provider == "local" and done.artifacts == [result.subtitles]
    info, data = await artifacts.get(result.subtitles.artifact_id, owner=env.owner)
    assert data == result.content.encode()
    assert info.filename == "subtitles.srt" and info.role == "subtitles"
    assert "1\n00:00:00,000 --> " in data.decode()
    assert env.progress == [(30, "timing"), (95, "uploading")]


async def test_an_image_input_is_fetched_from_the_store_and_the_output_stored(env, artifacts):
    source = io.BytesIO()
    Image.new("RGB", (64, 32), "red").save(source, format="PNG")
    uploaded = await artifacts.put_bytes(
        source.getvalue(), content_type="image/png", filename="red.png", owner=env.owner, role="upload"
    )
    request = image_pb2.TransformImageRequest(
        image_url=uploaded.artifact_id,
        operations=[image_pb2.ImageOperation(op="resize", width=16)],
        output_format="jpeg",
    )
    done = await env.run(transform, request)

    result = done.result
    assert isinstance(result, image_pb2.TransformImageResult)
    assert (result.width, result.height, result.format) == (16, 8, "jpg")
    _info, data = await artifacts.get(result.image.artifact_id, owner=env.owner)
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("JPEG", (16, 8))
    assert env.progress == [(2, "downloading"), (30, "transforming"), (90, "uploading")]


async def test_cancelling_at_a_stage_ends_the_run_with_job_cancelled(env, router):
    env.on_progress = lambda percent, stage: env.cancel() if stage == "timing" else None
    request = subtitle_pb2.GenerateSubtitlesRequest(text=TEXT)
    with pytest.raises(JobCancelled):
        await env.run(partial(generate_subtitles, router), request)
    # The handler's next progress call raised: it never reached the upload.
    assert env.progress == [(30, "timing")]


async def test_cancelling_a_waiting_handler_records_the_vendor_confirmation(env):
    waiting = asyncio.Event()

    async def waits_on_a_vendor(ctx: JobContext) -> JobResult:
        ctx.log("submitted to the vendor")
        waiting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ctx.confirm_cancel(True)
            raise
        raise AssertionError("not cancelled")

    run = asyncio.create_task(env.run(waits_on_a_vendor, subtitle_pb2.GenerateSubtitlesRequest(text="x")))
    await asyncio.wait_for(waiting.wait(), 5)
    env.cancel()
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(run, 5)
    assert env.cancel_confirmed is True
    assert env.logs == ["submitted to the vendor"]
    with pytest.raises(RuntimeError):
        env.cancel()  # nothing running any more
