"""The cue layout rules a subtitle request asks for, with defaults for unset fields."""

from __future__ import annotations

from mediatasks.media.cues import DEFAULT_RULES, CueRules
from mediatasks.v1 import subtitle_pb2


def rules_of(request: subtitle_pb2.GenerateSubtitlesRequest) -> CueRules:
    return CueRules(
        max_chars_per_line=request.max_chars_per_line or DEFAULT_RULES.max_chars_per_line,
        max_lines=request.max_lines or DEFAULT_RULES.max_lines,
        min_duration=request.min_cue_duration or DEFAULT_RULES.min_duration,
        max_duration=request.max_cue_duration or DEFAULT_RULES.max_duration,
        words_per_minute=request.words_per_minute or DEFAULT_RULES.words_per_minute,
    )
