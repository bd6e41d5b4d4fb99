"""Subtitle translation: cue texts through a translation provider, timings kept.

A subtitle job with a ``target_language`` different from its ``source_language`` (default
``en``) builds its cues as usual (from text, speech, alignment or a given file) and then
translates every cue's text in one provider call (:func:`mediatasks.providers.translate`,
OpenAI chat by default; the adapter batches long files). Start and end times stay as they
were; a translation that no longer fits the layout rules (line length, line count) is
re-wrapped into balanced lines.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mediatasks.core.worker import JobContext
from mediatasks.media.cues import Cue, CueRules
from mediatasks.providers.base import TRANSLATION, CallContext, normalize_language
from mediatasks.providers.contracts import TranslationRequest
from mediatasks.providers.jobs import check_provider_request, pinned_provider, run_provider_call
from mediatasks.providers.operations import pin_for, translate
from mediatasks.providers.router import ProviderRouter
from mediatasks.subtitle.speech import job_operations
from mediatasks.v1 import subtitle_pb2

DEFAULT_SOURCE_LANGUAGE = "en"


def target_language(request: subtitle_pb2.GenerateSubtitlesRequest) -> str | None:
    """The language to translate into, or ``None`` when the job does not translate."""
    target = request.target_language.strip().lower()
    source = (request.source_language or DEFAULT_SOURCE_LANGUAGE).strip().lower()
    if not target or normalize_language(target) == normalize_language(source):
        return None
    return target


def check_translation_request(request: subtitle_pb2.GenerateSubtitlesRequest, providers: ProviderRouter) -> str:
    """Submit-time check: refuse a translation no configured provider can run (naming the
    variables to set). Returns the pinned provider ("" when none or no translation)."""
    target = target_language(request)
    if target is None:
        return ""
    only = translation_pin(providers, request)
    return check_provider_request(providers, TRANSLATION, only or "", {"language": target}, strategy=request.strategy)


def translation_pin(providers: ProviderRouter, request: subtitle_pb2.GenerateSubtitlesRequest) -> str | None:
    """The provider the translation is pinned to: the one the client named, when it
    translates or when the job calls nothing else it offers (see ``pin_for``)."""
    return pin_for(providers, pinned_provider(request.provider), TRANSLATION, job_operations(request, True))


def rewrap(text: str, rules: CueRules) -> str:
    """``text`` as it is when its lines fit ``rules``; otherwise in at most ``max_lines``
    lines of similar length (longer than ``max_chars_per_line`` only when it cannot fit)."""
    lines = text.split("\n")
    if len(lines) <= rules.max_lines and all(len(x) <= rules.max_chars_per_line for x in lines):
        return text
    flat = " ".join(text.split())
    wrapped = textwrap.wrap(flat, rules.max_chars_per_line, break_long_words=False)
    count = max(1, min(rules.max_lines, len(wrapped)))
    width = max(1, math.ceil(len(flat) / count))
    while True:  # the narrowest width that needs no more than ``count`` lines
        wrapped = textwrap.wrap(flat, width, break_long_words=False)
        if len(wrapped) <= count:
            return "\n".join(wrapped)
        width += 1


@dataclass
class TranslatedCues:
    cues: list[Cue]
    provider: str
    model: str
    cost_usd: float


async def translate_cues(
    registry: ProviderRouter,
    cues: Sequence[Cue],
    target: str,
    *,
    source: str | None = None,
    rules: CueRules | None = None,
    ctx: CallContext | None = None,
    strategy: str | None = None,
    only: str | None = None,
) -> TranslatedCues:
    """``cues`` with their texts in ``target``: same count, order and times."""
    if not cues:
        return TranslatedCues([], "", "", 0.0)
    request = TranslationRequest(texts=tuple(cue.text for cue in cues), target_language=target, source_language=source)
    outcome = await translate(registry, request, ctx=ctx, strategy=strategy, only=only)
    translated = [
        replace(cue, text=rewrap(text.strip(), rules) if rules else text.strip())
        for cue, text in zip(cues, outcome.texts, strict=True)
    ]
    return TranslatedCues(translated, outcome.provider, outcome.model, outcome.cost_usd)


async def translate_job_cues(
    providers: ProviderRouter,
    ctx: JobContext,
    request: subtitle_pb2.GenerateSubtitlesRequest,
    cues: Sequence[Cue],
    rules: CueRules,
) -> TranslatedCues:
    """The translation step of a subtitle job (progress 85-95 %); the cues unchanged
    when the job does not translate."""
    target = target_language(request)
    if target is None:
        return TranslatedCues(list(cues), "local", "", 0.0)
    return await run_provider_call(
        ctx,
        lambda call: translate_cues(
            providers,
            cues,
            target,
            source=request.source_language or None,
            rules=rules,
            ctx=call,
            strategy=request.strategy or None,
            only=translation_pin(providers, request),
        ),
        low=85,
        high=95,
    )


def translate_paragraphs(
    paragraphs: Sequence[subtitle_pb2.Paragraph], before: Sequence[Cue], after: Sequence[Cue]
) -> None:
    """Carry translated cue texts into an alignment job's paragraphs (matched by time)."""
    texts = {(b.start, b.end, b.text): a.text for b, a in zip(before, after, strict=True)}
    for paragraph in paragraphs:
        for cue in paragraph.cues:
            cue.text = texts.get((cue.start, cue.end, cue.text), cue.text)
        paragraph.text = " ".join(" ".join(cue.text.split()) for cue in paragraph.cues)
