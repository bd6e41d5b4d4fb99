"""Download links on task outputs (issue 12 item 2), on both artifact stores: S3 (moto's
server speaking the S3 wire protocol on loopback) answers real presigned URLs that work
with no credentials at all (a finished resumable upload too: its parts became one
object); the JetStream store gets the gateway's signed, expiring link."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import nats
import pytest
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.registry.artifacts_servicer import UrlSigner
from mediatasks.registry.links import DownloadLinks
from mediatasks.v1 import image_pb2, tasks_pb2
from moto.server import ThreadedMotoServer
from nats.js.errors import NotFoundError

pytestmark = pytest.mark.asyncio(loop_scope="session")

S3_KEYS = {"s3_access_key_id": "test-access-key", "s3_secret_access_key": "test-secret-key"}
BASE = "https://media.example.com"


@pytest.fixture(scope="module")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout=15)
    if starter.is_alive():
        pytest.fail("moto's S3 server did not start within 15 s")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url, connect_timeout=5)
    yield nc.jetstream(timeout=10)
    await nc.close()


@pytest.fixture(scope="module")
async def stores(js, nats_url, s3_endpoint):
    bucket = f"test-links-{uuid.uuid4().hex[:10]}"
    made = {
        kind: ArtifactStore(
            js,
            Settings(
                nats_url=nats_url,
                artifact_store=kind,
                artifact_bucket=bucket,
                s3_endpoint_url=s3_endpoint,
                presign_ttl_seconds=600,
                **S3_KEYS,
            ),
        )
        for kind in ("nats", "s3")
    }
    yield made
    with contextlib.suppress(NotFoundError):  # no test wrote to the JetStream bucket
        await js.delete_object_store(bucket)


def output_with(image, listed) -> tasks_pb2.TaskOutput:
    output = tasks_pb2.TaskOutput(artifacts=[listed])
    output.result.Pack(image_pb2.GenerateImageResult(images=[image], revised_prompt="p"))
    return output


def images_of(output: tasks_pb2.TaskOutput):
    result = image_pb2.GenerateImageResult()
    assert output.result.Unpack(result)
    return result


async def test_s3_artifacts_get_presigned_urls_that_need_no_credentials(stores):
    store = stores["s3"]
    links = DownloadLinks(UrlSigner(b"k" * 32), store)
    data = b"\x89PNG fake bytes " + uuid.uuid4().bytes
    stored = await store.put_bytes(data, content_type="image/png", filename="out.png", owner="alice", role="image")
    task = tasks_pb2.Task(task_id=str(uuid.uuid4()), output=output_with(stored, stored))
    before = int(time.time())
    await links.fill_task(task, BASE)
    for artifact in (images_of(task.output).images[0], task.output.artifacts[0]):
        link = artifact.download_url
        assert link.startswith(store.settings.s3_endpoint_url) and "Signature=" in link, link  # presigned by S3
        assert artifact.url == f"/api/v1/media/artifacts/{stored.artifact_id}"  # unchanged
        assert before + 590 <= artifact.download_url_expires_at.seconds <= int(time.time()) + 600
        async with httpx.AsyncClient(timeout=10) as plain:  # no key, no AWS credentials
            response = await plain.get(artifact.download_url)
        assert response.status_code == 200 and response.content == data
        assert response.headers["content-type"] == "image/png"
    assert images_of(task.output).revised_prompt == "p"  # the rest of the result is kept


async def test_jetstream_artifacts_get_the_signed_gateway_link(stores):
    signer = UrlSigner(b"s" * 32)
    store = stores["nats"]
    links = DownloadLinks(signer, store)
    artifact = await store.put_bytes(b"plain", content_type="text/plain", filename="a.txt", owner="bob")
    output = tasks_pb2.TaskOutput(artifacts=[artifact])
    await links.fill_output(output, BASE)
    link = output.artifacts[0].download_url
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == f"/api/v1/media/files/{artifact.artifact_id}"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert int(query["expires"]) == output.artifacts[0].download_url_expires_at.seconds
    signer.check(artifact.artifact_id, int(query["expires"]), query["signature"])  # accepted as is
    with pytest.raises(MediaTasksError):
        signer.check(artifact.artifact_id, int(query["expires"]) + 1, query["signature"])


async def test_a_finished_resumable_upload_on_s3_is_presigned_as_one_object(stores):
    store = stores["s3"]
    links = DownloadLinks(UrlSigner(b"s" * 32), store)
    upload_id = uuid.uuid4().hex
    parts = [
        await store.write_part(upload_id, number, _chunks(piece))
        for number, piece in enumerate((b"resumable ", b"bytes"))
    ]
    artifact = await store.finish_parts(
        upload_id, parts, owner="bob", filename="c.bin", content_type="application/octet-stream", sha256=""
    )
    output = tasks_pb2.TaskOutput(artifacts=[artifact])
    await links.fill_output(output, BASE)
    link = output.artifacts[0].download_url
    assert link.startswith(store.settings.s3_endpoint_url) and "Signature=" in link, link
    async with httpx.AsyncClient(timeout=10) as plain:  # no key, no AWS credentials
        response = await plain.get(link)
    assert response.status_code == 200 and response.content == b"resumable bytes"


async def test_a_configured_public_base_url_wins_over_the_request_origin(stores):
    store = stores["nats"]
    configured = store.settings.model_copy(update={"public_base_url": "https://cdn.example.org/"})
    links = DownloadLinks(UrlSigner(b"x" * 32), ArtifactStore(store.js, configured))
    assert links.base_url("http://127.0.0.1:8080") == "https://cdn.example.org"
    assert DownloadLinks(UrlSigner(b"x" * 32), store).base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


async def _chunks(data: bytes):
    yield data
