"""The offline Whisper provider on the packaged tiny.en model: the committed flite speech
transcribed word for word, windows of a long input stitched without losing or repeating a
word, cancellation, the model read from its files (English-only or multilingual), a
missing model naming its variable, and the packaged model loading with no network."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

import grpc
import pytest
from helpers.media import ffmpeg, make_silence
from helpers.providers import SPEECH
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, CallContext
from mediatasks.providers.contracts import TranscriptionRequest
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers
from mediatasks.providers.vendors.whisper_provider import (
    PACKAGED_MODEL_NAME,
    WhisperProvider,
    inspect_model,
    packaged_model_path,
    spec_for,
)

FIXTURES = ("call_me_back", "train_station", "children_park")


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def reference(name: str) -> str:
    return (SPEECH / f"{name}.txt").read_text().strip()


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.fixture(scope="module")
def provider() -> WhisperProvider:
    return WhisperProvider(Settings())


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three fixtures twice over, with a second of silence between them (about 22 s)."""
    out = tmp_path_factory.mktemp("speech") / "long.wav"
    inputs: list[str] = []
    parts = []
    for index, name in enumerate(FIXTURES * 2):
        inputs += ["-i", str(SPEECH / f"{name}.wav")]
        parts.append(f"[{index}]apad=pad_dur=1[a{index}];")
    graph = "".join(parts) + "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1"
    ffmpeg(*inputs, "-filter_complex", graph, "-ac", "1", "-ar", "16000", str(out))
    return out


def test_the_packaged_model_is_english_only_and_needs_no_setting() -> None:
    info = inspect_model(packaged_model_path(), name=PACKAGED_MODEL_NAME)
    assert info.problem == "" and info.name == "tiny.en"
    assert info.multilingual is False and info.languages == ("en",)
    assert 70e6 < info.size_bytes < 80e6
    offering = spec_for(info).offerings[0]
    assert offering.model == "whisper-tiny.en" and offering.cost.usd_per_unit == 0.0
    assert offering.capabilities["languages"] == ["en"] and offering.capabilities["word_timestamps"] is True


@pytest.mark.parametrize("name", FIXTURES)
async def test_flite_speech_is_transcribed_word_for_word(provider: WhisperProvider, name: str) -> None:
    progress: list[float] = []
    ctx = CallContext(on_progress=lambda percent, stage: progress.append(percent))
    result = await provider.transcribe(TranscriptionRequest(str(SPEECH / f"{name}.wav")), ctx)
    assert (result.provider, result.model, result.cost_usd) == ("whisper", "whisper-tiny.en", 0.0)
    assert words_of(result.text) == words_of(reference(name)), result.text
    assert result.text[0].isupper() and result.text.endswith("."), "Whisper keeps case and punctuation"
    assert result.language == "en"
    duration = seconds_of(SPEECH / f"{name}.wav")
    assert result.duration == pytest.approx(duration, abs=0.01)
    assert [w.text for w in result.words] == result.text.split()
    previous = 0.0
    for word in result.words:
        assert previous <= word.start <= word.end <= duration
        assert 0.0 <= word.confidence <= 1.0
        previous = word.end
    assert progress[-1] == 100.0 and ctx.cancel_confirmed is None


async def test_a_long_input_in_short_windows_loses_and_repeats_no_word(
    provider: WhisperProvider, long_speech: Path
) -> None:
    expected = [w for name in FIXTURES * 2 for w in words_of(reference(name))]
    whole = await provider.transcribe(TranscriptionRequest(str(long_speech)))
    windowed = await WhisperProvider(Settings(), window_seconds=9.0, guard_seconds=2.0).transcribe(
        TranscriptionRequest(str(long_speech))
    )
    assert words_of(whole.text) == expected, whole.text
    assert words_of(windowed.text) == expected, windowed.text
    starts = [w.start for w in windowed.words]
    assert starts == sorted(starts) and windowed.words[-1].end <= windowed.duration
    # The same words ending at about the same times, whichever window decoded them (where
    # a word starts after a pause is looser: Whisper may stretch it back over the pause).
    for mine, theirs in zip(windowed.words, whole.words, strict=True):
        assert abs(mine.end - theirs.end) < 0.3, (mine, theirs)


async def test_silence_says_nothing(provider: WhisperProvider, tmp_path: Path) -> None:
    silence = make_silence(tmp_path / "silence.wav", seconds=3.0, sample_rate=16000)
    result = await provider.transcribe(TranscriptionRequest(str(silence)))
    assert result.text == "" and result.words == []
    assert result.duration == pytest.approx(3.0, abs=0.01)


async def test_cancelling_stops_between_segments_and_is_confirmed(provider: WhisperProvider, long_speech: Path) -> None:
    started = asyncio.Event()
    ctx = CallContext(on_progress=lambda percent, stage: started.set())
    task = asyncio.create_task(provider.transcribe(TranscriptionRequest(str(long_speech)), ctx))
    await asyncio.wait_for(started.wait(), 30)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 1.0
    assert ctx.cancel_confirmed is True


async def test_languages_the_model_does_not_speak_are_refused(provider: WhisperProvider) -> None:
    assert provider.language_of("en-US") == "en" and provider.language_of(None) == "en"
    with pytest.raises(MediaTasksError) as caught:
        await provider.transcribe(TranscriptionRequest(str(SPEECH / "call_me_back.wav"), language="fr"))
    assert caught.value.reason == "INVALID_INPUT"
    assert "MEDIATASKS_WHISPER_MODEL_PATH" in caught.value.message


async def test_undecodable_input_is_unsupported_media(provider: WhisperProvider, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file" * 40)
    with pytest.raises(MediaTasksError) as caught:
        await provider.transcribe(TranscriptionRequest(str(junk)))
    assert caught.value.reason == "UNSUPPORTED_MEDIA"


async def test_a_call_past_its_deadline_is_a_processing_timeout(provider: WhisperProvider) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await provider.transcribe(
            TranscriptionRequest(str(SPEECH / "train_station.wav")), CallContext(timeout_seconds=0.05)
        )
    assert caught.value.reason == "PROCESSING_TIMEOUT"


def fake_model_dir(path: Path, *, vocabulary: int, languages: list[str]) -> Path:
    """The files a CTranslate2 Whisper model is read from (weights need not be real)."""
    path.mkdir()
    (path / "model.bin").write_bytes(b"\0")
    (path / "config.json").write_text("{}")
    (path / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(vocabulary)) + "\n")
    tokens = [{"content": "<|endoftext|>"}, {"content": "<|startoftranscript|>"}]
    tokens += [{"content": f"<|{code}|>"} for code in languages]
    tokens += [{"content": "<|translate|>"}, {"content": "<|nocaptions|>"}, {"content": "<|notimestamps|>"}]
    (path / "tokenizer.json").write_text(json.dumps({"added_tokens": tokens}))
    return path


def test_a_multilingual_model_offers_its_languages_and_detection(tmp_path: Path) -> None:
    model = fake_model_dir(tmp_path / "base", vocabulary=51_865, languages=["en", "zh", "de", "es", "fr", "pt"])
    provider = WhisperProvider(Settings(whisper_model_path=str(model)))
    offering = provider.spec.offerings[0]
    assert offering.model == "whisper-base"
    assert offering.capabilities["languages"] == ["en", "zh", "de", "es", "fr", "pt"]
    assert offering.capabilities["language_detection"] is True
    assert provider.language_of("pt-BR") == "pt" and provider.language_of("") is None
    router = ProviderRouter(provider.settings, [provider])
    router.ensure_available(AUDIO_TRANSCRIPTION, {"language": "fr"})
    # The class keeps the packaged model's spec; each instance has its model's.
    assert WhisperProvider.spec.offerings[0].capabilities["languages"] == ["en"]


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        (lambda root: root / "nowhere", "is not a directory"),
        (lambda root: (root / "partial").mkdir() or root / "partial", "lacks model.bin"),
    ],
    ids=["missing", "incomplete"],
)
def test_an_unusable_model_path_makes_offline_transcription_unconfigured(tmp_path: Path, setup, problem) -> None:
    path = setup(tmp_path)
    settings = Settings(whisper_model_path=str(path))
    router = ProviderRouter(settings, default_providers(settings))
    whisper = router.get("whisper")
    assert not whisper.configured() and problem in whisper.model_info.problem  # type: ignore[attr-defined]
    with pytest.raises(MediaTasksError) as caught:
        router.ensure_available(AUDIO_TRANSCRIPTION)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.reason == "PROVIDER_NOT_CONFIGURED"
    assert "MEDIATASKS_WHISPER_MODEL_PATH" in caught.value.metadata["settings"].split(",")


def test_a_model_without_its_tokenizer_is_refused_rather_than_fetched(tmp_path: Path) -> None:
    model = fake_model_dir(tmp_path / "small", vocabulary=51_864, languages=["en"])
    (model / "tokenizer.json").unlink()
    info = inspect_model(model)
    assert "tokenizer.json" in info.problem


NO_NETWORK = """
import asyncio, socket, sys
sys.path.insert(0, sys.argv[1])

def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise RuntimeError(f"network used: {event} {args!r}")

sys.addaudithook(refuse)
from mediatasks.core.settings import Settings
from mediatasks.providers.contracts import TranscriptionRequest
from mediatasks.providers.vendors.whisper_provider import WhisperProvider

result = asyncio.run(WhisperProvider(Settings()).transcribe(TranscriptionRequest(sys.argv[2])))
print(result.text)
"""


def test_the_packaged_model_loads_and_runs_with_no_network(tmp_path: Path) -> None:
    """In a fresh process whose every socket connect or name lookup raises, the model loads
    and transcribes: nothing reaches for the Hugging Face hub or anything else."""
    services = Path(__file__).resolve().parents[4] / "services"
    home = tmp_path / "home"  # no hub cache or token to find either
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(services), str(SPEECH / "call_me_back.wav")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert words_of(done.stdout) == words_of(reference("call_me_back"))
