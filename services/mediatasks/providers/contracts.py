"""What job handlers hand to providers and get back: plain dataclasses, no vendor types.

Each task type has a request type, a result type (carrying ``provider``, ``model`` and
``cost_usd`` for the registry's accounting) and a protocol naming the provider method
that runs it. Transcriptions reuse the offline engine's ``Word``/``Transcript`` types so
every transcriber's output formats the same way (SRT, VTT, JSON).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from mediatasks.media.transcript import Transcript, Word
from mediatasks.providers.base import CallContext

# --- image generation --------------------------------------------------------------------


@dataclass(frozen=True)
class ImageGenerationRequest:
    """Text to image. ``quality`` is ``low``/``medium``/``high`` (vendors map it);
    ``style`` is a vendor style preset where one exists."""

    prompt: str
    size: str = "1024x1024"
    n: int = 1
    quality: str | None = None
    style: str | None = None
    model: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    output_format: str = "png"

    def requirements(self) -> dict[str, Any]:
        # A pinned model narrows the choice to providers that offer it (with its sizes).
        return {"size": self.size, "n": self.n, "output_format": self.output_format, "model": self.model}


class GeneratedImage(NamedTuple):
    """One image: its encoded bytes and MIME type (unpacks as ``data, content_type``)."""

    data: bytes
    content_type: str


@dataclass
class GeneratedImages:
    images: list[GeneratedImage]
    provider: str
    model: str
    cost_usd: float
    revised_prompt: str | None = None
    seeds: list[int] = field(default_factory=list)


class ImageGenerator(Protocol):
    async def generate_image(
        self, request: ImageGenerationRequest, ctx: CallContext | None = None
    ) -> GeneratedImages: ...


# --- transcription -----------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptionRequest:
    """Speech to text. ``language`` is an ISO 639-1 code (``None``: detect).

    ``word_timestamps`` asks for a provider that times every word (subtitles are cut
    from word times); every shipped transcriber does, so it only narrows the choice when
    a provider that does not is added.
    """

    audio_path: str
    language: str | None = None
    model: str | None = None
    speaker_labels: bool = False
    prompt: str | None = None
    word_timestamps: bool = False

    def requirements(self) -> dict[str, Any]:
        try:
            size: int | None = os.path.getsize(self.audio_path)
        except OSError:
            size = None
        return {
            "language": self.language,
            "speaker_labels": self.speaker_labels,
            "word_timestamps": self.word_timestamps,
            "file_bytes": size,
            "model": self.model,
        }

    @staticmethod
    def submit_requirements(
        language: str | None,
        *,
        speaker_labels: bool = False,
        word_timestamps: bool = False,
        model: str | None = None,
    ) -> dict[str, Any]:
        """What a request will require, known at submit time (before the file is)."""
        return {
            "language": language or None,
            "speaker_labels": speaker_labels,
            "word_timestamps": word_timestamps,
            "model": model or None,
        }


@dataclass
class Utterance:
    """A stretch of speech by one speaker (labels as the vendor gives them: A, B, ...)."""

    speaker: str
    text: str
    start: float
    end: float
    confidence: float = 1.0


@dataclass
class TranscriptionResult:
    """A :class:`Transcript` plus speaker turns and accounting."""

    transcript: Transcript
    provider: str
    model: str
    cost_usd: float
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.transcript.text

    @property
    def words(self) -> list[Word]:
        return list(self.transcript.words)

    @property
    def language(self) -> str:
        return self.transcript.language

    @property
    def duration(self) -> float:
        return self.transcript.duration


class Transcriber(Protocol):
    async def transcribe(
        self, request: TranscriptionRequest, ctx: CallContext | None = None
    ) -> TranscriptionResult: ...


# --- translation -------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationRequest:
    """Translate each text (e.g. each subtitle cue) to ``target_language``, keeping order
    and count."""

    texts: tuple[str, ...]
    target_language: str
    source_language: str | None = None
    model: str | None = None

    def requirements(self) -> dict[str, Any]:
        return {"language": self.target_language, "texts": len(self.texts), "model": self.model}


@dataclass
class TranslationResult:
    texts: list[str]
    provider: str
    model: str
    cost_usd: float


class Translator(Protocol):
    async def translate(self, request: TranslationRequest, ctx: CallContext | None = None) -> TranslationResult: ...


# --- video analysis ----------------------------------------------------------------------

# The structured score every analyzer returns, as a JSON schema vendors enforce. Its
# ``score``, ``creative_score`` and ``detected_issues`` fields keep the names existing
# clients read, so those clients keep working.
SCORE_CRITERIA = (
    "hook",
    "visual_quality",
    "audio_quality",
    "pacing",
    "storytelling",
    "call_to_action",
)
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "description": "overall score from 0 to 10"},
        "summary": {"type": "string"},
        "creative_score": {
            "type": "object",
            "properties": {name: {"type": "number"} for name in SCORE_CRITERIA},
            "required": list(SCORE_CRITERIA),
            "additionalProperties": False,
        },
        "strengths": {"type": "array", "items": {"type": "string"}},
        "improvements": {"type": "array", "items": {"type": "string"}},
        "detected_issues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    "description": {"type": "string"},
                    "timestamp_seconds": {"type": "number"},
                },
                "required": ["type", "severity", "description", "timestamp_seconds"],
                "additionalProperties": False,
            },
        },
    },
    "required": [
        "score",
        "summary",
        "creative_score",
        "strengths",
        "improvements",
        "detected_issues",
    ],
    "additionalProperties": False,
}

DEFAULT_ANALYSIS_PROMPT = (
    "You review short marketing and social videos. Score the video from 0 to 10 overall and "
    "on each creative criterion ({criteria}), list its strengths, concrete improvements, and "
    "any detected issues (type, severity, description, timestamp in seconds). Answer only "
    "with JSON matching the schema."
).format(criteria=", ".join(SCORE_CRITERIA))


@dataclass(frozen=True)
class VideoAnalysisRequest:
    """Score a video. Providers that see the video (Gemini) upload it; the others read
    ``frames`` (JPEG stills; extracted from the video when empty) and ``transcript``."""

    video_path: str
    prompt: str = DEFAULT_ANALYSIS_PROMPT
    transcript: str = ""
    frames: tuple[bytes, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    mime_type: str = "video/mp4"

    def requirements(self) -> dict[str, Any]:
        return {"model": self.model}


@dataclass
class VideoAnalysisResult:
    """``score`` follows :data:`SCORE_SCHEMA`."""

    score: dict[str, Any]
    provider: str
    model: str
    cost_usd: float


class VideoAnalyzer(Protocol):
    async def analyze_video(
        self, request: VideoAnalysisRequest, ctx: CallContext | None = None
    ) -> VideoAnalysisResult: ...


# --- video generation --------------------------------------------------------------------


@dataclass(frozen=True)
class VideoGenerationRequest:
    """Text (and optionally a starting image) to video. ``size`` is ``WIDTHxHEIGHT``;
    vendors snap to what they support. ``image_path`` is a local image the video starts
    from: only offerings with the ``image_input`` capability take one. ``output_path`` is
    the local file the video is written to as it downloads (a generated video is never
    held in memory); empty: a temporary file of the caller's."""

    prompt: str
    seconds: int = 4
    size: str = "1280x720"
    model: str | None = None
    negative_prompt: str | None = None
    image_path: str | None = None
    output_path: str = ""

    def requirements(self) -> dict[str, Any]:
        return {"seconds": self.seconds, **self.routing_requirements()}

    def routing_requirements(self) -> dict[str, Any]:
        """What the provider must support whatever length it rounds the video to."""
        return {"image_input": self.image_path is not None, "model": self.model}


@dataclass
class GeneratedVideo:
    # The video file (the request's output_path, or a temporary file the caller removes).
    path: Path
    content_type: str
    seconds: float
    size: str
    provider: str
    model: str
    cost_usd: float
    vendor_job_id: str = ""


class VideoGenerator(Protocol):
    async def generate_video(
        self, request: VideoGenerationRequest, ctx: CallContext | None = None
    ) -> GeneratedVideo: ...
