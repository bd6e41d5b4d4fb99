"""Every job that needs speech to text, run by its real handler (JobEnvironment: real
JetStream artifact store) through the provider router: transcription, subtitles from
speech and video analysis offline on Whisper, asserted on the words; a French or Spanish
request routed to a fake vendor that speaks it, and refused at submit when none is
configured; jobs of two providers accounted for both. Then GenerateVideo's ``style``,
``fps`` and ``image_url``: used where a provider can, refused where none can."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from functools import partial
from pathlib import Path

import av
import nats
import pytest
from google.protobuf import json_format
from helpers.media import ffmpeg, make_image
from helpers.providers import SPEECH, SettingsFactory
from mediatasks.audio.transcription import check_request as check_transcription_request
from mediatasks.audio.transcription import transcribe_job
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.media.cues import parse
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers
from mediatasks.subtitle.handlers import generate_subtitles
from mediatasks.subtitle.speech import check_speech_request
from mediatasks.testing.fake_vendors import FakeVendors
from mediatasks.testing.fake_vendors._media import TRANSCRIPTS_BY_LANGUAGE
from mediatasks.testing.jobs import JobEnvironment
from mediatasks.v1 import audio_pb2, subtitle_pb2, video_pb2
from mediatasks.video.generation import check_analysis_request, check_generation_request, generate
from mediatasks.video.handlers import analyze
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="session")

BEFORE_SORA_SHUTDOWN = date(2026, 6, 1)
JOB_TIMEOUT = 60.0


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-zà-ÿ']+", text.lower())


def reference(name: str) -> str:
    return (SPEECH / f"{name}.txt").read_text().strip()


def seconds_of(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def report_of(result: video_pb2.VideoAnalysisResult) -> dict:
    return json_format.MessageToDict(result.report, preserving_proto_field_name=True)["fields"]


def refusal(call) -> MediaTasksError:
    with pytest.raises(MediaTasksError) as raised:
        call()
    return raised.value


class Jobs:
    """Runs handlers on a router built from given settings, with inputs uploaded first."""

    def __init__(self, settings: Settings, artifacts: ArtifactStore, **router_options: object) -> None:
        self.settings = settings
        self.router = ProviderRouter(settings, default_providers(settings), **router_options)  # type: ignore[arg-type]
        self.env = JobEnvironment(settings, artifacts, owner=f"speech-{uuid.uuid4().hex[:6]}")
        self.artifacts = artifacts

    async def upload(self, path: Path, content_type: str) -> str:
        artifact = await self.artifacts.put_file(path, owner=self.env.owner, role="input", filename=path.name)
        return artifact.artifact_id

    async def run(self, handler, request):
        return await asyncio.wait_for(self.env.run(partial(handler, self.router), request), JOB_TIMEOUT)

    async def download(self, artifact) -> bytes:
        _, data = await self.artifacts.get(artifact.artifact_id, owner=self.env.owner)
        return data


@pytest.fixture(scope="module")
async def artifacts(nats_url: str) -> AsyncIterator[ArtifactStore]:
    settings = Settings(nats_url=nats_url, artifact_bucket=f"speech-{uuid.uuid4().hex[:8]}")
    nc = await nats.connect(nats_url)
    yield ArtifactStore(nc.jetstream(), settings)
    await nc.close()


@pytest.fixture
async def jobs_for(make_settings: SettingsFactory, nats_url: str, artifacts: ArtifactStore):
    made: list[Jobs] = []

    def build(*vendors: str, **options: object) -> Jobs:
        router_options = {"today": options.pop("today")} if "today" in options else {}
        settings = make_settings(only=vendors, nats_url=nats_url, artifact_bucket=artifacts.settings.artifact_bucket)
        jobs = Jobs(settings, artifacts, **router_options)
        made.append(jobs)
        return jobs

    yield build
    for jobs in made:
        await jobs.router.aclose()


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MP4 whose sound track is the train-station sentence."""
    out = tmp_path_factory.mktemp("speech-video") / "station.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=0x336699:size=160x120:rate=10:duration=3.5",
        "-i", str(SPEECH / "train_station.wav"), "-shortest",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", str(out),
    )  # fmt: skip
    return out


# --- offline, on Whisper ---------------------------------------------------------------------


async def test_transcription_job_offline_gives_the_words_and_timed_srt(jobs_for) -> None:
    jobs = jobs_for()
    audio = await jobs.upload(SPEECH / "children_park.wav", "audio/wav")
    done = await jobs.run(transcribe_job, audio_pb2.TranscribeRequest(audio_url=audio, response_format="srt"))
    result = done.result
    assert (done.provider, done.model, done.cost_usd) == ("whisper", "whisper-tiny.en", 0.0)
    assert words_of(result.text) == words_of(reference("children_park"))
    assert [w.text for w in result.words] == result.text.split()
    cues = parse(result.content)
    assert cues and cues[-1].end <= result.duration_seconds + 0.001
    assert words_of(" ".join(c.text for c in cues)) == words_of(reference("children_park"))
    assert jobs.env.progress[-1][0] >= 90


async def test_subtitles_from_speech_follow_the_words_and_stay_inside_the_media(jobs_for) -> None:
    jobs = jobs_for()
    wav = SPEECH / "call_me_back.wav"
    media = await jobs.upload(wav, "audio/wav")
    heard = await jobs.run(transcribe_job, audio_pb2.TranscribeRequest(audio_url=media))
    request = subtitle_pb2.GenerateSubtitlesRequest(media_url=media, max_chars_per_line=20, max_lines=1, format="vtt")
    done = await jobs.run(generate_subtitles, request)
    result = done.result
    assert (done.provider, result.language) == ("whisper", "en")
    cues = parse(result.content)
    assert len(cues) >= 2 and result.cue_count == len(cues)
    assert words_of(" ".join(c.text for c in cues)) == words_of(reference("call_me_back"))
    # Each cue starts on its first word and ends with its last: a cue may start up to the
    # minimum cue length late (a stretched cue before it) and ends one gap (80 ms) before
    # the next cue, or up to the minimum length later (stretched).
    words = list(heard.result.words)
    position = 0
    for cue in cues:
        count = len(cue.text.split())
        first, last = words[position], words[position + count - 1]
        assert first.start - 0.002 <= cue.start <= first.start + 1.0, (cue, first)
        assert last.end - 0.082 <= cue.end <= last.end + 1.0, (cue, last)
        position += count
    assert position == len(words)
    assert cues[-1].end <= seconds_of(wav) + 0.001
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    assert "Please" in result.content, "Whisper's case and punctuation reach the subtitles"


async def test_video_analysis_transcript_comes_from_the_provider_layer(jobs_for, speech_video) -> None:
    jobs = jobs_for()
    video = await jobs.upload(speech_video, "video/mp4")
    done = await jobs.run(analyze, video_pb2.AnalyzeVideoRequest(video_url=video, transcribe=True, frame_count=1))
    report = report_of(done.result)
    transcript = report["transcript"]
    assert words_of(transcript["text"]) == words_of(reference("train_station"))
    assert (transcript["provider"], transcript["model"]) == ("whisper", "whisper-tiny.en")
    assert done.provider == "whisper"
    assert all(0 <= w["start"] <= w["end"] <= report["duration_seconds"] for w in transcript["words"])


# --- languages ------------------------------------------------------------------------------


async def test_french_subtitles_route_to_a_vendor_that_speaks_french(jobs_for, fakes: FakeVendors) -> None:
    jobs = jobs_for("assemblyai")
    request = subtitle_pb2.GenerateSubtitlesRequest(media_url="x", source_language="fr")
    assert check_speech_request(request, jobs.router, translates=False) == ""
    request.media_url = await jobs.upload(SPEECH / "train_station.wav", "audio/wav")
    done = await jobs.run(generate_subtitles, request)
    assert done.provider == "assemblyai" and done.cost_usd > 0
    assert done.result.language == "fr"
    spoken = " ".join(c.text for c in parse(done.result.content))
    assert words_of(spoken) == words_of(TRANSCRIPTS_BY_LANGUAGE["fr"])
    created = [call for call in fakes.assemblyai.calls if call.route == "transcript.create"]
    assert created[-1].json["language_code"] == "fr"


async def test_a_spanish_transcription_routes_to_openai_whisper(jobs_for, fakes: FakeVendors) -> None:
    jobs = jobs_for("openai")
    audio = await jobs.upload(SPEECH / "call_me_back.wav", "audio/wav")
    done = await jobs.run(transcribe_job, audio_pb2.TranscribeRequest(audio_url=audio, language="es-ES"))
    assert done.provider == "openai" and done.result.language == "es"
    assert words_of(done.result.text) == words_of(TRANSCRIPTS_BY_LANGUAGE["es"])


async def test_a_language_no_configured_provider_speaks_is_refused_naming_what_to_set(jobs_for) -> None:
    keyless = jobs_for()
    for check in (
        lambda: check_speech_request(
            subtitle_pb2.GenerateSubtitlesRequest(media_url="x", source_language="es"), keyless.router, translates=False
        ),
        lambda: check_transcription_request(audio_pb2.TranscribeRequest(audio_url="x", language="fr"), keyless.router),
    ):
        error = refusal(check)
        assert error.reason == "PROVIDER_NOT_CONFIGURED"
        assert set(error.metadata["settings"].split(",")) == {
            "MEDIATASKS_OPENAI_API_KEY",
            "MEDIATASKS_ASSEMBLYAI_API_KEY",
        }
        assert "MEDIATASKS_WHISPER_MODEL_PATH" in error.message
    # English, or no language (detected), needs no key at all.
    check_speech_request(subtitle_pb2.GenerateSubtitlesRequest(media_url="x"), keyless.router, translates=False)
    check_analysis_request(video_pb2.AnalyzeVideoRequest(video_url="x", transcribe=True), keyless.router)
    # Alignment is PocketSphinx's and English only, whatever is configured.
    aligned = subtitle_pb2.GenerateSubtitlesRequest(media_url="x", text="Hola.", source_language="es")
    assert refusal(lambda: check_speech_request(aligned, jobs_for("openai").router, translates=False)).reason == (
        "INVALID_INPUT"
    )


# --- jobs of two providers -------------------------------------------------------------------


async def test_speech_transcribed_offline_and_translated_names_both_providers(jobs_for, fakes: FakeVendors) -> None:
    jobs = jobs_for("openai")
    media = await jobs.upload(SPEECH / "train_station.wav", "audio/wav")
    # The cost strategy transcribes on the free offline model and translates at OpenAI.
    request = subtitle_pb2.GenerateSubtitlesRequest(media_url=media, target_language="es", strategy="cost")
    done = await jobs.run(generate_subtitles, request)
    assert done.provider == "whisper+openai" and done.model == "whisper-tiny.en+gpt-5.4-mini"
    assert done.cost_usd > 0 and done.result.language == "es"
    assert fakes.openai.count("transcriptions") == 0 and fakes.openai.count("chat") == 1
    assert "[es]" in done.result.content


async def test_a_pinned_transcriber_does_not_pin_the_translation(jobs_for, fakes: FakeVendors) -> None:
    jobs = jobs_for("openai", "assemblyai")
    request = subtitle_pb2.GenerateSubtitlesRequest(media_url="x", target_language="es", provider="AssemblyAI")
    assert check_speech_request(request, jobs.router, translates=True) == "assemblyai"
    request.media_url = await jobs.upload(SPEECH / "call_me_back.wav", "audio/wav")
    done = await jobs.run(generate_subtitles, request)
    assert done.provider == "assemblyai+openai"
    assert fakes.assemblyai.count("transcript.create") == 1 and fakes.openai.count("chat") == 1


async def test_analysis_with_transcript_and_llm_score_accounts_for_both(jobs_for, speech_video) -> None:
    jobs = jobs_for("gemini")
    video = await jobs.upload(speech_video, "video/mp4")
    request = video_pb2.AnalyzeVideoRequest(video_url=video, transcribe=True, llm_score=True, frame_count=1)
    done = await jobs.run(analyze, request)
    assert done.provider == "whisper+gemini" and done.cost_usd > 0
    report = report_of(done.result)
    assert words_of(report["transcript"]["text"]) == words_of(reference("train_station"))
    assert "score" in report["llm_score"]


# --- GenerateVideo: style, fps, image_url ----------------------------------------------------


async def test_style_is_said_in_the_prompt_and_fps_is_what_the_video_gets(jobs_for, fakes: FakeVendors) -> None:
    fakes.gemini.operation_polls = 1
    jobs = jobs_for("gemini")
    request = video_pb2.GenerateVideoRequest(prompt="a kite over a beach", duration=4, style="cinematic", fps=24)
    assert check_generation_request(request, jobs.router) == ""
    done = await jobs.run(generate, request)
    predict = [call for call in fakes.gemini.calls if call.route == "predict"]
    assert predict[-1].json["instances"][0]["prompt"].endswith("Visual style: cinematic.")
    # The fake makes 10 fps; the job re-timed it to the 24 asked, keeping the length.
    assert done.result.fps == pytest.approx(24.0) and done.result.duration_seconds == pytest.approx(4.0, abs=0.15)
    assert any("re-timed" in line for line in jobs.env.logs)
    with av.open(io.BytesIO(await jobs.download(done.result.video))) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(24.0)


async def test_out_of_range_fps_and_long_styles_are_refused(jobs_for) -> None:
    router = jobs_for("gemini").router
    for bad, field in (({"fps": 500}, "fps"), ({"style": "x" * 101}, "style")):
        request = video_pb2.GenerateVideoRequest(prompt="a kite", **bad)  # type: ignore[arg-type]
        error = refusal(lambda request=request: check_generation_request(request, router))
        assert error.reason == "INVALID_INPUT" and error.metadata["field"] == field


async def test_a_starting_image_goes_to_sora_fitted_to_the_video(jobs_for, fakes: FakeVendors, tmp_path) -> None:
    fakes.openai.video_polls = 1
    jobs = jobs_for("openai", "gemini", today=lambda: BEFORE_SORA_SHUTDOWN)
    image = await jobs.upload(make_image(tmp_path / "start.png", (640, 640), "red"), "image/png")
    request = video_pb2.GenerateVideoRequest(prompt="the ball rolls away", duration=4, image_url=image)
    # Veo takes no starting image: the strategy may not pick it, so only Sora is left.
    assert check_generation_request(request, jobs.router) == ""
    done = await jobs.run(generate, request)
    assert done.provider == "openai"
    stored = next(iter(fakes.openai.videos.values()))["input_reference"]
    with Image.open(io.BytesIO(stored)) as sent:
        assert sent.size == (1280, 720) and sent.format == "PNG"
    assert [c.route for c in fakes.gemini.calls if c.route == "predict"] == []


async def test_a_starting_image_no_provider_takes_is_refused_at_submit(jobs_for) -> None:
    request = video_pb2.GenerateVideoRequest(prompt="a kite", image_url="x")
    # Veo alone (and Sora past its shutdown): nothing can start from an image.
    error = refusal(lambda: check_generation_request(request, jobs_for("gemini", "openai").router))
    assert error.reason == "INVALID_INPUT" and "image_input not supported" in error.message
    # Sora in service but its key missing: the refusal names the key.
    error = refusal(
        lambda: check_generation_request(request, jobs_for("gemini", today=lambda: BEFORE_SORA_SHUTDOWN).router)
    )
    assert error.reason == "PROVIDER_NOT_CONFIGURED" and error.metadata["settings"] == "MEDIATASKS_OPENAI_API_KEY"
