"""Forced alignment of cues and text to real speech (committed flite clips joined here)."""

from __future__ import annotations

import asyncio
import time
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.media import ffmpeg, processes_matching
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.cues import Cue, render
from mediatasks.subtitle.align import (
    _number_words,
    align_text_to_audio,
    alignment_result,
    paragraphs,
)

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech"
CLIPS = [SPEECH / f"{name}.wav" for name in ("call_me_back", "train_station", "children_park")]
GAPS = (1.5, 2.0)  # seconds of silence after the first and second clip
TIMEOUT = 60.0
START_TOLERANCE = 0.3
END_TOLERANCE = 0.5


@dataclass
class Spoken:
    text: str
    start: float  # where speech energy begins in the joined clip
    end: float


def energy_span(path: Path) -> tuple[float, float, float]:
    """(first speech, last speech, duration) in seconds: 10 ms frames over 5% of peak RMS."""
    with wave.open(str(path)) as w:
        samples = array("h", w.readframes(w.getnframes()))
        rate = w.getframerate()
    hop = rate // 100
    levels = [(sum(s * s for s in samples[i : i + hop]) / hop) ** 0.5 for i in range(0, len(samples) - hop, hop)]
    loud = [i for i, level in enumerate(levels) if level > 0.05 * max(levels)]
    return loud[0] / 100, (loud[-1] + 1) / 100, len(samples) / rate


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    """The three clips with known silences between them, and where each sentence is."""
    path = tmp_path_factory.mktemp("align") / "dialogue.wav"
    inputs = [arg for clip in CLIPS for arg in ("-i", str(clip))]
    graph = (
        f"aevalsrc=0:d={GAPS[0]}:s=16000[g0];aevalsrc=0:d={GAPS[1]}:s=16000[g1];"
        "[0:a][g0][1:a][g1][2:a]concat=n=5:v=0:a=1"
    )
    ffmpeg(*inputs, "-filter_complex", graph, "-ac", "1", "-ar", "16000", str(path))
    spoken, offset = [], 0.0
    for index, clip in enumerate(CLIPS):
        first, last, duration = energy_span(clip)
        text = clip.with_suffix(".txt").read_text().strip()
        spoken.append(Spoken(text, offset + first, offset + last))
        offset += duration + (GAPS[index] if index < len(GAPS) else 0.0)
    return path, spoken


def assert_follow_speech(cue: Cue, spoken: Spoken) -> None:
    assert cue.aligned, cue
    assert cue.text == spoken.text
    assert abs(cue.start - spoken.start) <= START_TOLERANCE, (cue, spoken)
    assert abs(cue.end - spoken.end) <= END_TOLERANCE, (cue, spoken)


def misplaced_cues(spoken: list[Spoken]) -> list[Cue]:
    """SRT-like cues whose times are off by a second and too short."""
    return [Cue(s.start + 1.0, s.start + 2.2, s.text) for s in spoken]


async def test_misplaced_cues_move_onto_the_speech(dialogue) -> None:
    path, spoken = dialogue
    started = time.monotonic()
    aligned = await align_text_to_audio(misplaced_cues(spoken), path, timeout=TIMEOUT)
    print(f"aligned {len(aligned)} cues in {time.monotonic() - started:.2f} s")
    assert len(aligned) == len(spoken)
    for cue, truth in zip(aligned, spoken, strict=True):
        assert_follow_speech(cue, truth)
        assert cue.note == ""
        assert [w.text for w in cue.words][:2] == truth.text.lower().split()[:2]
    for before, after in zip(aligned, aligned[1:], strict=False):
        assert before.end <= after.start


async def test_a_subtitle_document_aligns_the_same(dialogue) -> None:
    path, spoken = dialogue
    progress: list[float] = []
    document = render(misplaced_cues(spoken), "srt")
    aligned = await align_text_to_audio(document, path, timeout=TIMEOUT, on_progress=progress.append)
    for cue, truth in zip(aligned, spoken, strict=True):
        assert_follow_speech(cue, truth)
    assert progress and progress[-1] == 100.0


async def test_plain_text_is_split_and_aligned(dialogue) -> None:
    path, spoken = dialogue
    aligned = await align_text_to_audio(" ".join(s.text for s in spoken), path, timeout=TIMEOUT)
    assert len(aligned) == len(spoken)
    for cue, truth in zip(aligned, spoken, strict=True):
        cue.text = cue.text.replace("\n", " ")
        assert_follow_speech(cue, truth)


async def test_paragraphs_split_at_the_silences(dialogue) -> None:
    path, spoken = dialogue
    aligned = await align_text_to_audio(misplaced_cues(spoken), path, timeout=TIMEOUT)
    separate = paragraphs(aligned, max_gap=1.0)
    assert [p.text for p in separate] == [s.text for s in spoken]
    assert all(p.aligned for p in separate)
    together = paragraphs(aligned, max_gap=3.0)
    assert len(together) == 1 and together[0].text == " ".join(s.text for s in spoken)
    assert together[0].start == aligned[0].start and together[0].end == aligned[-1].end
    result = alignment_result(aligned, max_gap=1.0)
    assert [p["text"] for p in result["paragraphs"]] == [s.text for s in spoken]
    assert result["aligned_cues"] == 3 and result["unaligned_cues"] == 0


async def test_cues_that_were_not_spoken_keep_their_times_and_say_so(dialogue) -> None:
    path, spoken = dialogue
    _, _, duration = energy_span(path)
    never_said = Cue(spoken[1].start, spoken[1].end, "I would like a large pizza with extra cheese.")
    music = Cue(spoken[1].end + 0.2, spoken[1].end + 0.9, "♪ ♪")
    after_the_end = Cue(duration - 0.3, duration + 3.0, "And then it rained all day long.")
    cues = [
        Cue(spoken[0].start + 0.4, spoken[0].end, spoken[0].text),
        never_said,
        music,
        Cue(spoken[2].start - 0.4, spoken[2].end, spoken[2].text),
        after_the_end,
    ]
    aligned = await align_text_to_audio(cues, path, timeout=TIMEOUT)
    assert_follow_speech(aligned[0], spoken[0])
    assert_follow_speech(aligned[3], spoken[2])
    for index in (1, 2):
        kept = aligned[index]
        assert not kept.aligned and kept.note, kept
        # Original times, only clipped where an aligned neighbour now needs the time.
        assert kept.end == cues[index].end
        assert kept.start == max(cues[index].start, aligned[index - 1].end)
    # A kept cue that ran past the end of the audio is squeezed into what is left of it.
    tail = aligned[4]
    assert not tail.aligned and tail.note
    assert aligned[3].end <= tail.start < tail.end <= duration + 0.05
    assert "no speakable words" in aligned[2].note
    result = alignment_result(aligned)
    assert result["unaligned_cues"] == 3
    assert [c.get("note", "") != "" for c in result["cues"]] == [False, True, True, False, True]


async def test_bad_inputs(dialogue, tmp_path: Path) -> None:
    path, _ = dialogue
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF" + bytes(range(256)) * 20)
    with pytest.raises(MediaTasksError) as caught:
        await align_text_to_audio("Hello there.", garbage, timeout=TIMEOUT)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    for text in ("", "   "):
        with pytest.raises(MediaTasksError) as caught:
            await align_text_to_audio(text, path, timeout=TIMEOUT)
        assert caught.value.reason == "INVALID_INPUT"


@pytest.fixture(scope="module")
def long_dialogue(dialogue, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Fifteen times the dialogue (over three minutes) with its full text."""
    path = tmp_path_factory.mktemp("align-long") / f"long-{time.monotonic_ns()}.wav"
    ffmpeg("-stream_loop", "14", "-i", str(dialogue[0]), "-c", "copy", str(path))
    return path, " ".join(s.text for s in dialogue[1]) * 15


async def test_timeout_is_a_clear_error(long_dialogue) -> None:
    path, text = long_dialogue
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await align_text_to_audio(text, path, timeout=0.5)
    assert caught.value.reason == "PROCESSING_TIMEOUT"
    assert time.monotonic() - started < 2.5
    assert not processes_matching(path.name)


async def test_cancellation_stops_the_aligner(long_dialogue) -> None:
    path, text = long_dialogue
    reported = asyncio.Event()
    task = asyncio.create_task(align_text_to_audio(text, path, timeout=TIMEOUT, on_progress=lambda p: reported.set()))
    await asyncio.wait_for(reported.wait(), 20)  # the aligner is running
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2.0)
    assert time.monotonic() - cancelled_at < 2.0
    await asyncio.sleep(0.3)
    cpu = time.process_time()
    await asyncio.sleep(1.0)
    assert time.process_time() - cpu < 0.5, "alignment kept running after cancellation"


def test_numbers_are_spelled_as_the_dictionary_does() -> None:
    assert _number_words(7) == "seven"
    assert _number_words(42) == "forty two"
    assert _number_words(1905) == "one thousand nine hundred five"
    assert _number_words(250000) == "two hundred fifty thousand"
