"""Subtitle jobs: text with automatic timing, speech to cues, and alignment to media."""

from __future__ import annotations

from pathlib import Path

from mediatasks.core.worker import JobContext, JobResult, fetch_input, percent_progress
from mediatasks.media import sphinx
from mediatasks.media.cues import Cue, content_type, cues_from_text, cues_from_words, normalize_format, parse, render
from mediatasks.providers.router import ProviderRouter
from mediatasks.subtitle import align
from mediatasks.subtitle.rules import rules_of
from mediatasks.subtitle.translation import target_language, translate_job_cues, translate_paragraphs
from mediatasks.v1 import subtitle_pb2


def _subtitle_text(path: Path) -> str:
    """A subtitle file's text: UTF-8 (with or without a BOM), else Windows-1252, which old
    SRT files often are (decoding those as UTF-8 would turn every accent into U+FFFD)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


async def generate_subtitles(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``subtitle_generation`` job; ``providers`` (bound by the service) translates."""
    request = ctx.input(subtitle_pb2.GenerateSubtitlesRequest)
    fmt = normalize_format(request.format or "srt")
    rules = rules_of(request)
    timeout = ctx.settings.job_timeout_seconds
    result = subtitle_pb2.SubtitleResult(format=fmt, language=(request.source_language or "en").lower())

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
        transcript = await sphinx.transcribe(
            media,
            timeout=timeout,
            language=request.source_language or "en",
            on_progress=percent_progress(ctx, 10, 85, "transcribing"),
        )
        await ctx.progress(90, "segmenting")
        cues = cues_from_words(transcript.words, rules, media_end=transcript.duration or None)
    elif request.subtitles_url:
        # Translation of a given file (no media to align to): its cues as they are.
        source = await fetch_input(ctx, request.subtitles_url, "source_subtitles")
        cues = parse(_subtitle_text(source))
    else:
        await ctx.progress(30, "timing")
        cues = cues_from_text(request.text, rules)

    provider, model, cost = "local", "", 0.0
    target = target_language(request)
    if target:
        translated = await translate_job_cues(providers, ctx, request, cues, rules)
        translate_paragraphs(result.paragraphs, cues, translated.cues)
        cues = translated.cues
        result.language = target
        provider, model, cost = translated.provider or provider, translated.model, translated.cost_usd

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
