"""What every speech-to-text engine returns, local or cloud: words with times, and the text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Word:
    """One recognized word: seconds from the start of the input, confidence in [0, 1]."""

    text: str
    start: float
    end: float
    confidence: float = 1.0


@dataclass
class Transcript:
    """What was said, word by word; ``duration`` is the decoded audio's length in seconds."""

    text: str
    words: list[Word] = field(default_factory=list)
    language: str = "en"
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times rounded to milliseconds)."""
        data = asdict(self)
        data["duration"] = round(self.duration, 3)
        for word in data["words"]:
            word["start"], word["end"] = round(word["start"], 3), round(word["end"], 3)
            word["confidence"] = round(word["confidence"], 4)
        return data


def ordered_words(words: Iterable[Word], *, end: float | None = None) -> list[Word]:
    """``words`` in their spoken order with consistent times, rounded to milliseconds: each
    starts no earlier than the previous one ended, ends no earlier than it starts, and
    none starts or ends past ``end`` (the media's length) or before 0.

    Engines' word times come from attention weights or frame counts: they may overlap by
    a frame or run past the audio's last sample, which subtitles must never do.
    """
    limit = float("inf") if end is None else max(0.0, end)
    result: list[Word] = []
    previous = 0.0
    for word in words:
        start = round(min(max(word.start, previous, 0.0), limit), 3)
        stop = round(min(max(word.end, start), limit), 3)
        result.append(Word(word.text, start, stop, min(1.0, max(0.0, word.confidence))))
        previous = stop
    return result
