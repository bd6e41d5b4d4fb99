"""The artifact store on both backends: the JetStream object store and S3.

The same tests run against each backend. S3 is moto's server speaking the real S3 wire
protocol on a free loopback port; what the store wrote is also read back with the plain
clients (boto3, nats-py), not only through the store. The last tests run the real
registry with ``MEDIATASKS_ARTIFACT_STORE=s3`` and upload and download over gRPC.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid

import boto3
import grpc
import httpx
import nats
import pytest
from google.api import httpbody_pb2
from google.rpc import error_details_pb2, status_pb2
from mediatasks.core.artifacts import ArtifactStore, looks_like_artifact_id
from mediatasks.core.artifacts.s3_backend import S3Artifacts
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import ConfigurationError, Settings
from mediatasks.registry.uploads import UploadSessions
from mediatasks.v1 import artifacts_pb2, artifacts_pb2_grpc
from moto.server import ThreadedMotoServer
from nats.js.errors import NotFoundError

pytestmark = pytest.mark.asyncio(loop_scope="session")

S3_KEYS = {"s3_access_key_id": "test-access-key", "s3_secret_access_key": "test-secret-key"}
BACKENDS = ("nats", "s3")


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free loopback port; its URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits without a timeout for the listening socket; bound that wait here.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout=15)
    if starter.is_alive():
        pytest.fail("moto's S3 server did not start within 15 s")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_client(s3_endpoint):
    """A plain boto3 client on the test server, to check what the store wrote."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEYS["s3_access_key_id"],
        aws_secret_access_key=S3_KEYS["s3_secret_access_key"],
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url, connect_timeout=5)
    yield nc.jetstream(timeout=10)
    await nc.close()


@pytest.fixture(scope="module")
async def stores(js, nats_url, s3_endpoint):
    """One store per backend, each on a bucket of its own that does not exist yet."""
    bucket = f"test-artifacts-{uuid.uuid4().hex[:10]}"
    made = {
        kind: ArtifactStore(
            js,
            Settings(
                nats_url=nats_url,
                artifact_store=kind,
                artifact_bucket=bucket,
                s3_endpoint_url=s3_endpoint,
                **S3_KEYS,
            ),
        )
        for kind in BACKENDS
    }
    yield made
    with contextlib.suppress(nats.js.errors.NotFoundError):  # no test here wrote to JetStream
        await js.delete_object_store(bucket)


@pytest.fixture(params=BACKENDS)
def store(request, stores) -> ArtifactStore:
    return stores[request.param]


async def stored_description(store: ArtifactStore, js, s3_client, artifact_id: str) -> dict[str, str] | None:
    """What the backend itself holds for an artifact (None: no such object), read with
    the plain client of that backend."""
    bucket = store.settings.artifact_bucket
    if store.settings.artifact_store == "s3":
        try:
            head = s3_client.head_object(Bucket=bucket, Key=artifact_id)
        except s3_client.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")
            return None
        return {"content_type": head["ContentType"], **head["Metadata"]}
    object_store = await js.object_store(bucket)
    try:
        info = await object_store.get_info(artifact_id)
    except NotFoundError:
        return None
    return json.loads(info.description)


def reason_of(error: MediaTasksError | grpc.aio.AioRpcError) -> str:
    if isinstance(error, MediaTasksError):
        return error.reason
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            status.details[0].Unpack(info)
            return info.reason
    return ""


async def test_both_backends_are_in_play(stores):
    assert type(stores["nats"].backend).__name__ == "JetStreamArtifacts"
    assert isinstance(stores["s3"].backend, S3Artifacts)


async def test_round_trip_keeps_bytes_and_metadata(store, js, s3_client):
    data = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"
    # A non-ASCII name: S3 metadata travels in HTTP headers, which are ASCII only.
    put = await store.put_bytes(
        data, content_type="text/vtt", filename="dir/Résumé 字幕.vtt", owner="alice", role="subtitles"
    )
    assert looks_like_artifact_id(put.artifact_id)
    assert put.filename == "Résumé 字幕.vtt"  # no directory part
    assert (put.size_bytes, put.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    got, body = await store.get(put.artifact_id, owner="alice")
    assert body == data
    assert got == put
    info = await store.get_info(put.artifact_id, owner="alice")
    assert info == put
    assert (info.content_type, info.role, info.url) == (
        "text/vtt",
        "subtitles",
        f"/api/v1/media/artifacts/{put.artifact_id}",
    )

    raw = await stored_description(store, js, s3_client, put.artifact_id)
    assert raw is not None
    assert raw["content_type"] == "text/vtt"
    assert raw["owner"] == "alice"
    assert raw["sha256"] == hashlib.sha256(data).hexdigest()
    if store.settings.artifact_store == "s3":
        assert raw["filename"] == "R%C3%A9sum%C3%A9%20%E5%AD%97%E5%B9%95.vtt"  # percent-encoded UTF-8
        assert raw["role"] == "subtitles"


async def test_another_owners_artifact_is_not_found(store, tmp_path):
    put = await store.put_bytes(b"private", content_type="text/plain", filename="a.txt", owner="alice")
    for call in (
        store.get(put.artifact_id, owner="bob"),
        store.get_info(put.artifact_id, owner="bob"),
        store.download_to(put.artifact_id, tmp_path / "stolen", owner="bob"),
    ):
        with pytest.raises(MediaTasksError) as refused:
            await call
        assert refused.value.reason == "ARTIFACT_NOT_FOUND"
        assert refused.value.code == grpc.StatusCode.NOT_FOUND
    assert not (tmp_path / "stolen").exists()  # refused before anything was written
    # Internal callers (owner=None) see every artifact.
    assert (await store.get(put.artifact_id))[1] == b"private"


@pytest.mark.parametrize("artifact_id", [uuid.uuid4().hex, "../../etc/passwd", "", uuid.uuid4().hex.upper()])
async def test_unknown_id_is_not_found(store, tmp_path, artifact_id):
    for call in (
        store.get(artifact_id),
        store.get_info(artifact_id, owner="alice"),
        store.download_to(artifact_id, tmp_path / "out"),
    ):
        with pytest.raises(MediaTasksError) as missing:
            await call
        assert missing.value.reason == "ARTIFACT_NOT_FOUND"


async def test_delete_is_idempotent(store, js, s3_client):
    first = await store.put_bytes(b"one", content_type="text/plain", filename="1.txt", owner="alice")
    second = await store.put_bytes(b"two", content_type="text/plain", filename="2.txt", owner="alice")
    kept = await store.put_bytes(b"kept", content_type="text/plain", filename="3.txt", owner="alice")
    assert await stored_description(store, js, s3_client, first.artifact_id) is not None

    ids = [first.artifact_id, second.artifact_id, first.artifact_id, uuid.uuid4().hex, "not-an-id"]
    await store.delete_many(ids)
    await store.delete_many(ids)  # again: nothing left to delete, and no error
    await store.delete_many([])

    for gone in (first, second):
        assert await stored_description(store, js, s3_client, gone.artifact_id) is None
        with pytest.raises(MediaTasksError) as missing:
            await store.get(gone.artifact_id)
        assert missing.value.reason == "ARTIFACT_NOT_FOUND"
    assert (await store.get(kept.artifact_id))[1] == b"kept"


async def _one(data: bytes):
    yield data


async def test_writing_an_id_again_replaces_it_and_leaves_no_old_chunks(store, js):
    """A name's first write asserts it is new (no lookup); a second write, and a write
    after a delete, replace what was there and, on JetStream, purge the older chunks."""
    artifact_id = uuid.uuid4().hex
    bucket = store.settings.artifact_bucket
    nuids: list[str] = []

    async def put(data: bytes) -> None:
        put_artifact = await store.put_stream(
            _one(data), owner="alice", filename="a.srt", content_type="text/plain", artifact_id=artifact_id
        )
        assert (put_artifact.size_bytes, put_artifact.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert (await store.get(artifact_id, owner="alice"))[1] == data
        if store.settings.artifact_store == "nats":
            nuids.append((await (await js.object_store(bucket)).get_info(artifact_id)).nuid)

    for data in (b"first", os.urandom(300 * 1024), b"third"):
        await put(data)
    await store.delete_many([artifact_id])
    await put(b"after a delete")
    if store.settings.artifact_store == "nats":
        assert len(set(nuids)) == 4
        state = (await js.stream_info(f"OBJ_{bucket}", subjects_filter=f"$O.{bucket}.C.>")).state
        held = {subject.rsplit(".", 1)[-1] for subject in state.subjects or {}}
        assert [nuid in held for nuid in nuids] == [False, False, False, True]


async def test_only_objects_past_the_first_index_slot_carry_a_chunk_index(stores, js):
    """An object of up to 32 chunks (8 MiB) is read from its first chunk whatever the
    range, so its info goes out without waiting for the chunks' sequences; a larger one
    carries the index, and ranged reads of both return the right bytes."""
    store = stores["nats"]
    for size, indexed in ((3 * 256 * 1024 + 5, False), (33 * 256 * 1024 + 7, True)):
        data = os.urandom(size)
        put = await store.put_stream(
            _one(data), owner="alice", filename="x.bin", content_type="application/octet-stream"
        )
        info = await (await js.object_store(store.settings.artifact_bucket)).get_info(put.artifact_id)
        assert ("Mediatasks-Chunk-Index" in (info.headers or {})) is indexed
        for start, end in ((0, 10), (size // 2, size // 2 + 300_000), (size - 3, size)):
            _, chunks = await store.open(put.artifact_id, owner="alice", start=start, end=end)
            assert b"".join([chunk async for chunk in chunks]) == data[start:end]


async def test_five_megabyte_file_streams_in_and_out(store, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    started = time.monotonic()
    put = await store.put_file(source, owner="alice", role="video", filename="big.mp4")
    assert (put.content_type, put.filename) == ("video/mp4", "big.mp4")
    assert (put.size_bytes, put.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    target = tmp_path / "copy.bin"
    downloaded = await store.download_to(put.artifact_id, target, owner="alice")
    assert target.read_bytes() == data
    assert downloaded == put
    _, body = await store.get(put.artifact_id, owner="alice")
    assert body == data
    assert time.monotonic() - started < 60


async def test_download_to_and_empty_artifacts(store, tmp_path):
    put = await store.put_bytes(
        b"1\n00:00:00,000 --> 00:00:01,000\nhi\n", content_type="", filename="a.srt", owner="carol"
    )
    target = tmp_path / "a.srt"
    artifact = await store.download_to(put.artifact_id, target, owner="carol")
    assert target.read_bytes() == b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"
    assert artifact.size_bytes == target.stat().st_size
    assert artifact.content_type == "application/octet-stream"

    empty = await store.put_bytes(b"", content_type="text/plain", filename="empty.txt", owner="alice")
    assert empty.size_bytes == 0
    assert (await store.get(empty.artifact_id))[1] == b""
    (tmp_path / "empty.txt").write_bytes(b"stale")
    await store.download_to(empty.artifact_id, tmp_path / "empty.txt")
    assert (tmp_path / "empty.txt").read_bytes() == b""


# --- configuration and failure ---------------------------------------------------------


async def test_s3_with_half_the_static_keys_fails_at_construction_naming_the_missing_one():
    settings = Settings(artifact_store="s3", s3_endpoint_url="http://127.0.0.1:9", s3_secret_access_key="s3cr3t-key")
    with pytest.raises(ConfigurationError) as refused:
        ArtifactStore(None, settings)
    assert "MEDIATASKS_S3_ACCESS_KEY_ID" in str(refused.value)
    assert "MEDIATASKS_S3_SECRET_ACCESS_KEY" in str(refused.value)
    # Configured, it builds without any network call.
    ArtifactStore(None, settings.model_copy(update=S3_KEYS))


async def test_s3_without_static_keys_uses_the_sdks_default_credential_chain(monkeypatch, s3_endpoint):
    # IRSA / Workload Identity / instance roles reach boto3 through its default chain; the
    # AWS_* variables stand in for them here. A placeholder key counts as not set.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEYS["s3_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_KEYS["s3_secret_access_key"])
    settings = Settings(
        artifact_store="s3",
        s3_endpoint_url=s3_endpoint,
        artifact_bucket=f"chain-{uuid.uuid4().hex[:8]}",
        s3_secret_access_key="changeme",
    )
    store = ArtifactStore(None, settings)
    put = await store.put_bytes(b"by role", content_type="text/plain", filename="r.txt", owner="alice")
    assert (await store.get(put.artifact_id, owner="alice"))[1] == b"by role"


async def test_unknown_artifact_store_fails_naming_the_variable():
    with pytest.raises(ConfigurationError, match="MEDIATASKS_ARTIFACT_STORE must be one of nats, s3"):
        ArtifactStore(None, Settings(artifact_store="gcs"))


async def test_unreachable_s3_is_a_retryable_error_within_the_deadline():
    with socket.socket() as probe:  # a loopback port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = ArtifactStore(
        None,
        Settings(
            artifact_store="s3",
            artifact_bucket=f"down-{uuid.uuid4().hex[:8]}",
            s3_endpoint_url=f"http://127.0.0.1:{port}",
            **S3_KEYS,
        ),
    )
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as failed:
        await store.put_bytes(b"x", content_type="text/plain", filename="x.txt", owner="alice")
    assert failed.value.reason == "ARTIFACT_STORE_UNAVAILABLE"
    assert failed.value.retryable
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 30  # bounded retries, not a hang


# --- the registry's ArtifactService on S3, over gRPC --------------------------------------


@pytest.fixture(scope="module")
async def s3_registry(stack_settings, s3_endpoint):
    """A second, real registry whose artifact store is S3 (its own bucket)."""
    from mediatasks.registry.service import start_registry

    settings = stack_settings.model_copy(
        update={
            "artifact_store": "s3",
            "artifact_bucket": f"registry-artifacts-{uuid.uuid4().hex[:8]}",
            "s3_endpoint_url": s3_endpoint,
            "grpc_port": 0,
            **S3_KEYS,
        }
    )
    runtime = await start_registry(settings)
    yield runtime, settings
    await runtime.stop()


async def test_registry_uploads_and_serves_artifacts_from_s3(s3_registry, s3_client, js, stack_settings):
    runtime, settings = s3_registry
    alice = await runtime.api_keys.create(f"alice-{uuid.uuid4().hex[:6]}", name="s3-test")
    bob = await runtime.api_keys.create(f"bob-{uuid.uuid4().hex[:6]}", name="s3-test")
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        uploaded = await artifacts.UploadArtifact(
            iter(
                [
                    httpbody_pb2.HttpBody(content_type="image/png", data=data[:1000]),
                    httpbody_pb2.HttpBody(data=data[1000:]),
                ]
            ),
            metadata=(("x-api-key", alice), ("x-filename", "cover.png")),
            timeout=10,
        )
        assert (uploaded.content_type, uploaded.filename, uploaded.role) == ("image/png", "cover.png", "upload")
        assert (uploaded.size_bytes, uploaded.sha256) == (len(data), hashlib.sha256(data).hexdigest())

        # It is in the S3 bucket, described there, and not in the JetStream object store.
        head = s3_client.head_object(Bucket=settings.artifact_bucket, Key=uploaded.artifact_id)
        assert (head["ContentType"], head["ContentLength"]) == ("image/png", len(data))
        assert head["Metadata"]["filename"] == "cover.png"
        with pytest.raises(MediaTasksError):
            await ArtifactStore(js, stack_settings).get(uploaded.artifact_id)

        request = artifacts_pb2.GetArtifactRequest(artifact_id=uploaded.artifact_id)
        call = artifacts.GetArtifact(request, metadata=(("x-api-key", alice),), timeout=10)
        messages = [message async for message in call]
        assert messages[0].content_type == "image/png"
        assert b"".join(m.data for m in messages) == data
        headers = {key: value for key, value in await call.initial_metadata()}
        assert headers["content-disposition"].startswith('attachment; filename="cover.png"')
        assert headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'

        for key, artifact_id in ((bob, uploaded.artifact_id), (alice, uuid.uuid4().hex)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in artifacts.GetArtifact(
                    artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id),
                    metadata=(("x-api-key", key),),
                    timeout=10,
                ):
                    pass
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            assert reason_of(refused.value) == "ARTIFACT_NOT_FOUND"


async def test_direct_to_s3_presigned_upload_and_download(s3_registry, s3_client):
    runtime, settings = s3_registry
    alice = await runtime.api_keys.create(f"alice-{uuid.uuid4().hex[:6]}", name="presign")
    bob = await runtime.api_keys.create(f"bob-{uuid.uuid4().hex[:6]}", name="presign")
    part_size = 5 * 1024 * 1024  # S3's minimum for all but the last part
    data = os.urandom(part_size) + os.urandom(1000)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        as_alice = (("x-api-key", alice),)
        presigned = await artifacts.CreatePresignedUpload(
            artifacts_pb2.CreatePresignedUploadRequest(
                length=len(data), filename="talk.mp4", content_type="video/mp4", part_size=part_size
            ),
            metadata=as_alice,
            timeout=10,
        )
        assert [p.part_number for p in presigned.parts] == [1, 2]
        assert [(p.offset, p.size) for p in presigned.parts] == [(0, part_size), (part_size, 1000)]
        ref = artifacts_pb2.UploadRef(upload_id=presigned.upload_id)
        async with httpx.AsyncClient(timeout=30) as plain:  # the bytes bypass the registry
            first = await plain.put(presigned.parts[0].url, content=data[:part_size])
            assert first.status_code == 200, first.text
            # Completing with a part missing is refused, naming what S3 holds.
            with pytest.raises(grpc.aio.AioRpcError) as early:
                await artifacts.CompletePresignedUpload(ref, metadata=as_alice, timeout=10)
            assert reason_of(early.value) == "UPLOAD_INCOMPLETE"
            second = await plain.put(presigned.parts[1].url, content=data[part_size:])
            assert second.status_code == 200
        # Another owner can neither complete nor see it.
        with pytest.raises(grpc.aio.AioRpcError) as foreign:
            await artifacts.CompletePresignedUpload(ref, metadata=(("x-api-key", bob),), timeout=10)
        assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
        artifact = await artifacts.CompletePresignedUpload(ref, metadata=as_alice, timeout=10)
        assert (artifact.artifact_id, artifact.size_bytes, artifact.filename) == (
            presigned.upload_id,
            len(data),
            "talk.mp4",
        )
        assert s3_client.head_object(Bucket=settings.artifact_bucket, Key=artifact.artifact_id)["ContentLength"] == len(
            data
        )
        link = await artifacts.GetArtifactUrl(
            artifacts_pb2.GetArtifactUrlRequest(artifact_id=artifact.artifact_id, expires_in_seconds=120),
            metadata=as_alice,
            timeout=10,
        )
        assert "X-Amz-Signature" in link.url or "Signature=" in link.url  # presigned by S3
        async with httpx.AsyncClient(timeout=30) as plain:
            fetched = await plain.get(link.url)
        assert fetched.status_code == 200 and fetched.content == data
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await artifacts.GetArtifactUrl(
                artifacts_pb2.GetArtifactUrlRequest(artifact_id=artifact.artifact_id), metadata=(("x-api-key", bob),)
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_tus_upload_in_small_chunks_on_s3_becomes_one_presignable_object(s3_registry, s3_client):
    runtime, settings = s3_registry
    alice = await runtime.api_keys.create(f"alice-{uuid.uuid4().hex[:6]}", name="tus-s3")
    mib = 1024 * 1024
    data = os.urandom(7 * mib + 100)  # 1 MiB chunks: S3 takes none of them as a part alone
    as_alice = (("x-api-key", alice), ("tus-resumable", "1.0.0"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        created = artifacts.CreateUpload(
            artifacts_pb2.CreateUploadRequest(
                length=len(data), filename="talk.mp4", content_type="video/mp4", sha256=hashlib.sha256(data).hexdigest()
            ),
            metadata=as_alice,
            timeout=10,
        )
        await created
        upload_id = {key: value for key, value in await created.initial_metadata()}["x-upload-id"]
        for offset in range(0, len(data), mib):
            chunk = artifacts_pb2.WriteUploadRequest(
                upload_id=upload_id, body=httpbody_pb2.HttpBody(data=data[offset : offset + mib])
            )
            written = artifacts.WriteUpload(
                iter([chunk]), metadata=(*as_alice, ("upload-offset", str(offset))), timeout=30
            )
            await written
        answer = {key: value for key, value in await written.initial_metadata()}
        assert answer["x-artifact-id"] == upload_id and answer["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
        head = s3_client.head_object(Bucket=settings.artifact_bucket, Key=upload_id, PartNumber=1)
        assert head["PartsCount"] == 2  # 5 chunks joined into the first part, 3 into the last
        link = await artifacts.GetArtifactUrl(
            artifacts_pb2.GetArtifactUrlRequest(artifact_id=upload_id, expires_in_seconds=120),
            metadata=as_alice,
            timeout=10,
        )
        assert "X-Amz-Signature" in link.url or "Signature=" in link.url  # presigned by S3
        async with httpx.AsyncClient(timeout=30) as plain:
            fetched = await plain.get(link.url)
        assert fetched.status_code == 200 and fetched.content == data


async def test_an_upload_whose_last_chunk_landed_but_whose_artifact_was_not_made_is_finished_by_head(s3_registry, js):
    runtime, settings = s3_registry
    alice = await runtime.api_keys.create(f"alice-{uuid.uuid4().hex[:6]}", name="tus-finish")
    data = os.urandom(3000)
    as_alice = (("x-api-key", alice), ("tus-resumable", "1.0.0"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        created = artifacts.CreateUpload(
            artifacts_pb2.CreateUploadRequest(
                length=len(data), filename="a.bin", content_type="application/octet-stream"
            ),
            metadata=as_alice,
            timeout=10,
        )
        await created
        upload_id = {key: value for key, value in await created.initial_metadata()}["x-upload-id"]
        first = artifacts_pb2.WriteUploadRequest(upload_id=upload_id, body=httpbody_pb2.HttpBody(data=data[:1000]))
        await artifacts.WriteUpload(iter([first]), metadata=(*as_alice, ("upload-offset", "0")), timeout=10)
        # The state a registry leaves that stored the last chunk and advanced the offset,
        # then died (or lost its store) before making the artifact.
        engine = create_engine(settings)
        try:
            sessions = UploadSessions(engine, ArtifactStore(js, settings))
            part = await sessions.store.write_part(upload_id, 1, _chunks(data[1000:]))
            assert await sessions._advance(upload_id, 1000, len(data), part)
        finally:
            await engine.dispose()
        ref = artifacts_pb2.UploadRef(upload_id=upload_id)
        for _ in range(2):  # the HEAD that finishes it, then one on the finished upload
            head = artifacts.GetUploadOffset(ref, metadata=as_alice, timeout=10)
            await head
            headers = {key: value for key, value in await head.initial_metadata()}
            assert headers["upload-offset"] == str(len(data)) and headers["x-artifact-id"] == upload_id
            assert headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
        call = artifacts.GetArtifact(
            artifacts_pb2.GetArtifactRequest(artifact_id=upload_id), metadata=(("x-api-key", alice),), timeout=10
        )
        assert b"".join([message.data async for message in call]) == data


async def test_presigned_uploads_on_the_jetstream_store_are_refused_naming_the_setting(registry_service, api_key):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}") as channel:
        artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await artifacts.CreatePresignedUpload(
                artifacts_pb2.CreatePresignedUploadRequest(length=10), metadata=(("x-api-key", api_key),), timeout=10
            )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "MEDIATASKS_ARTIFACT_STORE=s3" in refused.value.details()


async def _chunks(*pieces: bytes):
    for piece in pieces:
        yield piece


async def test_parts_become_one_composite_artifact_read_by_range(store: ArtifactStore):
    upload_id = uuid.uuid4().hex
    first, second = os.urandom(300_000), os.urandom(123_457)
    parts = [
        await store.write_part(upload_id, 0, _chunks(first[:1000], first[1000:])),
        await store.write_part(upload_id, 1, _chunks(second)),
    ]
    assert [p["size"] for p in parts] == [len(first), len(second)]
    whole = first + second
    artifact = await store.finish_parts(
        upload_id, parts, owner="alice", filename="joined.bin", content_type="application/octet-stream",
        sha256=hashlib.sha256(whole).hexdigest(),
    )  # fmt: skip
    assert (artifact.artifact_id, artifact.size_bytes) == (upload_id, len(whole))
    info = await store.get_info(upload_id, owner="alice")
    assert info.size_bytes == len(whole) and info.sha256 == hashlib.sha256(whole).hexdigest()
    _, chunks = await store.open(upload_id, owner="alice", start=299_990, end=300_020)
    assert b"".join([c async for c in chunks]) == whole[299_990:300_020]
    _, everything = await store.open(upload_id, owner="alice")
    assert b"".join([c async for c in everything]) == whole
    with pytest.raises(MediaTasksError):
        await store.open(upload_id, owner="bob")
    await store.delete_many([upload_id])
    for part in parts:
        with pytest.raises(MediaTasksError):
            await store.backend.describe(part["name"])


async def test_on_s3_parts_of_any_size_become_one_object(stores, s3_client):
    store = stores["s3"]
    upload_id = uuid.uuid4().hex
    mib = 1024 * 1024
    # S3 takes parts of 5 MiB or more (but the last): the 6 MiB part is copied inside S3,
    # the 1+2+3 MiB ones are joined into one part, the last 1 MiB is the last part.
    pieces = [os.urandom(size) for size in (6 * mib, mib, 2 * mib, 3 * mib, mib)]
    parts = [await store.write_part(upload_id, number, _chunks(piece)) for number, piece in enumerate(pieces)]
    whole = b"".join(pieces)
    artifact = await store.finish_parts(
        upload_id, parts, owner="alice", filename="joined.bin", content_type="application/octet-stream",
        sha256=hashlib.sha256(whole).hexdigest(),
    )  # fmt: skip
    assert artifact.size_bytes == len(whole)
    head = s3_client.head_object(Bucket=store.backend.bucket, Key=upload_id, PartNumber=1)
    assert head["PartsCount"] == 3 and head["ContentLength"] == 6 * mib
    description, size = await store.backend.describe(upload_id)
    assert size == len(whole) and not description.get("composite") and description["owner"] == "alice"
    _, chunks = await store.open(upload_id, owner="alice", start=6 * mib - 10, end=6 * mib + 10)
    assert b"".join([c async for c in chunks]) == whole[6 * mib - 10 : 6 * mib + 10]
    _, everything = await store.open(upload_id, owner="alice")
    assert hashlib.sha256(b"".join([c async for c in everything])).hexdigest() == artifact.sha256
    for part in parts:  # joined, then removed
        with pytest.raises(MediaTasksError):
            await store.backend.describe(part["name"])
    await store.delete_many([upload_id])


async def test_on_s3_a_join_that_fails_leaves_nothing_and_says_why(stores, s3_client):
    store = stores["s3"]
    upload_id = uuid.uuid4().hex
    parts = [await store.write_part(upload_id, number, _chunks(os.urandom(1000))) for number in range(3)]
    await store.delete_parts(parts[1:2])  # a part gone (say, expired) by the time of the join
    with pytest.raises(MediaTasksError) as failed:
        await store.finish_parts(
            upload_id, parts, owner="alice", filename="x.bin", content_type="application/octet-stream", sha256=""
        )
    assert failed.value.reason == "ARTIFACT_NOT_FOUND" and parts[1]["name"] in failed.value.message
    with pytest.raises(MediaTasksError):
        await store.backend.describe(upload_id)
    pending = s3_client.list_multipart_uploads(Bucket=store.backend.bucket, Prefix=upload_id).get("Uploads", [])
    assert pending == []  # the multipart upload was aborted
    await store.delete_parts(parts)


async def test_a_stream_over_its_limit_leaves_nothing_behind(store: ArtifactStore):
    with pytest.raises(MediaTasksError) as refused:
        await store.put_stream(
            _chunks(b"a" * 600, b"b" * 600), owner="alice", filename="x", content_type="text/plain", limit=1000
        )
    assert refused.value.reason == "INPUT_TOO_LARGE"
