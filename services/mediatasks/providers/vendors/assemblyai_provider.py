"""AssemblyAI transcription through the official ``assemblyai`` SDK (``AsyncTranscriber``).

Uploads the file, creates a transcript (word timings, language detection when no
language is given, speaker labels on request) and polls it until it completes. The SDK's
asyncio client means cancelling the calling task stops the upload or the polling at
once; AssemblyAI has no call to cancel a transcript in progress, so a cancelled call
reports ``cancel_confirmed = False`` (the vendor may still finish and bill it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import assemblyai as aai
import httpx

from mediatasks.core.errors import MediaTasksError, invalid_input, unsupported_media
from mediatasks.core.settings import Settings
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    CallContext,
    CostModel,
    Offering,
    Provider,
    ProviderSpec,
    normalize_language,
)
from mediatasks.providers.contracts import (
    Transcript,
    TranscriptionRequest,
    TranscriptionResult,
    Utterance,
    Word,
)
from mediatasks.providers.vendors import errors
from mediatasks.providers.vendors._calls import guarded

log = logging.getLogger(__name__)

NAME = "assemblyai"
DEFAULT_BASE_URL = "https://api.assemblyai.com"
DEFAULT_MODEL = "universal"
PRICE_PER_HOUR = 0.15
SPEAKER_LABELS_PRICE_PER_HOUR = 0.02
# Transcript error messages that mean "this file is not usable audio".
_MEDIA_ERRORS = ("transcod", "does not appear to contain audio", "no spoken audio", "unsupported")
_TRANSIENT_ERRORS = ("internal", "server error", "timed out", "try again", "temporarily")

SPEC = ProviderSpec(
    name=NAME,
    vendor="assemblyai",
    required_settings=("assemblyai_api_key",),
    optional_settings=("assemblyai_base_url",),
    offerings=(
        Offering(
            AUDIO_TRANSCRIPTION,
            DEFAULT_MODEL,
            quality=0.9,
            speed=0.6,
            cost=CostModel(round(PRICE_PER_HOUR / 60, 6), "audio_minute"),
            capabilities={
                "languages": "*",
                "speaker_labels": True,
                "word_timestamps": True,
                "language_detection": True,
                "max_file_bytes": 2 * 1024**3,
                "max_duration_seconds": 10 * 3600,
            },
            # The speech models AssemblyAI's speech_models parameter takes.
            models={"best": {}, "nano": {}, "slam-1": {}, "universal-2": {}},
        ),
    ),
)


class AssemblyAIProvider(Provider):
    """AssemblyAI adapter; ``poll_interval_seconds`` is how often a transcript is polled."""

    spec = SPEC

    def __init__(self, settings: Settings, *, poll_interval_seconds: float = 1.0) -> None:
        super().__init__(settings)
        self.poll_interval_seconds = poll_interval_seconds
        self._client: aai.AsyncClient | None = None

    @property
    def client(self) -> aai.AsyncClient:
        if self._client is None:
            self._client = aai.AsyncClient(
                settings=aai.Settings(
                    api_key=self.settings.require("assemblyai_api_key"),
                    base_url=self.settings.assemblyai_base_url or DEFAULT_BASE_URL,
                    http_timeout=min(60.0, self.settings.provider_timeout_seconds),
                    polling_interval=self.poll_interval_seconds,
                )
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _map(self, error: BaseException) -> MediaTasksError | None:
        return map_assemblyai_error(error, self.settings.env_name("assemblyai_api_key"))

    async def transcribe(self, request: TranscriptionRequest, ctx: CallContext | None = None) -> TranscriptionResult:
        """Upload, transcribe and wait; words, language and (optionally) utterances."""
        path = Path(request.audio_path)
        if not path.is_file():
            raise invalid_input(f"audio file not found: {path.name}")
        config = aai.TranscriptionConfig(
            language_code=normalize_language(request.language) if request.language else None,
            language_detection=None if request.language else True,
            speaker_labels=True if request.speaker_labels else None,
            speech_models=[request.model] if request.model else None,
            prompt=request.prompt,
        )
        ctx = ctx or CallContext()
        transcriber = aai.AsyncTranscriber(client=self.client)

        async def run() -> Any:
            await ctx.progress(2.0, "uploading")
            transcript = await transcriber.submit(str(path), config)
            ctx.vendor_job_id = transcript.id or ""
            await ctx.progress(20.0, "transcribing")
            return await transcript.wait_for_completion()

        transcript = await guarded(NAME, self.deadline(ctx), run(), self._map, ctx=ctx)
        if transcript.status == aai.TranscriptStatus.error:
            raise _transcript_failure(transcript.error or "transcription failed")
        result = _to_result(transcript, request)
        await ctx.progress(100.0, "transcribed")
        return result


def map_assemblyai_error(error: BaseException, env_var: str) -> MediaTasksError | None:
    """The project error for an exception the ``assemblyai`` SDK (or its httpx) raised."""
    if isinstance(error, aai.AssemblyAIError) and error.status_code is not None:
        return errors.from_http_status(NAME, int(error.status_code), str(error), env_var=env_var)
    if isinstance(error, httpx.TimeoutException):
        return errors.timed_out(NAME)
    if isinstance(error, httpx.TransportError):
        return errors.unavailable(NAME, f"connection failed ({error})")
    if isinstance(error, aai.AssemblyAIError):
        return errors.unavailable(NAME, str(error))
    return None


def _transcript_failure(message: str) -> MediaTasksError:
    lowered = message.lower()
    if any(marker in lowered for marker in _MEDIA_ERRORS):
        error = unsupported_media(f"assemblyai could not transcribe the file: {message}")
        error.metadata["provider"] = NAME
        return error
    if any(marker in lowered for marker in _TRANSIENT_ERRORS):
        return errors.unavailable(NAME, message)
    return errors.rejected(NAME, message)


def _to_result(transcript: Any, request: TranscriptionRequest) -> TranscriptionResult:
    # AssemblyAI times are integer milliseconds.
    words = [
        Word(text=w.text, start=w.start / 1000.0, end=w.end / 1000.0, confidence=float(w.confidence))
        for w in transcript.words or []
    ]
    utterances = [
        Utterance(
            speaker=str(u.speaker),
            text=u.text,
            start=u.start / 1000.0,
            end=u.end / 1000.0,
            confidence=float(u.confidence),
        )
        for u in transcript.utterances or []
    ]
    duration = float(transcript.audio_duration or 0) or (words[-1].end if words else 0.0)
    language = str(getattr(transcript.language_code, "value", transcript.language_code) or "")
    hourly = PRICE_PER_HOUR + (SPEAKER_LABELS_PRICE_PER_HOUR if request.speaker_labels else 0.0)
    response = transcript.json_response or {}
    return TranscriptionResult(
        transcript=Transcript(
            text=transcript.text or "",
            words=words,
            language=normalize_language(language) if language else (request.language or ""),
            duration=duration,
        ),
        provider=NAME,
        model=str(response.get("speech_model_used") or request.model or DEFAULT_MODEL),
        cost_usd=round(duration / 3600.0 * hourly, 6),
        utterances=utterances,
    )
