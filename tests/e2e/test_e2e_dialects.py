"""Issue 12, item 1: the seeds' own APIs (dialects) end to end, driven by the seeds' own
client code (tests/e2e/seed_clients/, run as the notes print it with only the base URL
and the credential changed) against the whole stack behind the real Envoy.

Each flow reaches the end its note promises (seed 000: "Análise completa!" and a score;
seed 002: COMPLETED with output.videos[]; seed 003: the result's paragraphs), and the task
each dialect made is the same task in the native API. Then the dialects' error bodies
and codes (404, 410-less unknown ids, 400 naming a field), in their own shapes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from helpers.media import image_bytes, make_solid_video, make_srt, make_tone
from helpers.stacks import upload, wait_for
from mediatasks.core.settings import Settings
from mediatasks.devstack.embedded_postgres import create_database, drop_database
from mediatasks.devstack.stack import Stack
from mediatasks.testing.fake_vendors import FakeVendors, running_fakes

pytestmark = pytest.mark.e2e

CLIENTS = Path(__file__).resolve().parent / "seed_clients"
CLIENT_TIMEOUT = 120.0
NODE = shutil.which("node")
CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeVendors]:
    with running_fakes() as vendors:
        vendors.gemini.processing_polls = 1
        yield vendors


@pytest.fixture(scope="module")
def dialect_stack(fakes: FakeVendors, postgres_server) -> Iterator[Stack]:
    """The whole stack with the fake vendors (seed 000's score is an LLM's), in the
    trusted-proxy mode, with a database and NATS of its own."""
    database = f"dialects_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, database)
    state = Path(tempfile.mkdtemp(prefix="mediatasks-dialects-"))
    stack = Stack(
        state,
        settings=Settings(database_url=url),
        env={
            **fakes.env(),
            "MEDIATASKS_ACK_WAIT_SECONDS": "3",
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "3",
            "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.2",
            "MEDIATASKS_LOG_JSON": "false",
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "50",
            # Seed 003's X-User-ID identity (off by default): its client runs unchanged.
            "MEDIATASKS_TRUSTED_PROXY_USER_ID": "true",
            # Webhooks go to the loopback receiver below.
            "MEDIATASKS_ALLOW_PRIVATE_URLS": "true",
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        drop_database(postgres_server.server_url, database)
        # MEDIATASKS_KEEP_STACK_STATE=1 keeps the services' logs for a failing test.
        if not os.environ.get("MEDIATASKS_KEEP_STACK_STATE"):
            shutil.rmtree(state, ignore_errors=True)


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint: every delivery's JSON payload, in arrival order."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        Receiver.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def deliveries(task_id: str, until: str, timeout: float = 30.0) -> list[dict]:
    """The webhook payloads of ``task_id`` once one of type ``until`` has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [payload for payload in Receiver.received if payload.get("task_id") == task_id]
        if any(payload["event_type"] == until for payload in mine):
            return mine
        assert time.monotonic() < deadline, f"no {until} delivery for {task_id}: {mine}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def api(dialect_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=dialect_stack.http_url, headers={"X-API-Key": dialect_stack.api_key}, timeout=30.0
    ) as client:
        yield client


def run_client(stack: Stack, script: str, **env: str) -> str:
    """Run one seed client (by its extension) against the stack; its stdout. It must end by
    itself within the timeout, with exit status 0."""
    path = CLIENTS / script
    if path.suffix == ".py":
        command = [sys.executable, str(path)]
    elif path.suffix == ".mjs":
        assert NODE, "node is not installed (deploy/scripts/system-deps.sh installs nodejs)"
        command = [NODE, str(path)]
    else:
        assert CURL, "curl is not installed"
        command = ["sh", str(path)]
    environment = {
        **os.environ,
        "SEED_BASE_URL": stack.http_url,
        "SEED_API_KEY": stack.api_key,
        **env,
    }
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def native_task(api: httpx.Client, task_id: str) -> dict:
    response = api.get(f"/api/v1/media/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


# --- seed 000: video analysis ------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_id(api, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("seed000") / "clip.mp4"
    make_solid_video(path, seconds=2, size=(160, 120), color="0x336699", with_audio=True)
    return upload(api, path.read_bytes(), "video/mp4", "clip.mp4")


def analyze(api: httpx.Client, clip_id: str, **extra) -> dict:
    response = api.post("/analyze-video", json={"video_url": clip_id, "frame_count": 1, **extra})
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["status"] in ("queued", "processing", "completed")
    return task


def test_seed000_clients_poll_list_and_read_the_score(api, dialect_stack, clip_id):
    task = analyze(api, clip_id)
    out = run_client(dialect_stack, "seed000/poll_task.py", SEED_TASK_ID=task["task_id"])
    assert "Análise completa!" in out
    score = float(re.search(r"^Score: ([0-9.]+)$", out, re.M).group(1))
    assert 0 <= score <= 10

    # The same task in the native API: a video_analysis task with the LLM score inside.
    native = native_task(api, task["task_id"])
    assert native["task_type"] == "video_analysis" and native["status"] == "COMPLETED"
    assert native["output"]["result"]["report"]["fields"]["llm_score"]["score"] == score

    if NODE:
        js = run_client(dialect_stack, "seed000/poll_task.mjs", SEED_TASK_ID=task["task_id"])
        assert "Análise completa!" in js
        assert float(re.search(r"^Score: ([0-9.]+)$", js, re.M).group(1)) == score
    curl = json.loads(run_client(dialect_stack, "seed000/status.sh", SEED_TASK_ID=task["task_id"]))
    assert curl["status"] == "completed" and curl["progress"] == 100 and curl["result"]["score"] == score
    assert curl["metadata"]["current_step"] and curl["metadata"]["video_duration"] == pytest.approx(2.0, abs=0.1)

    listing = run_client(dialect_stack, "seed000/list_tasks.py")
    assert f"{task['task_id']}: Score {score}" in listing


def test_seed000_webhook_events_are_the_ones_asked_for(api, clip_id, webhook_origin):
    task = analyze(
        api, clip_id, prompt="webhooks", webhook_url=f"{webhook_origin}/hook", events=["task.completed", "task.failed"]
    )
    received = deliveries(task["task_id"], "task.completed")
    assert [payload["event_type"] for payload in received] == ["task.completed"]
    # The note's payload: {"event", "task_id", "timestamp", "result": {"score", ...}}.
    payload = received[0]
    assert payload["event"] == "task.completed" and payload["task_id"] == task["task_id"] and payload["timestamp"]
    polled = api.get(f"/video/tasks/{task['task_id']}").json()
    assert payload["result"]["score"] == polled["result"]["score"] is not None


def test_seed000_cancel_client_stops_a_running_analysis(api, dialect_stack, clip_id, fakes):
    fakes.gemini.processing_polls = 10_000  # the upload never turns ACTIVE: the task keeps running
    try:
        task = analyze(api, clip_id, prompt="a new prompt: no cached result")
        out = run_client(dialect_stack, "seed000/cancel_task.py", SEED_TASK_ID=task["task_id"])
    finally:
        fakes.gemini.processing_polls = 1
    assert out.strip() == "Task cancelada com sucesso!"
    seen = api.get(f"/video/tasks/{task['task_id']}").json()
    assert seen["status"] == "cancelled"
    assert native_task(api, task["task_id"])["status"] == "CANCELLED"


def test_seed000_errors_in_its_codes(api, dialect_stack):
    unknown = str(uuid.uuid4())
    response = api.get(f"/video/tasks/{unknown}")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "TASK_NOT_FOUND"
    assert response.headers["content-type"].startswith("application/json")
    bad = api.get("/video/tasks", params={"status": "COMPLETED"})
    assert bad.status_code == 400 and "queued" in bad.json()["detail"]["message"]
    missing = api.post("/analyze-video", json={"frame_count": 1})
    assert missing.status_code == 400 and missing.json()["detail"]["code"] == "INVALID_INPUT"
    # Another product's task is not a video analysis task here.
    image = upload(api, image_bytes((32, 32), "red"), "image/png", "a.png")
    slideshow = api.post("/api/v1/media/videos/img2vid", json={"images": [{"image_url": image, "duration": 1}]})
    assert slideshow.status_code == 202
    assert api.get(f"/video/tasks/{slideshow.json()['task_id']}").status_code == 404


# --- seed 001: the native API as its examples call it ----------------------------------


def test_seed001_first_use_python_example_reads_the_task_id(api, dialect_stack, webhook_origin):
    out = run_client(dialect_stack, "seed001/first_use.py", SEED_WEBHOOK_ORIGIN=webhook_origin)
    task_id = re.search(r"^Tarefa criada: ([0-9a-f-]{36})$", out, re.M).group(1)
    task = native_task(api, task_id)
    assert task["id"] == task["task_id"] == task_id and task["task_type"] == "image_generation"
    assert task["input"]["style"] == "realistic" and task["input"]["size"] == "1024x1024"


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_seed001_frontend_example_reads_the_task_id(api, dialect_stack, webhook_origin):
    out = run_client(dialect_stack, "seed001/create_image_task.mjs", SEED_WEBHOOK_ORIGIN=webhook_origin)
    task_id = re.search(r"^Tarefa criada: ([0-9a-f-]{36})$", out, re.M).group(1)
    task = native_task(api, task_id)
    assert task["id"] == task["task_id"] == task_id and task["task_type"] == "image_generation"
    completed = deliveries(task_id, "task.completed")[-1]
    assert completed["data"]["status"] == "completed"
    # The note's receiver reads output_data.image_url: a link that works without the key.
    # (Relative here: a webhook has no request to take the host from, so links are absolute
    # once MEDIATASKS_PUBLIC_BASE_URL is set, which this stack does not set.)
    image_url = urljoin(dialect_stack.http_url, completed["data"]["output_data"]["image_url"])
    with httpx.Client(timeout=30) as nobody:
        image = nobody.get(image_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert completed["data"]["output_data"]["metadata"] == {}

    # The note's troubleshooting commands: the delivery's status, the statistics, the cache.
    listed = api.get(f"/api/v1/media/tasks/{task_id}/webhooks").json()["deliveries"]
    delivered = next(d for d in listed if d["event_type"] == "task.completed")
    status = json.loads(
        run_client(dialect_stack, "seed001/webhook_status.sh", SEED_WEBHOOK_ID=delivered["delivery_id"])
    )
    assert status["delivery_id"] == delivered["delivery_id"] and status["task_id"] == task_id
    assert status["state"] == "delivered" and status["attempts"][0]["status_code"] == 204
    statistics = json.loads(run_client(dialect_stack, "seed001/webhook_statistics.sh"))
    assert int(statistics["by_state"]["delivered"]) >= len(listed) - 1
    assert int(statistics["total"]) == sum(int(count) for count in statistics["by_state"].values())

    again = api.post("/api/v1/media/images/generate", json={"prompt": "Um gato robô futurista"})
    assert again.status_code in (200, 202), again.text
    cache = json.loads(run_client(dialect_stack, "seed001/cache_stats.sh"))
    assert int(cache["entries"]) >= 1
    assert int(cache["hits"]) >= 1 and int(cache["cached_tasks"]) >= 1, (cache, again.json())
    other = api.get(f"/api/v1/media/webhooks/{uuid.uuid4()}/status")
    assert other.status_code == 404
    docs = api.get("/docs")
    assert docs.status_code == 301 and docs.headers["location"].endswith("/api/v1/openapi.json")


def test_seed001_batch_as_a_bare_array_or_an_object(api):
    item = {"task_type": "subtitle_generation", "input_data": {"text": "One line of text."}, "priority": "medium"}
    bare = api.post("/api/v1/media/batch", json=[item, {**item, "input_data": {"text": "Another line."}}])
    assert bare.status_code == 200, bare.text
    results = bare.json()["results"]
    assert [result["index"] for result in results] == [0, 1]
    assert all(result["task"]["id"] == result["task"]["task_id"] for result in results)
    wrapped = api.post("/api/v1/media/batch", json={"tasks": [item]})
    assert wrapped.status_code == 200 and wrapped.json()["results"][0]["task"]["task_type"] == "subtitle_generation"


# --- seed 002: async video ---------------------------------------------------------------


@pytest.fixture(scope="module")
def media_ids(api, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("seed002")
    video = make_solid_video(folder / "v.mp4", seconds=2, size=(160, 120), color="0x224466", with_audio=False)
    srt = make_srt(folder / "c.srt", [(0.2, 1.5, "Hello seed two")])
    tone = make_tone(folder / "t.m4a", seconds=1.0, frequency=440)
    return {
        "video": upload(api, video.read_bytes(), "video/mp4", "v.mp4"),
        "srt": upload(api, srt.read_bytes(), "application/x-subrip", "c.srt"),
        "audio": upload(api, tone.read_bytes(), "audio/mp4", "t.m4a"),
        "img1": upload(api, image_bytes((64, 48), (200, 30, 30)), "image/png", "1.png"),
        "img2": upload(api, image_bytes((64, 48), (30, 30, 200)), "image/png", "2.png"),
    }


def seed_images(media_ids: dict[str, str]) -> str:
    return json.dumps(
        [
            {"id": "img1", "image_url": media_ids["img1"], "duracao": 1.0},
            {"id": "img2", "image_url": media_ids["img2"], "duracao": 1.5},
        ]
    )


def test_seed002_python_client_makes_one_video_per_image(dialect_stack, media_ids):
    out = run_client(dialect_stack, "seed002/async_client.py", SEED_IMAGES=seed_images(media_ids))
    assert "Status: COMPLETED" in out
    videos = json.loads(out.split("Videos: ", 1)[1])
    assert [video["id"] for video in videos] == ["img1", "img2"]
    # Each video_url is a link the client fetches as it is (absolute, no API key).
    for video in videos:
        fetched = httpx.get(video["video_url"], timeout=30)
        assert fetched.status_code == 200 and fetched.content[4:8] == b"ftyp"


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_seed002_javascript_client_makes_one_video_per_image(dialect_stack, media_ids):
    out = run_client(dialect_stack, "seed002/async_client.mjs", SEED_IMAGES=seed_images(media_ids))
    videos = json.loads(out.split("Videos: ", 1)[1])
    assert [video["id"] for video in videos] == ["img1", "img2"]


def test_seed002_curl_caption_flow(dialect_stack, api, media_ids):
    submitted = json.loads(
        run_client(
            dialect_stack,
            "seed002/caption_async.sh",
            SEED_VIDEO_URL=media_ids["video"],
            SEED_SRT_URL=media_ids["srt"],
        )
    )
    assert submitted["status"] == "IN_QUEUE"
    job_id = submitted["jobId"]
    wait_for(api, job_id, timeout=60)
    status = json.loads(run_client(dialect_stack, "seed002/job_status.sh", SEED_JOB_ID=job_id))
    assert status["status"] == "COMPLETED"
    assert status["output"]["videos"][0]["filename"] == "video_with_caption.mp4"
    # path honoured: the output is filed under the folder the note's client named.
    video = native_task(api, job_id)["output"]["result"]["video"]
    assert (video["path"], video["filename"]) == ("videos/output", "video_with_caption.mp4")


def unsigned(video: dict) -> dict:
    """A video entry with its link's query (expiry and signature) cut off."""
    return {**video, "video_url": video["video_url"].split("?", 1)[0]}


def test_seed002_shapes_without_path(api, dialect_stack, media_ids):
    """The note's shapes end to end (its clients all send `path`; see the xfails above)."""
    body = {"url_video": media_ids["video"], "url_srt": media_ids["srt"], "output_filename": "captioned.mp4"}
    response = api.post("/video/caption/async", json=body)
    assert response.status_code == 202, response.text
    submitted = response.json()
    job_id = submitted["jobId"]
    assert submitted["status"] == "IN_QUEUE"
    assert submitted["statusUrl"] == f"/video/job/{job_id}"
    assert submitted["resultUrl"] == f"/video/job/{job_id}/result"
    assert submitted["message"].startswith("Job submitted successfully")

    running = api.get(f"/video/job/{job_id}/result")
    if running.status_code == 202:
        assert running.json()["status"] in ("IN_QUEUE", "IN_PROGRESS")
        assert running.json()["statusUrl"] == f"/video/job/{job_id}"
    wait_for(api, job_id, timeout=60)

    status = json.loads(run_client(dialect_stack, "seed002/job_status.sh", SEED_JOB_ID=job_id))
    assert status["id"] == job_id and status["status"] == "COMPLETED"
    assert status["delayTime"] >= 0 and status["executionTime"] > 0
    (video,) = status["output"]["videos"]
    assert video["filename"] == "captioned.mp4"
    download = api.get(video["video_url"])
    assert download.status_code == 200 and download.content[4:8] == b"ftyp"

    result = json.loads(run_client(dialect_stack, "seed002/job_result.sh", SEED_JOB_ID=job_id))
    assert result["jobId"] == job_id and result["status"] == "COMPLETED"
    # The same videos; each read signs its links afresh, so their expiry may differ by a second.
    assert [unsigned(v) for v in result["result"]["videos"]] == [unsigned(v) for v in status["output"]["videos"]]
    assert native_task(api, job_id)["task_type"] == "video_caption"


def test_seed002_img2vid_makes_one_video_per_image_with_the_ids(api, media_ids, tmp_path):
    images = json.loads(seed_images(media_ids))
    response = api.post("/video/img2vid/async", json={"images": images})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert response.json()["estimatedTime"]
    wait_for(api, job_id, timeout=60)
    job = api.get(f"/video/job/{job_id}").json()
    assert job["status"] == "COMPLETED", job
    videos = job["output"]["videos"]
    assert [(video["id"], video["filename"]) for video in videos] == [("img1", "video_1.mp4"), ("img2", "video_2.mp4")]
    assert job["output"]["message"] == "Images converted successfully"
    native = native_task(api, job_id)["output"]["result"]
    one_frame = 1 / 25
    durations = [entry["duration_seconds"] for entry in native["videos"]]
    assert durations == [pytest.approx(1.0, abs=one_frame), pytest.approx(1.5, abs=one_frame)]
    for video in videos:
        download = api.get(video["video_url"])
        assert download.status_code == 200 and download.content[4:8] == b"ftyp"


def test_native_slideshow_stays_one_video(api, media_ids):
    images = json.loads(seed_images(media_ids))
    task = api.post("/api/v1/media/videos/img2vid", json={"images": images, "output_filename": "show.mp4"}).json()
    result = wait_for(api, task["task_id"], timeout=60)["output"]["result"]
    assert result["video"]["filename"] == "show.mp4" and result["videos"] == []
    assert result["duration_seconds"] == pytest.approx(2.5, abs=0.05)


def test_seed002_sync_endpoint_answers_the_finished_job(api, media_ids):
    body = {"url_video": media_ids["video"], "url_audio": media_ids["audio"]}
    response = api.post("/video/addaudio", json=body, timeout=120)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "COMPLETED" and job["output"]["videos"][0]["video_url"]
    assert native_task(api, job["id"])["task_type"] == "video_add_audio"


def test_seed002_cancel_and_errors(api, dialect_stack, media_ids):
    # Ten minutes of slideshow: the job is still encoding when the note's cancel arrives.
    images = [{"id": "long", "image_url": media_ids["img1"], "duracao": 600.0}]
    job_id = api.post("/video/img2vid/async", json={"images": images}).json()["jobId"]
    out = json.loads(run_client(dialect_stack, "seed002/cancel.sh", SEED_JOB_ID=job_id))
    assert out == {"message": "Job cancelled successfully", "jobId": job_id}
    assert api.get(f"/video/job/{job_id}").json()["status"] == "CANCELLED"
    assert native_task(api, job_id)["status"] == "CANCELLED"
    again = api.post(f"/job/{job_id}/cancel")
    assert again.status_code == 200 and again.json()["jobId"] == job_id  # cancelling twice is no error

    unknown = api.get(f"/video/job/{uuid.uuid4()}")
    assert unknown.status_code == 404 and isinstance(unknown.json()["error"], str)
    bad = api.post("/video/img2vid/async", json={"images": []})
    assert bad.status_code == 400 and isinstance(bad.json()["error"], str)


@pytest.mark.parametrize("path", ["/etc", "../up", "videos/../../x", "a b", "x" * 201])
def test_seed002_a_path_outside_a_plain_relative_folder_is_refused_naming_it(api, media_ids, path):
    body = {"url_video": media_ids["video"], "url_srt": media_ids["srt"], "path": path}
    response = api.post("/video/caption/async", json=body)
    assert response.status_code == 400 and "path" in response.json()["error"]


# --- seed 003: SRT + media ---------------------------------------------------------------

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "call_me_back.wav"
SPOKEN = [(0.0, 1.5, "Please call me back"), (1.5, 3.0, "when you get home tonight.")]


@pytest.fixture(scope="module")
def srt_file(tmp_path_factory) -> Path:
    return make_srt(tmp_path_factory.mktemp("seed003") / "given.srt", SPOKEN)


def assert_aligned(result: dict) -> None:
    paragraphs = result["paragraphs"]
    assert " ".join(p["text"] for p in paragraphs) == " ".join(text for _, _, text in SPOKEN)
    for paragraph in paragraphs:
        assert 0.0 <= paragraph["start"] < paragraph["end"] <= 3.5


def test_seed003_javascript_client_creates_polls_and_completes(api, dialect_stack, srt_file):
    out = run_client(
        dialect_stack,
        "seed003/client.mjs",
        SEED_AUTH_HEADER="X-API-Key",
        SEED_USER_ID=dialect_stack.api_key,
        SEED_SRT_FILE=str(srt_file),
        SEED_MEDIA_FILE=str(SPEECH),
    )
    assert "Processing failed" not in out, out
    task_id = re.search(r"^Task created: (\S+)$", out, re.M).group(1)
    assert "Progress: 100% - completed" in out, out

    result = api.get(f"/tasks/{task_id}/result")
    assert result.status_code == 200, result.text
    assert result.json()["status"] == "completed"
    assert_aligned(result.json()["result"])
    native = native_task(api, task_id)
    assert native["task_type"] == "subtitle_generation" and native["status"] == "COMPLETED"


def multipart(srt_file: Path, media: Path = SPEECH) -> dict:
    return {
        "srt_file": (srt_file.name, srt_file.read_bytes(), "application/x-subrip"),
        "media_file": (media.name, media.read_bytes(), "audio/wav"),
    }


def test_seed003_sync_endpoint_lists_and_errors(api, srt_file):
    response = api.post("/process/srt_media/sync", files=multipart(srt_file), timeout=120)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "completed"
    assert_aligned(done["result"])

    status = api.get(f"/tasks/{done['task_id']}/status").json()
    assert status["status"] == "completed" and status["stage"] == "completed" and status["progress"] == 100
    mine = api.get("/users/me/tasks", params={"include_completed": "true"}).json()
    assert mine["total_completed"] >= 1 and mine["total_active"] == len(mine["active_tasks"])
    assert done["task_id"] in [task["task_id"] for task in mine["completed_tasks"]]
    assert api.get("/users/me/tasks").json()["completed_tasks"] == []

    unknown = api.get(f"/tasks/{uuid.uuid4()}/status")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Task not found"}
    half = {"srt_file": multipart(srt_file)["srt_file"]}
    missing = api.post("/process/srt_media/", files=half)
    assert missing.status_code == 400 and "media_file" in missing.json()["detail"]
    not_a_form = api.post("/process/srt_media/", content=b"{}", headers={"content-type": "application/json"})
    assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.json()["detail"]


def test_seed003_cancel_answers_the_cancelled_task(api, srt_file, tmp_path):
    long_media = make_tone(tmp_path / "long.m4a", seconds=600.0, frequency=300)
    created = api.post("/process/srt_media/", files=multipart(srt_file, long_media), timeout=120)
    assert created.status_code == 202, created.text
    task_id = created.json()["task_id"]
    assert created.json()["status"] in ("pending", "processing")
    cancelled = api.delete(f"/tasks/{task_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert native_task(api, task_id)["status"] == "CANCELLED"


def test_seed003_client_unchanged_behind_a_trusted_proxy(dialect_stack, srt_file):
    """The note's client exactly as printed: X-User-ID names the user (trusted-proxy mode)."""
    out = run_client(dialect_stack, "seed003/client.mjs", SEED_SRT_FILE=str(srt_file), SEED_MEDIA_FILE=str(SPEECH))
    task_id = re.search(r"^Task created: (\S+)$", out, re.M).group(1)
    assert "Progress: 100% - completed" in out, out
    with httpx.Client(base_url=dialect_stack.http_url, headers={"X-User-ID": "user123"}, timeout=30) as proxied:
        result = proxied.get(f"/tasks/{task_id}/result").json()
        assert result["status"] == "completed"
        assert_aligned(result["result"])
        assert proxied.get("/users/me/tasks").json()["user_id"] == "user123"
        # X-User-ID is an identity on seed 003's routes only: elsewhere it is no credential.
        native = proxied.get(f"/api/v1/media/tasks/{task_id}")
        assert native.status_code == 401
        assert proxied.get(f"/video/job/{task_id}").status_code == 401
    with httpx.Client(base_url=dialect_stack.http_url, headers={"X-User-ID": "someone-else"}, timeout=30) as other:
        assert other.get(f"/tasks/{task_id}/status").status_code == 404
    with httpx.Client(base_url=dialect_stack.http_url, timeout=30) as anonymous:
        missing = anonymous.get(f"/tasks/{task_id}/status")
        assert missing.status_code == 401 and "X-User-ID" in missing.text


def test_seed003_media_over_a_grpc_message_is_streamed_into_the_store(api, srt_file, tmp_path):
    """80 MiB of media: more than one gRPC message (64 MiB) or the transcoder's JSON buffer
    could hold, so it arrives only because each part is streamed into the store."""
    size = 80 * 1024 * 1024
    media = tmp_path / "big.wav"
    with media.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    with media.open("rb") as body:
        files = {"srt_file": (srt_file.name, srt_file.read_bytes(), "application/x-subrip"), "media_file": body}
        created = api.post("/process/srt_media/", files=files, timeout=180)
    assert created.status_code == 202, created.text
    task = native_task(api, created.json()["task_id"])
    stored = api.head(f"/api/v1/media/artifacts/{task['input']['media_url']}")
    assert stored.status_code == 200 and int(stored.headers["content-length"]) == size
    api.delete(f"/tasks/{task['task_id']}")


DIALECT_ROUTES = [
    ("GET", "/video/tasks/{id}", "detail"),
    ("DELETE", "/video/tasks/{id}", "detail"),
    ("GET", "/video/job/{id}", "error"),
    ("GET", "/video/job/{id}/result", "error"),
    ("POST", "/job/{id}/cancel", "error"),
    ("GET", "/tasks/{id}/status", "detail"),
    ("GET", "/tasks/{id}/result", "detail"),
    ("DELETE", "/tasks/{id}", "detail"),
]
HOSTILE_IDS = ["not-a-uuid", "*", "a.b.c", "%00", "x" * 300, "00000000-0000-4000-8000-000000000000", "..%2F..%2Fetc"]


def test_hostile_ids_answer_each_dialect_s_error_body(api):
    for method, template, key in DIALECT_ROUTES:
        for hostile in HOSTILE_IDS:
            path = template.replace("{id}", hostile)
            response = api.request(method, path)
            assert response.status_code in (400, 404), f"{method} {path} -> {response.status_code} {response.text}"
            body = response.json()
            assert key in body or "code" in body, (method, path, body)  # "code": the transcoder's own 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/analyze-video", b"[]"),
        ("/analyze-video", b'{"video_url": 5}'),
        ("/video/caption/async", b'{"url_video": "file:///etc/passwd", "url_srt": "x"}'),
        ("/video/img2vid/async", b'{"images": [{"image_url": "x", "duracao": -1}]}'),
        ("/process/srt_media/", b"--x\r\n"),
    ],
)
def test_hostile_bodies_are_refused_not_500(api, path, body):
    response = api.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, f"{path} -> {response.status_code} {response.text}"
    assert isinstance(response.json(), dict)
