"""What every speech-to-text engine returns, local or cloud: words with times, and the text."""

from __future__ import annotations

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
