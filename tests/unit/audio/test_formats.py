"""Transcript renderings: JSON, text, SRT and WebVTT (from a real transcription too)."""

from __future__ import annotations

import json
from pathlib import Path

import pysubs2
import pytest
from mediatasks.audio.formats import render_transcript
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.cues import CueRules, parse
from mediatasks.media.sphinx import Transcript, Word, transcribe

CLIP = Path(__file__).resolve().parents[2] / "fixtures" / "speech" / "train_station.wav"


def sample_transcript() -> Transcript:
    words, at = [], 0.25
    for index, text in enumerate(
        "so this is what we found when we looked at the logs this morning "
        "and it was not what anybody expected to see at all".split()
    ):
        if index == 12:
            at += 1.4  # a pause: a new cue must start here
        words.append(Word(text, round(at, 3), round(at + 0.32, 3), 0.8))
        at += 0.34
    return Transcript(" ".join(w.text for w in words), words, "en", round(at + 0.5, 3))


def test_json_carries_every_word() -> None:
    transcript = sample_transcript()
    body, content_type = render_transcript(transcript, "json")
    assert content_type == "application/json"
    data = json.loads(body)
    assert data["text"] == transcript.text and data["language"] == "en"
    assert data["duration"] == pytest.approx(transcript.duration)
    assert [w["text"] for w in data["words"]] == transcript.text.split()
    assert set(data["words"][0]) == {"text", "start", "end", "confidence"}


def test_text() -> None:
    body, content_type = render_transcript(sample_transcript(), "text")
    assert content_type.startswith("text/plain")
    assert body == sample_transcript().text + "\n"


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_follow_the_words(fmt: str) -> None:
    transcript = sample_transcript()
    rules = CueRules(max_chars_per_line=30)
    body, content_type = render_transcript(transcript, fmt, rules=rules)
    assert content_type.startswith({"srt": "application/x-subrip", "vtt": "text/vtt"}[fmt])
    subs = pysubs2.SSAFile.from_string(body)
    assert subs.format == fmt
    cues = parse(body)
    assert " ".join(c.text.replace("\n", " ") for c in cues) == transcript.text
    assert any(c.start == pytest.approx(transcript.words[12].start) for c in cues)
    for cue in cues:
        assert all(len(line) <= 30 for line in cue.text.split("\n"))
    for before, after in zip(cues, cues[1:], strict=False):
        assert after.start >= before.end


def test_empty_transcript_gives_empty_but_valid_subtitles() -> None:
    empty = Transcript("", [], "en", 2.0)
    assert render_transcript(empty, "srt")[0] == ""
    assert render_transcript(empty, "vtt")[0].startswith("WEBVTT")
    assert json.loads(render_transcript(empty, "json")[0])["words"] == []


def test_unknown_format_is_invalid_input() -> None:
    with pytest.raises(MediaTasksError) as caught:
        render_transcript(sample_transcript(), "docx")
    assert caught.value.reason == "INVALID_INPUT"
    assert "srt" in caught.value.message


async def test_real_transcription_renders_as_subtitles() -> None:
    transcript = await transcribe(CLIP, timeout=60)
    body, _ = render_transcript(transcript, "srt")
    cues = parse(body, "srt")
    assert " ".join(c.text.replace("\n", " ") for c in cues) == transcript.text
    assert cues[0].start == pytest.approx(transcript.words[0].start, abs=0.01)
