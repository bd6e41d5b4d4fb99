"""Transcript output formats: JSON, plain text, SRT and WebVTT."""

from __future__ import annotations

import json

from mediatasks.core.errors import invalid_input
from mediatasks.media.cues import DEFAULT_RULES, CueRules, content_type, cues_from_words, render
from mediatasks.media.transcript import Transcript

TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt")


def render_transcript(transcript: Transcript, fmt: str, *, rules: CueRules = DEFAULT_RULES) -> tuple[str, str]:
    """The transcript as ``(document, content_type)`` in ``json``, ``text``, ``srt`` or ``vtt``.

    JSON carries every word with its times and confidence; SRT/WebVTT group words into
    cues with :func:`mediatasks.media.cues.cues_from_words` (a transcript without
    words gives a valid, empty subtitle file).
    """
    name = (fmt or "").strip().lower()
    if name == "json":
        body = json.dumps(transcript.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return body, "application/json"
    if name in ("text", "txt"):
        return (transcript.text + "\n" if transcript.text else ""), "text/plain; charset=utf-8"
    if name in ("srt", "vtt", "webvtt"):
        cues = cues_from_words(transcript.words, rules, media_end=transcript.duration or None)
        return render(cues, name), content_type(name)
    raise invalid_input(
        f"unsupported transcript format {fmt!r}; supported: {', '.join(TRANSCRIPT_FORMATS)}",
        supported=",".join(TRANSCRIPT_FORMATS),
    )
