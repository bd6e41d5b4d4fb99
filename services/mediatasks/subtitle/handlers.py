"""Subtitle jobs: text with automatic timing, speech to cues, and alignment to media."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mediatasks.core.errors import too_large
from mediatasks.core.worker import JobContext, JobResult, fetch_input, percent_progress
from mediatasks.media.cues import Cue, content_type, cues_from_text, cues_from_words, normalize_format, parse, render
from mediatasks.media.ffmpeg import probe
from mediatasks.media.transcript import ordered_words
from mediatasks.providers.base import normalize_language
from mediatasks.providers.operations import combine_calls
from mediatasks.providers.router import ProviderRouter
from mediatasks.subtitle import align
from mediatasks.subtitle.rules import manual_timing, rules_of
from mediatasks.subtitle.speech import transcribe_media
from mediatasks.subtitle.translation import target_language, translate_job_cues, translate_paragraphs
from mediatasks.v1 import subtitle_pb2, tasks_pb2

# A subtitle file is text; 64 MiB is days of dialogue. Anything bigger is not subtitles.
MAX_SUBTITLE_FILE_BYTES = 64 * 1024 * 1024


def _subtitle_text(path: Path) -> str:
    """A subtitle file's text: UTF-8 (with or without a BOM), else Windows-1252, which old
    SRT files often are (decoding those as UTF-8 would turn every accent into U+FFFD)."""
    size = path.stat().st_size
    if size > MAX_SUBTITLE_FILE_BYTES:
        raise too_large(
            f"the subtitle file is {size} bytes; the limit is {MAX_SUBTITLE_FILE_BYTES}", MAX_SUBTITLE_FILE_BYTES
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def times_text_alone(task: tasks_pb2.Task) -> bool:
    """Whether the job only times a given text (no media, no file, no translation): a few
    milliseconds of local work that calls no provider, so the worker may run it before
    StartAttempt and start it with its completion."""
    request = subtitle_pb2.GenerateSubtitlesRequest()
    if not task.input.Unpack(request):
        return False
    return bool(request.text) and not request.media_url and not request.subtitles_url and not target_language(request)


async def generate_subtitles(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``subtitle_generation`` job; ``providers`` (bound by the service) transcribe
    speech and translate."""
    request = ctx.input(subtitle_pb2.GenerateSubtitlesRequest)
    fmt = normalize_format(request.format or "srt")
    rules = rules_of(request)
    timeout = ctx.job_timeout_seconds
    result = subtitle_pb2.SubtitleResult(format=fmt, language=(request.source_language or "en").lower())
    target = target_language(request)
    # Each provider call's (provider, model, cost), in the order they ran.
    calls: list[tuple[str, str, float]] = []

    if request.media_url and (request.subtitles_url or request.text):
        # Alignment: the text is already right (a script, a hand-made file), only its
        # timing is not, so the speech in the media times the given words rather than
        # a transcript replacing them.
        media = await fetch_input(ctx, request.media_url, "media")
        if request.subtitles_url:
            source = await fetch_input(ctx, request.subtitles_url, "source_subtitles")
            given: str | list[Cue] = parse(_subtitle_text(source))
        else:
            given = request.text
        aligned = await align.align_text_to_audio(
            given, media, timeout=timeout, on_progress=percent_progress(ctx, 10, 90, "aligning")
        )
        cues: list[Cue] = list(aligned)
        for paragraph in align.paragraphs(aligned):
            entry = result.paragraphs.add(start=paragraph.start, end=paragraph.end, text=paragraph.text)
            for cue in paragraph.cues:
                entry.cues.add(start=cue.start, end=cue.end, text=cue.text)
    elif request.media_url:
        media = await fetch_input(ctx, request.media_url, "media")
        info = await asyncio.to_thread(probe, media)
        heard = await transcribe_media(providers, ctx, request, media, translates=target is not None, low=10, high=85)
        calls.append((heard.provider, heard.model, heard.cost_usd))
        if heard.language:
            result.language = normalize_language(heard.language)
        await ctx.progress(90, "segmenting")
        # The probed length bounds the cues: a provider may round the duration it reports
        # (AssemblyAI: whole seconds) or time a last word past the final sample.
        media_end = info.duration_seconds or heard.duration or None
        cues = cues_from_words(ordered_words(heard.words, end=media_end), rules, media_end=media_end)
        if target is not None and normalize_language(target) == result.language:
            target = None  # the speech is already in the wanted language
    elif request.subtitles_url:
        # Translation of a given file (no media to align to): its cues as they are.
        source = await fetch_input(ctx, request.subtitles_url, "source_subtitles")
        cues = parse(_subtitle_text(source))
    elif manual_timing(request):
        # The text is a timed document: its own times are kept.
        cues = parse(request.text)
    else:
        await ctx.progress(30, "timing")
        cues = cues_from_text(request.text, rules)

    if target:
        translated = await translate_job_cues(providers, ctx, request, cues, rules)
        translate_paragraphs(result.paragraphs, cues, translated.cues)
        cues = translated.cues
        result.language = target
        calls.append((translated.provider, translated.model, translated.cost_usd))
    provider, model, cost = combine_calls(calls)

    content = render(cues, fmt)
    await ctx.progress(95, "uploading")
    artifact = await ctx.artifacts.put_bytes(
        content.encode(),
        content_type=content_type(fmt),
        filename=f"subtitles.{fmt}",
        owner=ctx.owner,
        role="subtitles",
    )
    result.content = content
    result.cue_count = len(cues)
    result.duration_seconds = max((cue.end for cue in cues), default=0.0)
    result.subtitles.CopyFrom(artifact)
    return JobResult(result=result, artifacts=[artifact], provider=provider, model=model, cost_usd=cost)
