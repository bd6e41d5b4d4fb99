"""Where a subtitle job's speech goes: a transcription provider, or forced alignment.

A job with ``media_url`` alone is *subtitles from speech*: the media is transcribed through
the provider layer (:func:`mediatasks.providers.operations.transcribe`: Whisper offline, or
a configured cloud provider, chosen by language, strategy and health, with failover) and
cut into cues at the words' times. A job with ``media_url`` and the text (``text`` or
``subtitles_url``) is *alignment*: the given words are placed on the speech by
PocketSphinx's forced alignment (:mod:`mediatasks.subtitle.align`), which needs no
recognition and keeps the text exactly as given; it decodes English only.
"""

from __future__ import annotations

from pathlib import Path

from mediatasks.core.worker import JobContext
from mediatasks.media import sphinx
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, TRANSLATION
from mediatasks.providers.contracts import TranscriptionRequest, TranscriptionResult
from mediatasks.providers.jobs import pinned_provider, run_provider_call
from mediatasks.providers.operations import check_transcription, pin_for, transcribe
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import subtitle_pb2


def transcribes(request: subtitle_pb2.GenerateSubtitlesRequest) -> bool:
    """Whether the job makes its cues from the speech in its media."""
    return bool(request.media_url) and not (request.text or request.subtitles_url)


def aligns(request: subtitle_pb2.GenerateSubtitlesRequest) -> bool:
    """Whether the job places given text on the speech in its media."""
    return bool(request.media_url) and bool(request.text or request.subtitles_url)


def job_operations(request: subtitle_pb2.GenerateSubtitlesRequest, translates: bool) -> tuple[str, ...]:
    """The provider operations the job calls."""
    return (AUDIO_TRANSCRIPTION,) * transcribes(request) + (TRANSLATION,) * translates


def check_speech_request(
    request: subtitle_pb2.GenerateSubtitlesRequest, providers: ProviderRouter, *, translates: bool
) -> str:
    """Submit-time check of the speech part: a language no configured provider transcribes
    is refused naming what to configure; alignment refuses what PocketSphinx cannot
    decode. Returns the provider pinned for the transcription ("" when none)."""
    if aligns(request):
        sphinx.check_language(request.source_language or None)
        return ""
    if not transcribes(request):
        return ""
    only = pin_for(
        providers, pinned_provider(request.provider), AUDIO_TRANSCRIPTION, job_operations(request, translates)
    )
    check_transcription(
        providers,
        request.source_language or None,
        only=only,
        word_timestamps=True,
        strategy=request.strategy,
    )
    return only or ""


async def transcribe_media(
    providers: ProviderRouter,
    ctx: JobContext,
    request: subtitle_pb2.GenerateSubtitlesRequest,
    media: Path,
    *,
    translates: bool,
    low: float,
    high: float,
) -> TranscriptionResult:
    """The transcription step of subtitles from speech (progress ``low``-``high``)."""
    wanted = TranscriptionRequest(
        audio_path=str(media),
        language=request.source_language or None,
        word_timestamps=True,
    )
    only = pin_for(
        providers, pinned_provider(request.provider), AUDIO_TRANSCRIPTION, job_operations(request, translates)
    )
    return await run_provider_call(
        ctx,
        lambda call: transcribe(providers, wanted, ctx=call, strategy=request.strategy or None, only=only),
        low=low,
        high=high,
    )
