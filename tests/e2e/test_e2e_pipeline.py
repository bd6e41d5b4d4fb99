"""Issue 2 end to end through the real Envoy: submit, poll, download, cancel, idempotency,
a worker killed mid-job, and the REST error shapes."""

from __future__ import annotations

import os
import signal
import time
import uuid

import psutil
import pytest
from helpers.media import image_bytes
from helpers.stacks import FINISHED, error_reason, upload, wait_for

pytestmark = pytest.mark.e2e


def submit_subtitles(rest, text: str, **extra):
    return rest.post("/api/v1/media/subtitles/generate", json={"text": text, **extra})


def test_submit_poll_download(rest):
    text = f"The quick brown fox jumps over the lazy dog. Run {uuid.uuid4().hex[:6]} ends here."
    response = submit_subtitles(rest, text, format="srt")
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["status"] == "QUEUED"
    assert task["progress"] == 0 and task["task_type"] == "subtitle_generation"
    done = wait_for(rest, task["task_id"])
    assert done["status"] == "COMPLETED", done.get("error")
    assert done["progress"] == 100 and done["attempt"] == 1
    artifact = done["output"]["artifacts"][0]
    download = rest.get(artifact["url"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/x-subrip")
    assert "00:00:00,000 -->" in download.text and "lazy dog" in download.text
    result = rest.get(f"/api/v1/media/tasks/{task['task_id']}/result")
    assert result.status_code == 200
    assert result.json()["result"]["artifacts"][0]["artifact_id"] == artifact["artifact_id"]


def test_result_answers_202_while_running_and_list_shape(rest):
    # A slideshow long enough to still be running when we ask.
    image = upload(rest, image_bytes((640, 360), "navy"), "image/png", "slide.png")
    body = {"images": [{"image_url": image, "duracao": 40}], "width": 640, "height": 360, "fps": 25}
    task = rest.post("/api/v1/media/videos/img2vid", json=body).json()
    early = rest.get(f"/api/v1/media/tasks/{task['task_id']}/result")
    assert early.status_code == 202
    assert early.json()["status"] in ("QUEUED", "PROCESSING")
    listing = rest.get("/api/v1/media/tasks", params={"task_type": "video_img2vid", "limit": 5}).json()
    assert {"total", "limit", "offset", "items", "next_page_token"} <= set(listing)
    assert any(item["task_id"] == task["task_id"] for item in listing["items"])
    rest.post(f"/api/v1/media/tasks/{task['task_id']}/cancel", json={})


def ffmpeg_children(stack) -> dict[int, int]:
    """ffmpeg pid -> the service process that started it."""
    found = {}
    for process in stack.processes:
        try:
            for child in psutil.Process(process.child.pid).children(recursive=True):
                if "ffmpeg" in child.name():
                    found[child.pid] = process.child.pid
        except psutil.NoSuchProcess:
            continue
    return found


def test_cancel_stops_running_job(rest, stack):
    image = upload(rest, image_bytes((1280, 720), "teal"), "image/png", "slide.png")
    body = {"images": [{"image_url": image, "duration": 120}], "width": 1280, "height": 720, "fps": 30}
    task = rest.post("/api/v1/media/videos/img2vid", json=body).json()
    wait_for(rest, task["task_id"], statuses=("PROCESSING",), timeout=30)
    deadline = time.monotonic() + 15
    while not ffmpeg_children(stack):
        assert time.monotonic() < deadline, "ffmpeg never started"
        time.sleep(0.1)
    response = rest.post(f"/api/v1/media/tasks/{task['task_id']}/cancel", json={"reason": "test"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED"
    deadline = time.monotonic() + 2.5
    while ffmpeg_children(stack):
        assert time.monotonic() < deadline, "ffmpeg still running 2.5 s after cancel"
        time.sleep(0.05)
    time.sleep(1.0)
    final = rest.get(f"/api/v1/media/tasks/{task['task_id']}").json()
    assert final["status"] == "CANCELLED"
    assert not final.get("output", {}).get("artifacts")


def test_cancel_queued_task_never_completes(rest):
    task = submit_subtitles(rest, f"Cancel me {uuid.uuid4().hex}.", priority="low").json()
    response = rest.delete(f"/api/v1/media/tasks/{task['task_id']}")
    if response.status_code == 409:  # a subtitle job is quick: it may have finished already
        assert error_reason(response) == "TASK_ALREADY_FINISHED"
        assert rest.get(f"/api/v1/media/tasks/{task['task_id']}").json()["status"] == "COMPLETED"
        return
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    time.sleep(1.0)
    assert rest.get(f"/api/v1/media/tasks/{task['task_id']}").json()["status"] == "CANCELLED"


def test_idempotent_resubmit(rest):
    key = uuid.uuid4().hex
    body = {"text": f"Idempotent {key}.", "format": "vtt"}
    first = rest.post("/api/v1/media/subtitles/generate", json=body, headers={"Idempotency-Key": key})
    second = rest.post("/api/v1/media/subtitles/generate", json=body, headers={"Idempotency-Key": key})
    assert first.status_code in (200, 202) and second.status_code in (200, 202)
    assert first.json()["task_id"] == second.json()["task_id"]
    other = rest.post(
        "/api/v1/media/subtitles/generate", json={**body, "format": "srt"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert error_reason(other) == "IDEMPOTENCY_KEY_REUSED"


def test_worker_killed_mid_job_completes_once_elsewhere(rest, stack):
    image = upload(rest, image_bytes((640, 360), "olive"), "image/png", "slide.png")
    body = {"images": [{"image_url": image, "duration": 25}], "width": 640, "height": 360, "fps": 25}
    task = rest.post("/api/v1/media/videos/img2vid", json=body).json()
    wait_for(rest, task["task_id"], statuses=("PROCESSING",), timeout=30)
    deadline = time.monotonic() + 15
    while not (children := ffmpeg_children(stack)):
        assert time.monotonic() < deadline, "ffmpeg never started"
        time.sleep(0.05)
    victim_pid = next(iter(children.values()))
    victim = next(p for p in stack.processes if p.child.pid == victim_pid)
    os.kill(victim_pid, signal.SIGKILL)
    try:
        done = wait_for(rest, task["task_id"], timeout=90)
        assert done["status"] == "COMPLETED", done.get("error")
        assert done["attempt"] == 2
        events = rest.get(f"/api/v1/media/tasks/{task['task_id']}/events", timeout=30).text
        assert events.count("event: task.completed") == 1
        assert events.count("event: task.started") == 2
        video = rest.get(done["output"]["artifacts"][0]["url"])
        assert video.status_code == 200 and len(video.content) > 1000
    finally:
        stack.restart(victim)


def test_bad_body_is_400_with_status_json(rest):
    response = rest.post(
        "/api/v1/media/subtitles/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 3 and body["message"]
    empty = rest.post("/api/v1/media/subtitles/generate", json={"text": "   "})
    assert empty.status_code == 400
    assert error_reason(empty) == "INVALID_INPUT"
    assert empty.json()["details"][0]["domain"] == "mediatasks"


def test_unknown_task_is_404_task_not_found(rest):
    response = rest.get(f"/api/v1/media/tasks/{uuid.uuid4()}")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 5
    assert error_reason(response) == "TASK_NOT_FOUND"


def test_no_credentials_is_401(anonymous):
    response = anonymous.get("/api/v1/media/tasks")
    assert response.status_code == 401
    assert error_reason(response) == "UNAUTHENTICATED"


def test_finished_statuses_are_named(rest):
    listing = rest.get("/api/v1/media/tasks", params={"status": "completed", "limit": 3}).json()
    assert all(item["status"] in FINISHED for item in listing["items"])


def test_prefer_wait_answers_200_with_the_finished_task(rest):
    response = rest.post(
        "/api/v1/media/subtitles/generate",
        json={"text": f"Wait for me {uuid.uuid4().hex}."},
        headers={"Prefer": "wait=20"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"


def test_batch_answers_one_result_per_item(rest):
    image = upload(rest, image_bytes((40, 30), "red"), "image/png", "tiny.png")
    response = rest.post(
        "/api/v1/media/batch",
        json={
            "tasks": [
                {"task_type": "subtitle_generation", "input_data": {"text": f"Batch {uuid.uuid4().hex}."}},
                {
                    "task_type": "image_transform",
                    "priority": "high",
                    "input_data": {"image_url": image, "operations": [{"op": "resize", "width": 20}]},
                },
                {"task_type": "subtitle_generation", "input_data": {"text": "  "}},
                {"task_type": "no_such_type", "input_data": {}},
            ]
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["task"]["task_type"] == "subtitle_generation"
    assert results[1]["task"]["priority"] == "high"
    assert results[2]["error"]["reason"] == "INVALID_INPUT"
    assert results[3]["error"]["reason"] == "INVALID_INPUT"
    for item in results[:2]:
        assert wait_for(rest, item["task"]["task_id"])["status"] == "COMPLETED"
    too_many = rest.post("/api/v1/media/batch", json={"tasks": [{"task_type": "subtitle_generation"}] * 51})
    assert too_many.status_code == 400


def test_wait_endpoint_and_manual_retry(rest):
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Retry {uuid.uuid4().hex}."}).json()
    waited = rest.get(f"/api/v1/media/tasks/{task['task_id']}/wait", params={"timeout_seconds": 20})
    assert waited.status_code == 200 and waited.json()["status"] == "COMPLETED"
    refused = rest.post(f"/api/v1/media/tasks/{task['task_id']}/retry", json={})
    assert refused.status_code == 409  # only FAILED or CANCELLED tasks are retried
    cancelled = rest.post(
        "/api/v1/media/subtitles/generate", json={"text": f"C {uuid.uuid4().hex}.", "priority": "low"}
    ).json()
    rest.post(f"/api/v1/media/tasks/{cancelled['task_id']}/cancel", json={})
    state = rest.get(f"/api/v1/media/tasks/{cancelled['task_id']}").json()["status"]
    if state == "CANCELLED":
        again = rest.post(f"/api/v1/media/tasks/{cancelled['task_id']}/retry", json={})
        assert again.status_code == 200 and again.json()["status"] == "QUEUED"
        assert wait_for(rest, cancelled["task_id"])["status"] == "COMPLETED"


def test_delete_of_a_finished_task_removes_it_and_its_artifacts(rest):
    task = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Delete me {uuid.uuid4().hex}."}).json()
    done = wait_for(rest, task["task_id"])
    url = done["output"]["artifacts"][0]["url"]
    assert rest.get(url).status_code == 200
    deleted = rest.delete(f"/api/v1/media/tasks/{task['task_id']}")
    assert deleted.status_code == 200
    assert rest.get(f"/api/v1/media/tasks/{task['task_id']}").status_code == 404
    gone = rest.get(url)
    assert gone.status_code == 404 and error_reason(gone) == "ARTIFACT_NOT_FOUND"
