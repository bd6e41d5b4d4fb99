"""The cue layout rules a subtitle request asks for, with defaults for unset fields."""

from __future__ import annotations

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.media.cues import DEFAULT_RULES, CueRules, parse
from mediatasks.v1 import subtitle_pb2


def rules_of(request: subtitle_pb2.GenerateSubtitlesRequest) -> CueRules:
    return CueRules(
        max_chars_per_line=request.max_chars_per_line or DEFAULT_RULES.max_chars_per_line,
        max_lines=request.max_lines or DEFAULT_RULES.max_lines,
        min_duration=request.min_cue_duration or DEFAULT_RULES.min_duration,
        max_duration=request.max_cue_duration or DEFAULT_RULES.max_duration,
        words_per_minute=request.words_per_minute or DEFAULT_RULES.words_per_minute,
    )


TIMING_MODES = ("auto", "manual")


def manual_timing(request: subtitle_pb2.GenerateSubtitlesRequest) -> bool:
    """Whether the request keeps the times its text carries (``timing_mode: "manual"``)."""
    return request.timing_mode.strip().lower() == "manual"


def check_timing_mode(request: subtitle_pb2.GenerateSubtitlesRequest) -> None:
    """Submit-time check of ``timing_mode``: a known mode, and for ``manual`` a timed
    document in ``text`` and no media to re-time it (both would otherwise be ignored)."""
    mode = request.timing_mode.strip().lower()
    if mode and mode not in TIMING_MODES:
        raise invalid_input(f"timing_mode must be one of {', '.join(TIMING_MODES)}, not {mode!r}", field="timing_mode")
    if mode != "manual":
        return
    if request.media_url:
        raise invalid_input(
            'timing_mode "manual" keeps the given times; media_url would re-time them: send one or the other',
            field="timing_mode",
        )
    if request.text:
        try:
            parse(request.text)
        except MediaTasksError as error:
            raise invalid_input(
                f'timing_mode "manual" needs text to be a timed SRT, WebVTT or ASS document: {error.message}',
                field="timing_mode",
            ) from None
