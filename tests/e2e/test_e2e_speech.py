"""Issue 15 end to end: speech to text through Envoy, every job on the provider layer.

On the session stack (no vendor keys): transcription, subtitles from speech and a video
analysis's transcript all come from the offline Whisper model and are checked word by
word against the committed flite speech; a language no configured provider speaks is
refused at submit naming what to set; a starting image for a video no provider takes is
refused. On a stack of its own whose only vendor is the AssemblyAI fake, a French request
is routed there and comes back in French.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pysubs2
import pytest
from helpers.media import ffmpeg
from helpers.stacks import error_reason, isolated_stack, upload, wait_for
from mediatasks.devstack.stack import Stack
from mediatasks.testing.fake_vendors import FakeAssemblyAI
from mediatasks.testing.fake_vendors._media import TRANSCRIPTS_BY_LANGUAGE

pytestmark = pytest.mark.e2e

SPEECH = Path(__file__).resolve().parent.parent / "fixtures" / "speech"
JOB_TIMEOUT = 60.0


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-zà-ÿ']+", text.lower())


def reference(name: str) -> str:
    return (SPEECH / f"{name}.txt").read_text().strip()


def seconds_of(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def upload_file(client: httpx.Client, path: Path, content_type: str) -> str:
    return upload(client, path.read_bytes(), content_type, path.name)


def run_job(client: httpx.Client, path: str, body: dict) -> dict:
    response = client.post(f"/api/v1/media/{path}", json=body)
    assert response.status_code == 202, response.text
    task = wait_for(client, response.json()["task_id"], timeout=JOB_TIMEOUT)
    assert task["status"] == "COMPLETED", task.get("error")
    return task


def cues_of(document: str) -> list[tuple[float, float, str]]:
    subs = pysubs2.SSAFile.from_string(document)
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in subs.events if not e.is_comment]


def error_info(response: httpx.Response) -> dict:
    return next(d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo"))


# --- offline, on the session stack ------------------------------------------------------------


def test_transcription_is_whisper_word_for_word(rest):
    audio = upload_file(rest, SPEECH / "train_station.wav", "audio/wav")
    task = run_job(rest, "audio/transcribe", {"audio_url": audio, "response_format": "json"})
    assert (task["provider"], task["cost_usd"]) == ("whisper", 0)
    result = task["output"]["result"]
    assert result["text"] == reference("train_station")  # case and punctuation included
    assert result["language"] == "en"
    duration = seconds_of(SPEECH / "train_station.wav")
    previous = 0.0
    for word in result["words"]:
        assert previous <= word["start"] <= word["end"] <= duration + 0.001, result["words"]
        previous = word["end"]
    assert [w["text"] for w in result["words"]] == result["text"].split()


def test_subtitles_from_speech_follow_the_words_and_end_inside_the_media(rest):
    wav = SPEECH / "call_me_back.wav"
    media = upload_file(rest, wav, "audio/wav")
    words = run_job(rest, "audio/transcribe", {"audio_url": media})["output"]["result"]["words"]
    task = run_job(rest, "subtitles/generate", {"media_url": media, "max_chars_per_line": 16, "format": "srt"})
    assert task["provider"] == "whisper"
    cues = cues_of(task["output"]["result"]["content"])
    assert len(cues) >= 2
    assert words_of(" ".join(text for _, _, text in cues)) == words_of(reference("call_me_back"))
    position = 0
    for start, end, text in cues:
        count = len(text.split())
        first, last = words[position], words[position + count - 1]
        assert first["start"] - 0.002 <= start <= first["start"] + 1.0, (start, first)
        assert last["end"] - 0.082 <= end <= last["end"] + 1.0, (end, last)
        position += count
    assert position == len(words)
    assert cues[-1][1] <= seconds_of(wav) + 0.001
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:], strict=False))


def test_video_analysis_transcript_comes_from_whisper(rest, tmp_path):
    video = tmp_path / "children.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=0x225533:size=180x320:rate=10:duration=3.5",
        "-i", str(SPEECH / "children_park.wav"), "-shortest",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(video),
    )  # fmt: skip
    body = {"video_url": upload_file(rest, video, "video/mp4"), "transcribe": True, "frame_count": 1}
    task = run_job(rest, "videos/analyze", body)
    assert task["provider"] == "whisper"
    transcript = task["output"]["result"]["report"]["fields"]["transcript"]
    assert words_of(transcript["text"]) == words_of(reference("children_park"))
    assert transcript["provider"] == "whisper" and transcript["model"] == "whisper-tiny.en"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("subtitles/generate", {"source_language": "fr"}),
        ("audio/transcribe", {"language": "es"}),
    ],
)
def test_a_language_no_configured_provider_speaks_is_refused_at_submit(rest, path, body):
    field = "media_url" if path.startswith("subtitles") else "audio_url"
    media = upload_file(rest, SPEECH / "call_me_back.wav", "audio/wav")
    response = rest.post(f"/api/v1/media/{path}", json={**body, field: media})
    assert response.status_code == 400, response.text
    assert error_reason(response) == "PROVIDER_NOT_CONFIGURED"
    info = error_info(response)
    assert set(info["metadata"]["settings"].split(",")) == {
        "MEDIATASKS_OPENAI_API_KEY",
        "MEDIATASKS_ASSEMBLYAI_API_KEY",
    }
    message = response.json()["message"]
    assert repr(next(iter(body.values()))) in message and "MEDIATASKS_WHISPER_MODEL_PATH" in message


def test_a_starting_image_no_provider_takes_is_refused(rest):
    image = upload(rest, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png", "start.png")
    response = rest.post("/api/v1/media/videos/generate", json={"prompt": "a kite", "image_url": image})
    assert response.status_code == 400, response.text
    assert "image_input not supported" in response.json()["message"]


# --- a French request reaches a vendor that speaks French ----------------------------------------


@pytest.fixture(scope="module")
def assemblyai() -> Iterator[FakeAssemblyAI]:
    fake = FakeAssemblyAI().start()
    fake.polls_until_complete = 1
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def french_stack(postgres_server, assemblyai) -> Iterator[Stack]:
    """registry, audio and subtitle services whose one vendor is the AssemblyAI fake."""
    with isolated_stack(
        postgres_server,
        "speech",
        media_services=("audio", "subtitle"),
        env={**assemblyai.env(), "MEDIATASKS_LOG_JSON": "false", "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.2"},
    ) as running:
        yield running


def test_french_subtitles_from_speech_are_routed_to_assemblyai(french_stack, assemblyai):
    with httpx.Client(base_url=french_stack.http_url, headers={"X-API-Key": french_stack.api_key}, timeout=30) as api:
        media = upload_file(api, SPEECH / "train_station.wav", "audio/wav")
        task = run_job(api, "subtitles/generate", {"media_url": media, "source_language": "fr-FR", "format": "vtt"})
    assert task["provider"] == "assemblyai" and task["cost_usd"] > 0
    result = task["output"]["result"]
    assert result["language"] == "fr"
    spoken = " ".join(text for _, _, text in cues_of(result["content"]))
    assert words_of(spoken) == words_of(TRANSCRIPTS_BY_LANGUAGE["fr"])
    created = [call for call in assemblyai.calls if call.route == "transcript.create"]
    assert created and created[-1].json["language_code"] == "fr"
