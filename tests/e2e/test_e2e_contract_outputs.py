"""Issue 12, items 2 and 3 end to end through the real Envoy: download links a client can
fetch without its API key, metadata as any JSON object within limits, and option fields
that are honoured or refused (never accepted and ignored)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from helpers.media import image_bytes
from helpers.stacks import error_reason, upload, wait_for

pytestmark = pytest.mark.e2e

NESTED = {"client": {"id": 42, "tags": ["a", "b"], "deep": {"ok": True}}, "score": 0.75, "name": "x"}

# Each create endpoint with a body that is otherwise valid enough to reach the metadata.
CREATE_BODIES = {
    "images/generate": {"prompt": "a red square"},
    "images/transform": {"image_url": "https://example.com/a.png", "operations": [{"op": "resize", "width": 10}]},
    "videos/generate": {"prompt": "waves"},
    "videos/caption": {"video_url": "https://example.com/a.mp4", "subtitles": "1\n00:00:00,000 --> 00:00:01,000\nx\n"},
    "videos/img2vid": {"images": [{"url": "https://example.com/a.png", "duration": 1}]},
    "videos/add-audio": {"video_url": "https://example.com/a.mp4", "audio_url": "https://example.com/a.mp3"},
    "videos/analyze": {"video_url": "https://example.com/a.mp4"},
    "audio/transcribe": {"audio_url": "https://example.com/a.mp3"},
    "subtitles/generate": {"text": "Hello there."},
}


def sse_events(text: str) -> list[dict]:
    events = []
    for block in text.split("\n\n"):
        data = [line[len("data: ") :] for line in block.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads("".join(data)))
    return events


@pytest.mark.parametrize("path", sorted(CREATE_BODIES))
def test_nested_metadata_is_never_a_server_error(rest, path):
    # Before: a nested object was a 500 DecodeError and a number a 400 on every endpoint.
    response = rest.post(f"/api/v1/media/{path}", json={**CREATE_BODIES[path], "metadata": NESTED})
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        assert response.json()["metadata"] == NESTED
    else:  # refused for another reason (no provider configured, an unreachable URL), never metadata
        assert "DecodeError" not in response.text and "metadata" not in response.json()["message"], response.text


def test_metadata_any_json_object_is_stored_and_echoed(rest):
    text = f"Metadata {uuid.uuid4().hex}."
    response = rest.post("/api/v1/media/subtitles/generate", json={"text": text, "metadata": NESTED})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["metadata"] == NESTED
    done = wait_for(rest, created["task_id"])
    assert done["status"] == "COMPLETED" and done["metadata"] == NESTED
    listed = rest.get("/api/v1/media/tasks", params={"task_type": "subtitle_generation", "limit": 100}).json()
    assert next(t for t in listed["items"] if t["task_id"] == created["task_id"])["metadata"] == NESTED
    events = sse_events(rest.get(f"/api/v1/media/tasks/{created['task_id']}/events", timeout=30).text)
    assert events and all(e["task"]["metadata"] == NESTED for e in events)


@pytest.mark.parametrize(
    ("metadata", "limit"),
    [
        ({"big": "x" * 20000}, "max_bytes"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, "max_depth"),
        ({f"k{i}": i for i in range(300)}, "max_keys"),
    ],
)
def test_metadata_over_a_limit_is_refused_naming_it(rest, metadata, limit):
    before = rest.get("/api/v1/media/tasks", params={"limit": 1}).json()["total"]
    response = rest.post("/api/v1/media/subtitles/generate", json={"text": "Too much.", "metadata": metadata})
    assert response.status_code == 400, response.text
    assert error_reason(response) == "METADATA_TOO_LARGE"
    info = next(d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["metadata"]["limit"] == limit and info["metadata"]["field"] == "metadata"
    assert f"MEDIATASKS_METADATA_{limit.upper()}" in response.json()["message"]
    assert rest.get("/api/v1/media/tasks", params={"limit": 1}).json()["total"] == before


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"webhook_url": "https://example.com/hook", "webhook_events": ["task.finished"]}, "'task.finished'"),
        ({"webhook_events": ["completed"]}, "needs a webhook_url"),
    ],
    ids=["unknown-event", "events-without-url"],
)
def test_webhook_events_that_would_never_matter_are_refused(rest, extra, named):
    response = rest.post("/api/v1/media/subtitles/generate", json={"text": "Hooks.", **extra})
    assert response.status_code == 400, response.text
    assert error_reason(response) == "INVALID_INPUT"
    assert "webhook_events" in response.json()["message"] and named in response.json()["message"]


def _assert_link(stack, anonymous, artifact: dict, expected: bytes) -> None:
    link = artifact["download_url"]
    assert link.startswith(stack.http_url + "/api/v1/media/files/"), link
    assert artifact["download_url_expires_at"]
    assert artifact["url"].startswith("/api/v1/media/artifacts/")  # the authenticated path stays
    response = anonymous.get(link)  # no X-API-Key
    assert response.status_code == 200, response.text
    assert response.content == expected


def test_every_answer_carries_a_download_link_usable_without_the_key(rest, anonymous, stack):
    source = upload(rest, image_bytes((64, 48), (10, 200, 30)), "image/png", "dot.png")
    body = {"image_url": source, "operations": [{"op": "resize", "width": 32}], "output_format": "png"}
    created = rest.post("/api/v1/media/images/transform", json=body)
    assert created.status_code == 202, created.text
    task_id = created.json()["task_id"]
    done = wait_for(rest, task_id)
    assert done["status"] == "COMPLETED", done
    image = done["output"]["result"]["image"]
    expected = rest.get(image["url"]).content
    _assert_link(stack, anonymous, image, expected)  # inside the typed result
    for artifact in done["output"]["artifacts"]:
        _assert_link(stack, anonymous, artifact, rest.get(artifact["url"]).content)
    result = rest.get(f"/api/v1/media/tasks/{task_id}/result").json()
    _assert_link(stack, anonymous, result["result"]["result"]["image"], expected)
    listed = rest.get("/api/v1/media/tasks", params={"task_type": "image_transform", "limit": 100}).json()
    item = next(t for t in listed["items"] if t["task_id"] == task_id)
    _assert_link(stack, anonymous, item["output"]["result"]["image"], expected)
    events = sse_events(rest.get(f"/api/v1/media/tasks/{task_id}/events", timeout=30).text)
    completed = next(e for e in events if e["event_type"] == "task.completed")
    _assert_link(stack, anonymous, completed["task"]["output"]["result"]["image"], expected)


def test_a_tampered_or_expired_link_is_refused(rest, anonymous):
    source = upload(rest, image_bytes((40, 40), (0, 0, 255)), "image/png", "blue.png")
    body = {"image_url": source, "operations": [{"op": "resize", "width": 20}], "output_format": "png"}
    done = wait_for(rest, rest.post("/api/v1/media/images/transform", json=body).json()["task_id"])
    link = done["output"]["result"]["image"]["download_url"]
    parts = urlsplit(link)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    forged = f"{parts.scheme}://{parts.netloc}{parts.path}?expires={int(query['expires']) + 1}&signature={query['signature']}"
    assert anonymous.get(forged).status_code == 403
    past = f"{parts.scheme}://{parts.netloc}{parts.path}?expires=1&signature={query['signature']}"
    assert anonymous.get(past).status_code == 403
    assert anonymous.get(done["output"]["result"]["image"]["url"]).status_code == 401


# --- offerings per model ---------------------------------------------------------------


def _refusal(response) -> tuple[str, str]:
    assert response.status_code == 400, response.text
    return error_reason(response), response.json()["message"]


def test_image_sizes_are_checked_per_model(rest):
    # No vendor key in this stack: a request some model can serve asks for that vendor's
    # key; one no model can serve says what each provider offers.
    reason, message = _refusal(
        rest.post("/api/v1/media/images/generate", json={"prompt": "x", "model": "dall-e-2", "size": "512x512"})
    )
    assert reason == "PROVIDER_NOT_CONFIGURED" and "MEDIATASKS_OPENAI_API_KEY" in message
    reason, message = _refusal(
        rest.post("/api/v1/media/images/generate", json={"prompt": "x", "model": "dall-e-3", "size": "1792x1024"})
    )
    assert reason == "PROVIDER_NOT_CONFIGURED" and "MEDIATASKS_OPENAI_API_KEY" in message
    reason, message = _refusal(
        rest.post("/api/v1/media/images/generate", json={"prompt": "x", "model": "dall-e-3", "size": "512x512"})
    )
    assert reason == "INVALID_INPUT" and "size 512x512 not supported with model dall-e-3" in message


def test_a_pinned_whisper_1_asks_for_openai_not_assemblyai(rest):
    audio = upload(rest, b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28), "audio/wav", "a.wav")
    reason, message = _refusal(
        rest.post("/api/v1/media/audio/transcribe", json={"audio_url": audio, "model": "whisper-1"})
    )
    assert reason == "PROVIDER_NOT_CONFIGURED"
    assert "MEDIATASKS_OPENAI_API_KEY" in message and "ASSEMBLYAI" not in message
    reason, message = _refusal(
        rest.post("/api/v1/media/audio/transcribe", json={"audio_url": audio, "model": "nope-1"})
    )
    assert reason == "INVALID_INPUT" and "model nope-1 not offered" in message and "whisper-1" in message


# --- fields that were accepted and ignored -------------------------------------------------

TIMED_SRT = "1\n00:00:01,250 --> 00:00:02,500\nFirst line\n\n2\n00:00:04,000 --> 00:00:06,750\nSecond line\n"


def test_manual_timing_keeps_the_times_the_text_carries(rest):
    body = {"text": TIMED_SRT, "timing_mode": "manual", "format": "vtt"}
    done = wait_for(rest, rest.post("/api/v1/media/subtitles/generate", json=body).json()["task_id"])
    assert done["status"] == "COMPLETED", done
    result = done["output"]["result"]
    assert result["format"] == "vtt" and result["cue_count"] == 2
    assert "00:00:01.250 --> 00:00:02.500" in result["content"]
    assert "00:00:04.000 --> 00:00:06.750" in result["content"]
    assert result["duration_seconds"] == 6.75
    # Automatic timing of the same request would time the words by reading speed instead.
    auto = wait_for(
        rest, rest.post("/api/v1/media/subtitles/generate", json={"text": "First line. Second line."}).json()["task_id"]
    )
    assert "00:00:01,250 --> 00:00:02,500" not in auto["output"]["result"]["content"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"text": "Hello.", "timing_mode": "karaoke"}, "timing_mode must be one of auto, manual"),
        ({"text": "just words, no times", "timing_mode": "manual"}, "needs text to be a timed"),
        ({"text": TIMED_SRT, "timing_mode": "manual", "media_url": "https://example.com/a.mp3"}, "media_url"),
    ],
    ids=["unknown-mode", "untimed-text", "with-media"],
)
def test_timing_modes_that_cannot_be_honoured_are_refused(rest, body, named):
    response = rest.post("/api/v1/media/subtitles/generate", json=body)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"] and "timing_mode" in response.json()["message"]


def test_slideshow_echoes_slide_ids_with_their_timing(rest):
    first = upload(rest, image_bytes((64, 48), (255, 0, 0)), "image/png", "a.png")
    second = upload(rest, image_bytes((48, 64), (0, 0, 255)), "image/png", "b.png")
    body = {
        "images": [
            {"id": "img1", "image_url": first, "duration": 1},
            {"id": "img2", "image_url": second, "duration": 2},
        ],
        "width": 320,
        "height": 240,
        "fps": 25,
    }
    done = wait_for(rest, rest.post("/api/v1/media/videos/img2vid", json=body).json()["task_id"])
    assert done["status"] == "COMPLETED", done
    slides = done["output"]["result"]["slides"]
    assert slides == [
        {"id": "img1", "image_url": first, "start_seconds": 0.0, "end_seconds": 1.0},
        {"id": "img2", "image_url": second, "start_seconds": 1.0, "end_seconds": 3.0},
    ]


@pytest.mark.parametrize("field", ["provider", "strategy"])
def test_provider_choice_on_a_local_job_is_refused(rest, field):
    source = upload(rest, image_bytes((20, 20), (1, 2, 3)), "image/png", "x.png")
    body = {
        "image_url": source,
        "operations": [{"op": "resize", "width": 10}],
        field: "openai" if field == "provider" else "cost",
    }
    response = rest.post("/api/v1/media/images/transform", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"{field}: image_transform runs locally")


# --- task logs -------------------------------------------------------------------------


def test_a_job_logs_its_lifecycle_and_its_ffmpeg_summary(rest):
    first = upload(rest, image_bytes((64, 48), (0, 255, 0)), "image/png", "g.png")
    body = {"images": [{"id": "only", "image_url": first, "duration": 1}], "width": 160, "height": 120}
    task_id = rest.post("/api/v1/media/videos/img2vid", json=body).json()["task_id"]
    done = wait_for(rest, task_id)
    assert done["status"] == "COMPLETED", done
    entries = rest.get(f"/api/v1/media/tasks/{task_id}/logs").json()["entries"]
    messages = [entry["message"] for entry in entries]
    assert messages[0] == "created as video_img2vid" and messages[1].startswith("queued (medium priority")
    assert any(m.startswith("started attempt 1 of ") for m in messages)
    assert any(m.startswith("stage: ") for m in messages)
    ffmpeg = [m for m in messages if m.startswith("ffmpeg ") and " finished in " in m]
    assert ffmpeg and " frames, " in ffmpeg[-1] and " kB" in ffmpeg[-1]  # from ffmpeg's last progress report
    assert messages[-1].startswith("completed attempt 1 in ") and "provider local" in messages[-1]
    # The same lines stream live on the events stream, in order.
    events = sse_events(rest.get(f"/api/v1/media/tasks/{task_id}/events", timeout=30).text)
    streamed = [entry["message"] for event in events for entry in event.get("log_entries", [])]
    assert streamed == messages


def test_an_upload_answers_with_its_download_link(rest, anonymous, stack):
    data = b"uploaded bytes " + uuid.uuid4().bytes
    response = rest.post(
        "/api/v1/media/uploads", content=data, headers={"content-type": "application/pdf", "x-filename": "doc.pdf"}
    )
    assert response.status_code == 200, response.text
    _assert_link(stack, anonymous, response.json(), data)


def test_a_batch_item_answered_from_the_cache_carries_an_absolute_link(rest, anonymous, stack):
    text = f"Cached line {uuid.uuid4().hex}."
    first = wait_for(rest, rest.post("/api/v1/media/subtitles/generate", json={"text": text}).json()["task_id"])
    assert first["status"] == "COMPLETED", first
    response = rest.post(
        "/api/v1/media/batch", json={"tasks": [{"task_type": "subtitle_generation", "input_data": {"text": text}}]}
    )
    assert response.status_code == 200, response.text
    task = response.json()["results"][0]["task"]
    assert task["cache_hit"] and task["status"] == "COMPLETED"
    artifact = task["output"]["artifacts"][0]
    _assert_link(stack, anonymous, artifact, rest.get(artifact["url"]).content)
