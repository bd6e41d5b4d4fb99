"""Offline transcription with PocketSphinx on committed flite speech and media made here."""

from __future__ import annotations

import asyncio
import time
import wave
from array import array
from pathlib import Path

import pytest
from helpers.media import (
    ffmpeg,
    make_silence,
    make_video,
    process_exists,
    processes_matching,
    truncate_copy,
)
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.sphinx import Transcript, transcribe

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech"
CLIPS = sorted(SPEECH.glob("*.wav"))
TIMEOUT = 60.0


def normalized_words(text: str) -> list[str]:
    return ["".join(ch for ch in w.lower() if ch.isalnum() or ch == "'") for w in text.split()]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words (substitutions, insertions, deletions) / reference."""
    ref, hyp = normalized_words(reference), normalized_words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1] / max(len(ref), 1)


def test_word_error_rate_counts_edits() -> None:
    assert word_error_rate("a b c d", "a b c d") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def speech_onset(path: Path) -> float:
    """Where the first speech energy is, in seconds (10 ms frames, 5% of the peak RMS)."""
    with wave.open(str(path)) as w:
        samples = array("h", w.readframes(w.getnframes()))
        rate = w.getframerate()
    hop = rate // 100
    levels = [(sum(s * s for s in samples[i : i + hop]) / hop) ** 0.5 for i in range(0, len(samples) - hop, hop)]
    threshold = 0.05 * max(levels)
    return next(i for i, level in enumerate(levels) if level > threshold) / 100


def assert_well_timed(transcript: Transcript, duration: float, tolerance: float = 0.05) -> None:
    assert transcript.words
    assert transcript.duration == pytest.approx(duration, abs=tolerance)
    previous_end = 0.0
    for word in transcript.words:
        assert 0.0 <= word.start < word.end <= duration + 0.01, word
        assert word.start >= previous_end - 0.001, word
        assert 0.0 <= word.confidence <= 1.0
        assert word.text and word.text == word.text.strip() and "(" not in word.text
        assert not word.text.startswith(("<", "[", "+")), word
        previous_end = word.end
    assert transcript.text == " ".join(w.text for w in transcript.words)


def test_fixtures_are_committed() -> None:
    assert len(CLIPS) >= 2
    for clip in CLIPS:
        assert clip.with_suffix(".txt").is_file()
        with wave.open(str(clip)) as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
        assert 1.5 <= wav_seconds(clip) <= 6.0


@pytest.mark.parametrize("clip", CLIPS, ids=lambda p: p.stem)
async def test_transcribes_committed_speech(clip: Path) -> None:
    reference = clip.with_suffix(".txt").read_text()
    started = time.monotonic()
    transcript = await transcribe(clip, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    duration = wav_seconds(clip)
    print(f"{clip.name}: {duration:.2f} s in {elapsed:.2f} s (RTF {elapsed / duration:.2f})")
    assert word_error_rate(reference, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert_well_timed(transcript, duration)
    assert abs(transcript.words[0].start - speech_onset(clip)) <= 0.3


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The fixtures one after another with 1.5 s and 2.0 s of silence between them."""
    path = tmp_path_factory.mktemp("speech") / "conversation.wav"
    gaps = [1.5, 2.0]
    inputs: list[str] = []
    graph = ""
    for index, clip in enumerate(CLIPS):
        inputs += ["-i", str(clip)]
        graph += f"[{index}:a]"
        if index < len(CLIPS) - 1:
            graph += f"[g{index}]"
    silences = "".join(f"aevalsrc=0:d={gaps[i % len(gaps)]}:s=16000[g{i}];" for i in range(len(CLIPS) - 1))
    parts = len(CLIPS) * 2 - 1
    ffmpeg(
        *inputs,
        "-filter_complex",
        f"{silences}{graph}concat=n={parts}:v=0:a=1",
        "-ac",
        "1",
        "-ar",
        "16000",
        str(path),
    )
    text = " ".join(clip.with_suffix(".txt").read_text().strip() for clip in CLIPS)
    return path, text


async def test_real_time_factor_on_a_longer_clip(conversation: tuple[Path, str]) -> None:
    path, reference = conversation
    progress: list[float] = []
    started = time.monotonic()
    transcript = await transcribe(path, timeout=TIMEOUT, on_progress=progress.append)
    elapsed = time.monotonic() - started
    duration = wav_seconds(path)
    print(f"conversation: {duration:.2f} s in {elapsed:.2f} s (RTF {elapsed / duration:.2f})")
    assert elapsed < duration  # faster than real time, even on two cores
    assert word_error_rate(reference, transcript.text) <= 0.2, transcript.text
    assert_well_timed(transcript, duration)
    assert progress == sorted(progress) and progress[-1] == 100.0 and len(progress) >= 3


async def test_transcribes_the_audio_of_a_video(conversation: tuple[Path, str], tmp_path: Path) -> None:
    wav, reference = conversation
    video = tmp_path / "talk.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-i", str(wav),
        "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", str(video),
    )  # fmt: skip
    reports: list[float] = []

    async def on_progress(percent: float) -> None:
        reports.append(percent)

    transcript = await transcribe(video, timeout=TIMEOUT, on_progress=on_progress)
    assert word_error_rate(reference, transcript.text) <= 0.2, transcript.text
    assert_well_timed(transcript, wav_seconds(wav), tolerance=0.15)  # AAC pads a little
    assert reports[-1] == 100.0


async def test_silence_gives_an_empty_transcript(tmp_path: Path) -> None:
    transcript = await transcribe(make_silence(tmp_path / "quiet.wav", 2.0), timeout=TIMEOUT)
    assert transcript.text == "" and transcript.words == []
    assert transcript.duration == pytest.approx(2.0, abs=0.05)


def empty_file(path: Path) -> Path:
    path.touch()
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(20000)))
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: random_bytes(d / "noise.mp3"), "not readable media"),
        (
            lambda d: truncate_copy(make_video(d / "v.mp4", 2.0), d / "cut.mp4", 0.5),
            "not readable media",
        ),
        (lambda d: make_video(d / "mute.mp4", 1.0, with_audio=False), "no audio stream"),
        (lambda d: empty_file(d / "empty.wav"), "empty"),
    ],
    ids=["garbage", "truncated-mp4", "video-without-audio", "empty-file"],
)
async def test_bad_media_is_unsupported_quickly(make, expected: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await transcribe(path, timeout=TIMEOUT)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert expected in caught.value.message
    assert time.monotonic() - started < 5.0


async def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await transcribe(tmp_path / "nope.wav", timeout=TIMEOUT)
    assert caught.value.reason == "INVALID_INPUT"


@pytest.mark.parametrize("language", ["fr", "pt-BR", "auto"])
async def test_only_english_is_supported(language: str) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await transcribe(CLIPS[0], timeout=TIMEOUT, language=language)
    assert caught.value.reason == "INVALID_INPUT"
    assert "English" in caught.value.message and "en" in caught.value.metadata["supported"]


async def test_english_spellings_are_accepted() -> None:
    transcript = await transcribe(CLIPS[0], timeout=TIMEOUT, language="en-US")
    assert transcript.language == "en" and transcript.words


@pytest.fixture(scope="module")
def long_speech(conversation: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About three minutes of speech: far longer than the tests below let it run."""
    path = tmp_path_factory.mktemp("long") / f"long-{time.monotonic_ns()}.wav"
    ffmpeg("-stream_loop", "14", "-i", str(conversation[0]), "-c", "copy", str(path))
    assert wav_seconds(path) > 150
    return path


async def test_cancellation_kills_ffmpeg_and_stops_decoding(long_speech: Path) -> None:
    first_report = asyncio.Event()
    task = asyncio.create_task(transcribe(long_speech, timeout=TIMEOUT, on_progress=lambda p: first_report.set()))
    await asyncio.wait_for(first_report.wait(), 20)
    pids = processes_matching(long_speech.name)
    assert pids, "ffmpeg should be running while decoding"
    cpu_before_cancel = time.process_time()
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2.0)
    assert time.monotonic() - cancelled_at < 2.0
    assert not any(process_exists(pid) for pid in pids)
    # The decoding thread stopped too: the process no longer burns CPU.
    await asyncio.sleep(0.3)
    cpu = time.process_time()
    await asyncio.sleep(1.0)
    assert time.process_time() - cpu < 0.5, "decoding kept running after cancellation"
    assert cpu - cpu_before_cancel < 2.0


async def test_timeout_is_a_clear_error_and_kills_ffmpeg(long_speech: Path) -> None:
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await transcribe(long_speech, timeout=1.0)
    assert caught.value.reason == "PROCESSING_TIMEOUT"
    assert time.monotonic() - started < 2.0
    assert not processes_matching(long_speech.name)
