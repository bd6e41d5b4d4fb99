"""Storage lifecycle: uploads no live task uses expire (their bytes with them), uploads a
queued task needs are kept, unfinished resumable uploads are cleaned, the store's size is
measured, and attempt directories left by crashed workers are removed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid

import grpc
import nats
import pytest
from mediatasks.core import metrics
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.worker.runtime import WORKDIR_PREFIX, remove_stale_workdirs
from mediatasks.registry.housekeeping import Housekeeper
from mediatasks.registry.uploads import UploadSessions
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import text

pytestmark = pytest.mark.asyncio(loop_scope="session")
OWNER = "lifecycle"
INTERNAL = (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", OWNER))


async def _age(engine, upload_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = :id"), {"id": upload_id}
        )


async def _exists(artifacts: ArtifactStore, artifact_id: str) -> bool:
    try:
        await artifacts.get_info(artifact_id)
    except MediaTasksError:
        return False
    return True


async def test_expired_uploads_go_unless_a_live_task_uses_them(registry_service, stack_settings):
    nc = await nats.connect(stack_settings.nats_url)
    engine = create_engine(stack_settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    try:
        artifacts = ArtifactStore(nc.jetstream(), stack_settings)
        uploads = UploadSessions(engine, artifacts)
        unused = await artifacts.put_bytes(b"nobody needs me", content_type="text/plain", filename="a.txt", owner=OWNER)
        needed = await artifacts.put_bytes(
            b"a queued job reads me", content_type="text/plain", filename="b.txt", owner=OWNER
        )
        for artifact in (unused, needed):
            await uploads.record_stored(artifact, OWNER)
            await _age(engine, artifact.artifact_id)
        # A queued task names `needed` in its request.
        request = tasks_pb2.CreateTaskRequest(task_type="subtitle_generation", owner=OWNER)
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(subtitles_url=needed.artifact_id))
        await tasks_pb2_grpc.TaskRegistryStub(channel).CreateTask(request, metadata=INTERNAL)
        # An unfinished resumable upload: one part stored, then abandoned.
        open_id = uuid.uuid4().hex

        async def chunk():
            yield b"half of a file"

        part = await artifacts.write_part(open_id, 0, chunk())
        now = dt.datetime.now(dt.UTC)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO uploads (id, owner, length, received, state, parts, created_at, updated_at, expires_at) "
                    "VALUES (:id, :owner, 100, :size, 'open', CAST(:parts AS jsonb), :now, :now, now() - interval '1 second')"
                ),
                {
                    "id": open_id,
                    "owner": OWNER,
                    "size": part["size"],
                    "parts": f'[{{"name": "{part["name"]}", "size": {part["size"]}}}]',
                    "now": now,
                },
            )

        # (The fixture registry's own housekeeper may sweep some of them first.)
        await Housekeeper(engine, artifacts, stack_settings, uploads=uploads).sweep()
        assert not await _exists(artifacts, unused.artifact_id)
        assert await _exists(artifacts, needed.artifact_id)
        with pytest.raises(MediaTasksError):
            await artifacts.backend.describe(part["name"])
        async with engine.connect() as conn:
            rows = {
                row.id.hex: row.expires_at
                for row in await conn.execute(
                    text("SELECT id, expires_at FROM uploads WHERE id IN (:a, :b, :c)"),
                    {"a": unused.artifact_id, "b": needed.artifact_id, "c": open_id},
                )
            }
        assert set(rows) == {needed.artifact_id}
        assert rows[needed.artifact_id] > dt.datetime.now(dt.UTC)  # extended, not deleted

        # The store's size is measured for /metrics.
        assert await artifacts.usage() > 0
        housekeeper = Housekeeper(engine, artifacts, stack_settings, uploads=uploads)
        metrics.ARTIFACT_STORE_BYTES.set(0)
        metrics.ARTIFACT_STORE_BYTES.set(await housekeeper.artifacts.usage())
        assert metrics.ARTIFACT_STORE_BYTES._value.get() > 0
    finally:
        await channel.close()
        await engine.dispose()
        await nc.close()


def test_attempt_directories_of_crashed_workers_are_removed(stack_settings, tmp_path):
    settings = stack_settings.model_copy(update={"work_dir": str(tmp_path), "job_timeout_seconds": 60})
    stale = tmp_path / f"{WORKDIR_PREFIX}deadbeef-x1"
    fresh = tmp_path / f"{WORKDIR_PREFIX}cafef00d-x2"
    other = tmp_path / "not-ours"
    for directory in (stale, fresh, other):
        directory.mkdir()
        (directory / "input_video").write_bytes(b"x" * 1000)
    old = time.time() - 3 * 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_workdirs(settings) == 1
    assert not stale.exists()
    assert fresh.exists() and other.exists()


async def _eventually_gone(artifacts: ArtifactStore, artifact_id: str, timeout: float = 30.0) -> bool:
    """Whether the artifact is gone within ``timeout`` (the registry sweeps in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if not await _exists(artifacts, artifact_id):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_outputs_of_attempts_that_never_finished_are_removed(registry_service, stack_settings):
    nc = await nats.connect(stack_settings.nats_url)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    try:
        artifacts = ArtifactStore(nc.jetstream(), stack_settings)

        async def new_task() -> str:
            # A type no worker of the session consumes: the session's subtitle service would
            # start a subtitle task itself, and this test's own start would be refused.
            request = tasks_pb2.CreateTaskRequest(task_type="image_transform", owner=OWNER)
            request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
            return (await registry.CreateTask(request, metadata=INTERNAL)).task_id

        async def attempt_storing(task_id: str, delivery: int) -> tuple[int, str]:
            start = await registry.StartAttempt(
                tasks_pb2.StartAttemptRequest(task_id=task_id, delivery_count=delivery), metadata=INTERNAL
            )
            assert start.proceed, start.reason
            stored = await artifacts.for_attempt(task_id, start.attempt).put_bytes(
                b"output", content_type="text/plain", filename="o.txt", owner=OWNER
            )
            return start.attempt, stored.artifact_id

        # Attempt 1 stores an output and its worker dies; attempt 2 completes.
        task_id = await new_task()
        _, crashed = await attempt_storing(task_id, 1)
        attempt, result = await attempt_storing(task_id, 2)
        assert attempt == 2
        await registry.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                task_id=task_id,
                attempt=attempt,
                output=tasks_pb2.TaskOutput(artifacts=[await artifacts.get_info(result)]),
            ),
            metadata=INTERNAL,
        )
        assert await _eventually_gone(artifacts, crashed)
        assert await _exists(artifacts, result)

        # A task that fails for good leaves none of its attempts' outputs.
        failing = await new_task()
        attempt, partial = await attempt_storing(failing, 1)
        await registry.FailTask(
            tasks_pb2.FailTaskRequest(
                task_id=failing,
                attempt=attempt,
                error=common_pb2.TaskError(code="INVALID_ARGUMENT", reason="UNSUPPORTED_MEDIA", message="bad"),
            ),
            metadata=INTERNAL,
        )
        assert await _eventually_gone(artifacts, partial)
    finally:
        await channel.close()
        await nc.close()
