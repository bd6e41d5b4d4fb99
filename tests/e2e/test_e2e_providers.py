"""Cloud providers end to end through Envoy: a stack of its own whose services point at the
fake vendors (real wire formats on loopback), driven over REST.

Covered: image generation (PNG download), Whisper and AssemblyAI transcription, Gemini
video analysis with an LLM score, Veo video generation (5 s rounded up to 6 s), subtitle
translation; provider/model/cost on tasks and in /statistics; /providers; a rate limit
retried; a content-policy refusal failing at once; cross-vendor failover in the worker; the
circuit breaker opening; the result cache; cancelling a hanging vendor call. And on the
session stack, which has no keys: cloud jobs refused at submit naming the variables to set,
while offline transcription still works.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from helpers.media import make_video
from helpers.stacks import error_reason, upload, wait_for
from mediatasks.core.settings import Settings
from mediatasks.devstack.embedded_postgres import create_database, drop_database
from mediatasks.devstack.stack import Stack
from mediatasks.testing.fake_vendors import FakeVendors, running_fakes
from PIL import Image

pytestmark = pytest.mark.e2e

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
CIRCUIT_THRESHOLD = 2
CIRCUIT_RESET_SECONDS = 8.0


def reset_fakes(fakes: FakeVendors) -> None:
    """Forget faults and calls; vendors answer after one poll (the adapters poll every 1-2 s)."""
    fakes.reset()
    fakes.gemini.processing_polls = 1
    fakes.gemini.operation_polls = 1
    fakes.openai.video_polls = 1
    fakes.assemblyai.polls_until_complete = 1


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeVendors]:
    with running_fakes() as vendors:
        yield vendors


@pytest.fixture(autouse=True)
def fresh_fakes(fakes: FakeVendors) -> FakeVendors:
    reset_fakes(fakes)
    return fakes


@pytest.fixture(scope="module")
def cloud(fakes: FakeVendors, postgres_server) -> Iterator[Stack]:
    """registry, image, video, audio, subtitle with every vendor key, on a NATS server and a
    database of their own (the session stack must not take these jobs)."""
    database = f"providers_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, database)
    state = Path(tempfile.mkdtemp(prefix="mediatasks-providers-"))
    stack = Stack(
        state,
        settings=Settings(database_url=url),
        env={
            **fakes.env(),
            "MEDIATASKS_RETRY_SCHEDULE_SECONDS": "0.2,0.2,0.2",
            "MEDIATASKS_CIRCUIT_FAILURE_THRESHOLD": str(CIRCUIT_THRESHOLD),
            "MEDIATASKS_CIRCUIT_RESET_SECONDS": str(CIRCUIT_RESET_SECONDS),
            "MEDIATASKS_PROVIDER_TIMEOUT_SECONDS": "30",
            "MEDIATASKS_ACK_WAIT_SECONDS": "3",
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "3",
            "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.2",
            "MEDIATASKS_LOG_JSON": "false",
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "50",
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        drop_database(postgres_server.server_url, database)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def api(cloud: Stack) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": cloud.api_key}
    with httpx.Client(base_url=cloud.http_url, headers=headers, timeout=30.0) as client:
        yield client


def submit(client: httpx.Client, path: str, body: dict, expect: int = 202) -> dict:
    response = client.post(f"/api/v1/media/{path}", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def finished(client: httpx.Client, path: str, body: dict, timeout: float = 30.0) -> dict:
    task = submit(client, path, body)
    return wait_for(client, task["task_id"], timeout=timeout)


def completed(client: httpx.Client, path: str, body: dict, timeout: float = 30.0) -> dict:
    task = finished(client, path, body, timeout)
    assert task["status"] == "COMPLETED", task.get("error")
    return task


def image_body(**extra: object) -> dict:
    return {"prompt": f"a red kite over the sea {uuid.uuid4().hex[:8]}", **extra}


def providers_listed(client: httpx.Client) -> dict[str, dict]:
    response = client.get("/api/v1/media/providers")
    assert response.status_code == 200, response.text
    return {f"{p['service']}.{p['name']}": p for p in response.json()["providers"]}


def eventually(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


def upload_file(client: httpx.Client, path: Path, content_type: str) -> str:
    return upload(client, path.read_bytes(), content_type, path.name)


# --- the happy paths ---------------------------------------------------------------------


def test_image_generation_and_the_result_cache(api, fakes):
    body = image_body(size="1024x1024")
    task = completed(api, "images/generate", body)
    assert (task["provider"], task["model"]) == ("openai", "gpt-image-2")
    assert task["cost_usd"] > 0 and task["cache_hit"] is False and task["attempt"] == 1
    download = api.get(task["output"]["artifacts"][0]["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert Image.open(BytesIO(download.content)).format == "PNG"
    assert fakes.openai.count("images") == 1

    again = api.post("/api/v1/media/images/generate", json=body)
    assert again.status_code == 200, again.text  # finished at once: no 202
    cached = again.json()
    assert cached["status"] == "COMPLETED" and cached["cache_hit"] is True
    assert cached["task_id"] != task["task_id"] and cached["provider"] == "openai"
    assert cached["cost_usd"] == 0
    assert cached["output"]["artifacts"][0]["artifact_id"] == task["output"]["artifacts"][0]["artifact_id"]
    assert fakes.openai.count("images") == 1  # the vendor saw one generation only

    fresh = completed(api, "images/generate", {**body, "no_cache": True})
    assert fresh["cache_hit"] is False and fresh["cost_usd"] > 0
    assert fakes.openai.count("images") == 2


def test_whisper_and_assemblyai_transcribe_an_uploaded_recording(api, fakes):
    audio = upload_file(api, SPEECH / "call_me_back.wav", "audio/wav")
    whisper = submit(api, "audio/transcribe", {"audio_url": audio, "provider": "openai"})
    assembly = submit(api, "audio/transcribe", {"audio_url": audio, "provider": "assemblyai"})
    whisper, assembly = wait_for(api, whisper["task_id"]), wait_for(api, assembly["task_id"])
    runs = (
        (whisper, "openai", "whisper-1", fakes.openai),
        (assembly, "assemblyai", "universal", fakes.assemblyai),
    )
    for task, provider, model, fake in runs:
        assert task["status"] == "COMPLETED", task.get("error")
        assert (task["provider"], task["model"]) == (provider, model)
        assert task["cost_usd"] > 0
        result = task["output"]["result"]
        assert result["text"].strip(" .").lower() == fake.transcript_text
        assert len(result["words"]) == len(fake.transcript_text.split())
        assert result["duration_seconds"] > 0
    assert fakes.openai.count("transcriptions") == 1
    uploaded = [c for c in fakes.openai.calls if c.route == "transcriptions"][0]
    assert uploaded.body_bytes >= (SPEECH / "call_me_back.wav").stat().st_size
    assert fakes.assemblyai.count("upload") == 1 and fakes.assemblyai.count("transcript.create") == 1


def _silent_wav(path: Path, seconds: int, rate: int = 1000) -> Path:
    """A mono 8-bit WAV of silence: ten hours at 1 kHz is 36 MB, written in a moment."""
    size = seconds * rate
    header = (
        b"RIFF" + (36 + size).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
        + rate.to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
        + b"data" + size.to_bytes(4, "little")
    )  # fmt: skip
    block = b"\x80" * 1_000_000
    with path.open("wb") as handle:
        handle.write(header)
        for start in range(0, size, len(block)):
            handle.write(block[: min(len(block), size - start)])
    return path


def test_a_ten_hour_transcript_completes_small_inline_while_other_tenants_jobs_flow(api, fakes, cloud, tmp_path):
    words = 100_000
    fakes.assemblyai.transcript_text = " ".join(f"word{i % 997}" for i in range(words))
    audio_path = _silent_wav(tmp_path / "podcast.wav", 10 * 3600)
    big = api.post(
        "/api/v1/media/uploads",
        content=audio_path.open("rb"),
        headers={"content-type": "audio/wav", "x-filename": "podcast.wav"},
    )
    assert big.status_code == 200, big.text
    long_task = submit(api, "audio/transcribe", {"audio_url": big.json()["artifact_id"], "provider": "assemblyai"})

    # Another tenant's jobs run to the end while the long one is in flight, and after.
    other = cloud.create_api_key(f"tenant-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=cloud.http_url, headers={"X-API-Key": other}, timeout=30.0) as neighbour:
        for turn in range(3):
            task = completed(
                neighbour, "subtitles/generate", {"text": f"Short and sweet {turn}. Done.", "no_cache": True}
            )
            assert task["output"]["result_truncated"] is False
        done = wait_for(api, long_task["task_id"], timeout=120)
        assert done["status"] == "COMPLETED", done.get("error")
        after = completed(neighbour, "subtitles/generate", {"text": "Still flowing.", "no_cache": True})
        assert after["status"] == "COMPLETED"

    # Inline: a summary (no word list, text cut), and it says so.
    raw = api.get(f"/api/v1/media/tasks/{long_task['task_id']}")
    assert len(raw.content) < 64 * 1024, len(raw.content)
    output = raw.json()["output"]
    assert output["result_truncated"] is True
    assert output["result"]["words"] == []
    assert 0 < len(output["result"]["text"]) <= 2001
    assert output["result"]["duration_seconds"] >= 36000 - 1
    roles = {artifact["role"]: artifact for artifact in output["artifacts"]}
    # The whole result and the rendered transcript are downloadable.
    whole = api.get(roles["result"]["url"], timeout=60)
    assert whole.status_code == 200
    assert len(whole.json()["words"]) == words
    transcript = api.get(roles["transcript"]["url"], timeout=60)
    assert transcript.status_code == 200 and b"word996" in transcript.content
    events = api.get(f"/api/v1/media/tasks/{long_task['task_id']}/result")
    assert events.status_code == 200 and len(events.content) < 64 * 1024


def test_gemini_scores_a_video_and_veo_makes_one(api, fakes, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0, size=(160, 120), fps=10)
    video = upload_file(api, clip, "video/mp4")
    analysis = submit(api, "videos/analyze", {"video_url": video, "llm_score": True, "frame_count": 1})
    generation = submit(api, "videos/generate", {"prompt": "waves at dawn", "duration": 5, "resolution": "720p"})
    analysis = wait_for(api, analysis["task_id"], timeout=40)
    assert analysis["status"] == "COMPLETED", analysis.get("error")
    assert (analysis["provider"], analysis["model"]) == ("gemini", "gemini-2.5-flash")
    assert analysis["cost_usd"] > 0
    score = analysis["output"]["result"]["report"]["fields"]["llm_score"]
    assert 0 <= score["score"] <= 10 and set(score["creative_score"]) >= {"hook", "pacing"}
    # One upload and one scoring per attempt (a loaded machine may redeliver the job once).
    attempts = analysis["attempt"]
    assert fakes.gemini.count("upload.start") == attempts and fakes.gemini.count("generate") == attempts

    generation = wait_for(api, generation["task_id"], timeout=40)
    assert generation["status"] == "COMPLETED", generation.get("error")
    assert (generation["provider"], generation["model"]) == ("gemini", "veo-3.1-generate-preview")
    predict = [c for c in fakes.gemini.calls if c.route == "predict"]
    assert len(predict) == 1 and predict[0].json["parameters"]["durationSeconds"] == 6  # 5 s rounded up
    assert generation["cost_usd"] == pytest.approx(6 * 0.40)
    result = generation["output"]["result"]
    assert result["duration_seconds"] == pytest.approx(6.0, abs=0.3)
    download = api.get(generation["output"]["artifacts"][0]["url"])
    assert download.status_code == 200 and download.content[4:8] == b"ftyp"


def test_subtitles_translated_keep_their_timing(api, fakes):
    text = f"Please call me back tonight. The train leaves at noon, run {uuid.uuid4().hex[:6]}."
    original = submit(api, "subtitles/generate", {"text": text, "format": "vtt"})
    spanish = submit(api, "subtitles/generate", {"text": text, "format": "vtt", "target_language": "es"})
    original, spanish = wait_for(api, original["task_id"]), wait_for(api, spanish["task_id"])
    assert original["status"] == spanish["status"] == "COMPLETED", spanish.get("error")
    assert (spanish["provider"], spanish["model"]) == ("openai", "gpt-5.4-mini")
    assert spanish["cost_usd"] > 0 and original["provider"] == "local"
    before, after = original["output"]["result"]["content"], spanish["output"]["result"]["content"]
    times = [line for line in before.splitlines() if "-->" in line]
    assert times and times == [line for line in after.splitlines() if "-->" in line]
    assert "[es]" in after and "[es]" not in before
    assert spanish["output"]["result"]["language"] == "es"
    assert fakes.openai.count("chat") == 1


# --- failures ----------------------------------------------------------------------------


def test_rate_limit_is_retried_on_the_next_attempt(api, fakes):
    fakes.openai.fail(429, route="images", times=1)
    task = completed(api, "images/generate", image_body(provider="openai"))
    assert task["attempt"] == 2 and task["provider"] == "openai"
    assert fakes.openai.count("images") == 2


def test_content_policy_refusal_fails_at_once_with_the_vendor_reason(api, fakes):
    fakes.openai.reject_content(route="images")
    task = finished(api, "images/generate", image_body())
    assert task["status"] == "FAILED" and task["attempt"] == 1
    error = task["error"]
    assert error["reason"] == "CONTENT_POLICY_VIOLATION" and error["retryable"] is False
    assert "safety system" in error["message"]
    assert fakes.openai.count("images") == 1  # no retry, no failover
    assert fakes.stability.count("generate") == fakes.gemini.count("generate") == 0


def test_worker_fails_over_to_another_vendor(api, fakes):
    # Quality ranks OpenAI, then Gemini, then Stability: the first two answer 503.
    fakes.openai.fail(503, route="images", times=1)
    fakes.gemini.fail(503, route="generate", times=1)
    task = completed(api, "images/generate", image_body(size="1024x1024"))
    assert task["provider"] == "stability" and task["attempt"] == 1
    assert fakes.openai.count("images") == fakes.gemini.count("generate") == 1
    assert fakes.stability.count("generate") == 1
    download = api.get(task["output"]["artifacts"][0]["url"])
    assert Image.open(BytesIO(download.content)).format == "PNG"


def test_cancelling_a_hanging_vendor_call(api, fakes):
    fakes.openai.hang(60, route="images")
    task = submit(api, "images/generate", image_body(provider="openai"))
    eventually(lambda: fakes.openai.count("images") == 1, 20, "the vendor got the call")
    started = time.monotonic()
    response = api.post(f"/api/v1/media/tasks/{task['task_id']}/cancel", json={"reason": "test"})
    assert response.status_code == 200, response.text
    done = wait_for(api, task["task_id"], timeout=10)
    assert done["status"] == "CANCELLED"
    assert time.monotonic() - started < 5
    eventually(lambda: "images" in fakes.openai.aborted, 5, "the HTTP call was abandoned")
    time.sleep(0.5)
    assert wait_for(api, task["task_id"])["status"] == "CANCELLED"  # never flips back


def test_circuit_opens_after_repeated_failures(api, fakes):
    """Two attempts of a pinned AssemblyAI job fail (503): the breaker opens (threshold 2),
    /providers says so, and the next job fails without reaching the vendor."""
    audio = upload_file(api, SPEECH / "train_station.wav", "audio/wav")
    fakes.assemblyai.fail(503, times=50)
    body = {"audio_url": audio, "provider": "assemblyai", "max_attempts": CIRCUIT_THRESHOLD}
    task = finished(api, "audio/transcribe", body)
    assert task["status"] == "FAILED" and task["attempt"] == CIRCUIT_THRESHOLD
    assert task["error"]["reason"] == "PROVIDER_UNAVAILABLE"
    calls = len(fakes.assemblyai.calls)
    assert calls == CIRCUIT_THRESHOLD  # each attempt stopped at the first (upload) call
    status = eventually(
        lambda: providers_listed(api).get("audio.assemblyai", {}).get("health") == "open_circuit",
        3,
        "/providers shows the open circuit",
    )
    assert status
    blocked = finished(api, "audio/transcribe", {**body, "max_attempts": 1})
    assert blocked["status"] == "FAILED" and "circuit open" in blocked["error"]["message"]
    assert len(fakes.assemblyai.calls) == calls  # the breaker kept the call from the vendor


# --- the platform's view -------------------------------------------------------------------


def test_providers_and_statistics_show_what_ran(api):
    listed = providers_listed(api)
    for key in (
        "image.openai",
        "image.stability",
        "image.gemini",
        "video.gemini",
        "audio.openai",
        "audio.assemblyai",
        "audio.whisper",
        "subtitle.openai",
    ):
        assert listed[key]["configured"] is True, key
    assert listed["image.openai"]["health"] in ("healthy", "half_open")
    assert listed["image.openai"]["settings"][0] == "MEDIATASKS_OPENAI_API_KEY"
    assert listed["image.openai"]["task_types"] == ["image_generation"]
    # A service's entry can be missing from one answer (its status not in yet): ask again.
    spent = eventually(lambda: providers_listed(api).get("image.openai", {}).get("cost_usd", 0) > 0, 12, "image cost")
    assert spent
    assert listed["audio.whisper"]["vendor"] == "local"

    tasks = api.get("/api/v1/media/tasks", params={"limit": 100}).json()["items"]
    cost: dict[str, float] = {}
    for task in tasks:
        cost[task["provider"]] = cost.get(task["provider"], 0.0) + task["cost_usd"]
    stats = api.get("/api/v1/media/statistics", params={"window_seconds": 3600}).json()
    for provider in ("openai", "gemini", "stability", "assemblyai"):
        assert cost[provider] > 0, provider
        assert stats["cost_by_provider"][provider] == pytest.approx(cost[provider]), provider


# --- the session stack has no keys ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "variables"),
    [
        (
            "images/generate",
            {"prompt": "a kite"},
            {
                "MEDIATASKS_OPENAI_API_KEY",
                "MEDIATASKS_STABILITY_API_KEY",
                "MEDIATASKS_GEMINI_API_KEY",
            },
        ),
        ("videos/generate", {"prompt": "a kite", "duration": 5}, {"MEDIATASKS_GEMINI_API_KEY"}),
        ("audio/transcribe", {"provider": "openai"}, {"MEDIATASKS_OPENAI_API_KEY"}),
        (
            "subtitles/generate",
            {"text": "Hello there.", "target_language": "es"},
            {"MEDIATASKS_OPENAI_API_KEY", "MEDIATASKS_GEMINI_API_KEY"},
        ),
    ],
)
def test_without_keys_cloud_jobs_are_refused_naming_the_variables(rest, path, body, variables):
    if path == "audio/transcribe":
        body = {**body, "audio_url": upload_file(rest, SPEECH / "call_me_back.wav", "audio/wav")}
    response = rest.post(f"/api/v1/media/{path}", json=body)
    assert response.status_code == 400, response.text
    assert error_reason(response) == "PROVIDER_NOT_CONFIGURED"
    info = next(d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo"))
    assert set(info["metadata"]["settings"].split(",")) == variables
    for variable in variables:
        assert variable in response.json()["message"]


def test_without_keys_offline_transcription_still_works(rest):
    audio = upload_file(rest, SPEECH / "children_park.wav", "audio/wav")
    task = rest.post("/api/v1/media/audio/transcribe", json={"audio_url": audio, "response_format": "srt"})
    assert task.status_code == 202, task.text
    done = wait_for(rest, task.json()["task_id"], timeout=60)
    assert done["status"] == "COMPLETED", done.get("error")
    assert done["provider"] == "whisper" and done["cost_usd"] == 0
    assert done["output"]["result"]["text"] == (SPEECH / "children_park.txt").read_text().strip()
