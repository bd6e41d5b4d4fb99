"""Transcription jobs, on whichever provider the router picks (Whisper offline)."""

from __future__ import annotations

import asyncio

from mediatasks.audio.formats import render_transcript
from mediatasks.core.worker import JobContext, JobResult, fetch_input
from mediatasks.providers.contracts import TranscriptionRequest
from mediatasks.providers.jobs import pinned_provider, run_provider_call
from mediatasks.providers.operations import check_transcription, transcribe
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import audio_pb2, common_pb2

_EXTENSIONS = {"json": "json", "text": "txt", "srt": "srt", "vtt": "vtt"}
# Formats cut into cues from word times.
_TIMED_FORMATS = ("srt", "vtt")


def _needs_words(request: audio_pb2.TranscribeRequest) -> bool:
    return (request.response_format or "json").lower() in _TIMED_FORMATS


def check_request(request: audio_pb2.TranscribeRequest, providers: ProviderRouter) -> str:
    """Refuse at submit what no configured provider can run (naming the settings to add);
    returns the pinned provider ("" when none)."""
    pinned = pinned_provider(request.provider)
    check_transcription(
        providers,
        request.language or None,
        only=pinned,
        speaker_labels=request.speaker_labels,
        word_timestamps=_needs_words(request),
        strategy=request.strategy,
        model=request.model or None,
    )
    return pinned or ""


async def transcribe_job(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``audio_transcription`` job (the service binds ``providers``)."""
    request = ctx.input(audio_pb2.TranscribeRequest)
    audio = await fetch_input(ctx, request.audio_url, "input_audio")
    wanted = TranscriptionRequest(
        audio_path=str(audio),
        language=request.language or None,
        model=request.model or None,
        speaker_labels=request.speaker_labels,
        word_timestamps=_needs_words(request),
    )
    outcome = await run_provider_call(
        ctx,
        lambda call: transcribe(
            providers,
            wanted,
            ctx=call,
            strategy=request.strategy or None,
            only=pinned_provider(request.provider),
        ),
    )
    fmt = (request.response_format or "json").lower()
    # A ten-hour transcript renders for seconds: off the event loop (heartbeats go on).
    content, content_type = await asyncio.to_thread(render_transcript, outcome.transcript, fmt)
    artifact = await ctx.artifacts.put_bytes(
        content.encode(),
        content_type=content_type,
        filename=f"transcript.{_EXTENSIONS.get(fmt, 'txt')}",
        owner=ctx.owner,
        role="transcript",
    )
    result = await asyncio.to_thread(_result_of, outcome, fmt, content, artifact)
    return JobResult(
        result=result,
        artifacts=[artifact],
        provider=outcome.provider,
        model=outcome.model,
        cost_usd=outcome.cost_usd,
    )


def _result_of(outcome, fmt: str, content: str, artifact: common_pb2.Artifact) -> audio_pb2.TranscriptionResult:
    return audio_pb2.TranscriptionResult(
        text=outcome.text,
        language=outcome.language,
        duration_seconds=outcome.duration,
        format=fmt,
        content=content,
        transcript=artifact,
        words=[common_pb2.Word(text=w.text, start=w.start, end=w.end, confidence=w.confidence) for w in outcome.words],
        utterances=[
            audio_pb2.Utterance(speaker=u.speaker, start=u.start, end=u.end, text=u.text) for u in outcome.utterances
        ],
    )
