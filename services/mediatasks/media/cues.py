"""Subtitle cues: automatic timing for plain text and word-timed transcripts, SRT/VTT/ASS I/O.

Two builders produce :class:`Cue` lists that follow common subtitling rules (line length,
line count, reading speed, minimum/maximum duration, a gap between cues):

* :func:`cues_from_text` times plain text from reading speed alone;
* :func:`cues_from_words` follows word timings from a transcript (pauses and punctuation
  start new cues).

:func:`render` and :func:`parse` convert to and from SRT, WebVTT and ASS through
``pysubs2``. All times are whole centiseconds (the finest unit ASS can store), so a
rendered file parses back to exactly the same cues in every format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pysubs2

from mediatasks.core.errors import invalid_input
from mediatasks.media.transcript import Word

log = logging.getLogger(__name__)

FORMATS = ("srt", "vtt", "ass")
_FORMAT_ALIASES = {"srt": "srt", "vtt": "vtt", "webvtt": "vtt", "ass": "ass", "ssa": "ass"}
_CONTENT_TYPES = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt; charset=utf-8",
    "ass": "text/x-ssa; charset=utf-8",
}

# A token closing a sentence: ends in . ! ? or … possibly followed by closing quotes/brackets.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*$")
# A token after which a cue or a line may break naturally (clause punctuation).
_CLAUSE_END = re.compile(r"[,;:—–]+[\"'”’»)\]]*$")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_TIME_UNIT_MS = 10  # ASS stores centiseconds; keeping every time on that grid makes I/O exact.


@dataclass
class Cue:
    """One subtitle: seconds from the start of the media, text with "\\n" between lines."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CueRules:
    """Layout and timing rules shared by the cue builders.

    ``per_cue_seconds`` is added to every cue's reading time (the eye needs a moment to
    notice a new subtitle); ``pause_split`` is the silence in word-timed input that always
    starts a new cue.
    """

    max_chars_per_line: int = 42
    max_lines: int = 2
    min_duration: float = 1.0
    max_duration: float = 7.0
    gap: float = 0.08
    words_per_minute: float = 160.0
    per_cue_seconds: float = 0.5
    pause_split: float = 0.6

    def __post_init__(self) -> None:
        if self.max_chars_per_line < 8:
            raise invalid_input("max_chars_per_line must be at least 8")
        if not 1 <= self.max_lines <= 4:
            raise invalid_input("max_lines must be between 1 and 4")
        if not 0 < self.min_duration <= self.max_duration:
            raise invalid_input("durations must satisfy 0 < min_duration <= max_duration")
        if self.gap < 0 or self.per_cue_seconds < 0 or self.pause_split <= 0:
            raise invalid_input("gap and per_cue_seconds must be >= 0, pause_split > 0")
        if not 20 <= self.words_per_minute <= 1000:
            raise invalid_input("words_per_minute must be between 20 and 1000")

    @property
    def max_words(self) -> int:
        """Most words one cue can hold and still be readable within ``max_duration``."""
        reading = max(self.max_duration - self.per_cue_seconds, 0.0)
        return max(1, int(reading * self.words_per_minute / 60.0))


DEFAULT_RULES = CueRules()


# --- building cues ------------------------------------------------------------------------


def cues_from_text(text: str, rules: CueRules = DEFAULT_RULES, start: float = 0.0) -> list[Cue]:
    """Split plain text into cues timed from reading speed, starting at ``start`` seconds.

    Sentences (and blank-line paragraphs) never share a cue; a long sentence is split
    where the fewest cues fit the rules, preferring breaks after clause punctuation and
    cues of similar length. Each cue lasts ``per_cue_seconds`` plus its reading time at
    ``words_per_minute``, clamped to ``[min_duration, max_duration]``; cues follow each
    other with ``gap`` seconds between them. A single word longer than
    ``max_chars_per_line`` is kept whole on its own line (it cannot be broken honestly).
    """
    if not isinstance(text, str) or not text.strip():
        raise invalid_input("text is empty: nothing to make subtitles from")
    if start < 0:
        raise invalid_input("start must be >= 0")
    chunks: list[list[str]] = []
    for sentence in _sentences(text):
        fits = _text_fits(sentence, rules)
        for i, j in _chunk(sentence, fits):
            chunks.append(sentence[i:j])
    cues: list[Cue] = []
    at_ms = _quantize(start * 1000)
    gap_ms = _quantize(rules.gap * 1000)
    for tokens in chunks:
        seconds = rules.per_cue_seconds + len(tokens) * 60.0 / rules.words_per_minute
        seconds = min(max(seconds, rules.min_duration), rules.max_duration)
        end_ms = at_ms + max(_quantize(seconds * 1000), _TIME_UNIT_MS)
        cues.append(Cue(at_ms / 1000, end_ms / 1000, _wrap(tokens, rules)))
        at_ms = end_ms + gap_ms
    return cues


def cues_from_words(
    words: Sequence[Word], rules: CueRules = DEFAULT_RULES, *, media_end: float | None = None
) -> list[Cue]:
    """Group timed words (a transcript) into cues that follow the speech.

    A pause of ``pause_split`` seconds or sentence punctuation starts a new cue (short
    sentences spoken in quick succession may share one); inside a phrase, cues are cut
    where the fewest fit the line, word-count and ``max_duration`` rules. A cue starts
    with its first word and ends with its last, stretched to ``min_duration`` when the
    next cue leaves room; cues never overlap and keep ``gap`` seconds apart (after a cue
    stretched to ``min_duration``, the next may start a little after its speech rather
    than flash by), but a cue never starts later than ``min_duration`` after its speech, so
    quick speech cannot push later cues off their words. With ``media_end`` (the media's
    duration) no cue runs past the end of the media. No words give no cues.
    """
    timed = [w for w in words if w.text and w.text.strip()]
    for w in timed:
        if not (w.start >= 0 and w.end >= w.start):
            raise invalid_input(f"word {w.text!r} has invalid timing {w.start}..{w.end}")
    timed.sort(key=lambda w: (w.start, w.end))
    if not timed:
        return []

    groups: list[list[Word]] = []
    phrase: list[Word] = []
    for w in timed:
        if phrase and (w.start - phrase[-1].end >= rules.pause_split or _SENTENCE_END.search(phrase[-1].text.strip())):
            groups.extend(_split_phrase(phrase, rules))
            phrase = []
        phrase.append(w)
    groups.extend(_split_phrase(phrase, rules))
    groups = _merge_short_groups(groups, rules)

    gap_ms = _quantize(rules.gap * 1000)
    min_ms = _quantize(rules.min_duration * 1000)
    max_ms = _quantize(rules.max_duration * 1000)
    starts = [_quantize(g[0].start * 1000) for g in groups]
    limit_ms = _quantize(media_end * 1000) if media_end else None
    cues: list[Cue] = []
    previous_end = -gap_ms
    for index, group in enumerate(groups):
        start_ms = max(starts[index], previous_end + gap_ms)
        spoken_end = max(_quantize(group[-1].end * 1000), start_ms + _TIME_UNIT_MS)
        end_ms = min(max(spoken_end, start_ms + min_ms), start_ms + max_ms)
        if index + 1 < len(groups):
            # Yield to the next cue's speech; keep the minimum duration only while that
            # delays the next cue by less than the minimum itself (no cascading drift).
            next_start = starts[index + 1]
            floor_ms = min(start_ms + min_ms, next_start + min_ms - gap_ms)
            end_ms = max(min(end_ms, next_start - gap_ms), floor_ms, start_ms + _TIME_UNIT_MS)
        if limit_ms is not None:
            if start_ms >= limit_ms:
                break
            end_ms = min(end_ms, limit_ms)
        text = _wrap([w.text.strip() for w in group], rules)
        cues.append(Cue(start_ms / 1000, end_ms / 1000, text))
        previous_end = end_ms
    return cues


def _merge_short_groups(groups: list[list[Word]], rules: CueRules) -> list[list[Word]]:
    """Join a group spoken faster than ``min_duration`` with the one right after it.

    Short sentences in quick dialogue ("Perhaps. Yes.") would each be stretched to the
    minimum duration and push every later cue off its speech; sharing a cue keeps the
    timing honest. Groups separated by a pause are never joined (the pause gives room).
    """
    merged: list[list[Word]] = []
    for group in groups:
        if merged:
            previous = merged[-1]
            candidate = previous + group
            tokens = [w.text.strip() for w in candidate]
            if (
                previous[-1].end - previous[0].start < rules.min_duration
                and group[0].start - previous[-1].end < rules.pause_split
                and candidate[-1].end - candidate[0].start <= rules.max_duration
                and _text_fits(tokens, rules)(0, len(tokens))
            ):
                merged[-1] = candidate
                continue
        merged.append(group)
    return merged


def _split_phrase(phrase: list[Word], rules: CueRules) -> list[list[Word]]:
    if not phrase:
        return []
    tokens = [w.text.strip() for w in phrase]
    text_fits = _text_fits(tokens, rules)

    def fits(i: int, j: int) -> bool:
        if j - i == 1:
            return True
        return phrase[j - 1].end - phrase[i].start <= rules.max_duration and text_fits(i, j)

    return [phrase[i:j] for i, j in _chunk(tokens, fits)]


def _sentences(text: str) -> list[list[str]]:
    """Token lists, one per sentence; blank lines always end a sentence."""
    sentences: list[list[str]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        tokens = paragraph.split()
        current: list[str] = []
        for index, token in enumerate(tokens):
            current.append(token)
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            # "e.g. this" or "3.5 m" do not end sentences: the next word must look like a start.
            if _SENTENCE_END.search(token) and (not following or _starts_sentence(following)):
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
    return sentences


def _starts_sentence(token: str) -> bool:
    first = token.lstrip("\"'“‘«([¿¡-–—")
    return bool(first) and (first[0].isupper() or first[0].isdigit())


def _text_fits(tokens: list[str], rules: CueRules) -> Callable[[int, int], bool]:
    """Whether tokens[i:j] fit one cue: word budget and greedy line packing."""
    lengths = [len(t) for t in tokens]

    def fits(i: int, j: int) -> bool:
        if j - i == 1:
            return True
        if j - i > rules.max_words:
            return False
        return _greedy_line_count(lengths[i:j], rules.max_chars_per_line) <= rules.max_lines

    return fits


def _greedy_line_count(lengths: list[int], width: int) -> int:
    """Fewest lines the words need (greedy filling is optimal for the line count)."""
    lines, used = 1, -1
    for length in lengths:
        if used < 0:
            used = length
        elif used + 1 + length <= width:
            used += 1 + length
        else:
            lines, used = lines + 1, length
    return lines


def _chunk(tokens: list[str], fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """Cut tokens into the fewest chunks that fit, then balance them.

    Dynamic programming over cut points. The cost of a chunk is dominated by a constant
    (so the count is minimal); among equal counts, similar lengths and cuts right after
    punctuation win. ``fits`` is monotonic (a chunk that does not fit never fits when it
    grows), which bounds the inner loop.
    """
    n = len(tokens)
    sizes = [len(t) + 1 for t in tokens]
    best: list[float] = [0.0] + [float("inf")] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        chars = 0
        for i in range(j - 1, -1, -1):
            chars += sizes[i]
            if not fits(i, j):
                break
            cost = best[i] + 1_000_000 + chars * chars
            if j < n and not _SENTENCE_END.search(tokens[j - 1]):
                cost += 400 if _CLAUSE_END.search(tokens[j - 1]) else 1600
            if cost < best[j]:
                best[j], back[j] = cost, i
    cuts: list[tuple[int, int]] = []
    j = n
    while j > 0:
        cuts.append((back[j], j))
        j = back[j]
    return cuts[::-1]


def _wrap(tokens: list[str], rules: CueRules) -> str:
    """Lines of similar length, each within ``max_chars_per_line`` when possible."""
    width = rules.max_chars_per_line
    if len(" ".join(tokens)) <= width:
        return " ".join(tokens)
    lengths = [len(t) for t in tokens]
    line_count = min(_greedy_line_count(lengths, width), rules.max_lines, len(tokens))
    n = len(tokens)

    def line_length(i: int, j: int) -> int:
        return sum(lengths[i:j]) + (j - i - 1)

    # best[k][j]: cost of tokens[:j] in k lines; a line over width is allowed only alone.
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(line_count + 1)]
    back = [[0] * (n + 1) for _ in range(line_count + 1)]
    best[0][0] = 0.0
    for k in range(1, line_count + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                length = line_length(i, j)
                if length > width and j - i > 1:
                    break
                if best[k - 1][i] == inf:
                    continue
                cost = best[k - 1][i] + length * length
                ends_clause = _CLAUSE_END.search(tokens[j - 1]) or _SENTENCE_END.search(tokens[j - 1])
                if j < n and ends_clause:
                    cost -= width  # a line that ends a clause reads better
                if cost < best[k][j]:
                    best[k][j], back[k][j] = cost, i
    if best[line_count][n] == inf:  # cannot happen when the chunk fits; stay safe
        return " ".join(tokens)
    lines: list[str] = []
    j = n
    for k in range(line_count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(tokens[i:j]))
        j = i
    return "\n".join(reversed(lines))


def _quantize(ms: float) -> int:
    return int(round(ms / _TIME_UNIT_MS)) * _TIME_UNIT_MS


# --- formats ------------------------------------------------------------------------------


def normalize_format(fmt: str) -> str:
    """``srt``, ``vtt`` or ``ass`` for a format name (``webvtt`` and ``ssa`` accepted)."""
    name = _FORMAT_ALIASES.get((fmt or "").strip().lower().lstrip("."))
    if name is None:
        raise invalid_input(
            f"unsupported subtitle format {fmt!r}; supported: {', '.join(FORMATS)}",
            supported=",".join(FORMATS),
        )
    return name


def content_type(fmt: str) -> str:
    """The MIME type a rendered subtitle file of this format is served with."""
    return _CONTENT_TYPES[normalize_format(fmt)]


DEFAULT_ASS_STYLE: dict[str, Any] = {
    # Sized for a 1920x1080 script canvas; libass scales it to the real frame.
    "play_res_x": 1920,
    "play_res_y": 1080,
    "fontname": "Arial",
    "fontsize": 56,
    "primarycolor": "#FFFFFF",
    "outlinecolor": "#000000",
    "backcolor": "#00000080",
    "bold": False,
    "outline": 3.0,
    "shadow": 1.0,
    "alignment": 2,
    "marginl": 80,
    "marginr": 80,
    "marginv": 60,
}
_STYLE_COLORS = {"primarycolor", "secondarycolor", "tertiarycolor", "outlinecolor", "backcolor"}
_STYLE_NUMBERS = {"fontsize", "scalex", "scaley", "spacing", "angle", "outline", "shadow"}
_STYLE_INTS = {"marginl", "marginr", "marginv", "borderstyle", "play_res_x", "play_res_y"}
_STYLE_BOOLS = {"bold", "italic", "underline", "strikeout"}
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


def render(cues: Sequence[Cue], fmt: str, *, style: dict[str, Any] | None = None) -> str:
    """Write cues as an SRT, WebVTT or ASS document (cues are written in start order).

    ``style`` applies to ASS only (SRT and WebVTT carry no styles): keys are
    ``pysubs2.SSAStyle`` field names (``fontname``, ``fontsize``, ``primarycolor`` as
    ``"#RRGGBB"`` or ``"#RRGGBBAA"`` where AA is opacity, ``outline``, ``alignment`` 1-9,
    ``marginv``, ...) plus ``play_res_x`` / ``play_res_y``, merged over
    :data:`DEFAULT_ASS_STYLE`.
    """
    name = normalize_format(fmt)
    subs = pysubs2.SSAFile()
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        if not 0 <= cue.start < cue.end:
            raise invalid_input(f"cue {cue.text!r} has invalid timing {cue.start}..{cue.end} (need 0 <= start < end)")
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000))
        event.plaintext = cue.text.replace("\r\n", "\n")
        subs.append(event)
    if name == "ass":
        merged = {**DEFAULT_ASS_STYLE, **(style or {})}
        subs.info["PlayResX"] = str(_style_int("play_res_x", merged.pop("play_res_x")))
        subs.info["PlayResY"] = str(_style_int("play_res_y", merged.pop("play_res_y")))
        subs.info["WrapStyle"] = "2"  # our line breaks are final: no smart re-wrapping
        subs.styles["Default"] = _ass_style(merged)
    return subs.to_string(name)


def _ass_style(values: dict[str, Any]) -> pysubs2.SSAStyle:
    style = pysubs2.SSAStyle()
    for key, value in values.items():
        if key in _STYLE_COLORS:
            setattr(style, key, _color(key, value))
        elif key in _STYLE_NUMBERS:
            setattr(style, key, _style_number(key, value))
        elif key in _STYLE_INTS:
            setattr(style, key, _style_int(key, value))
        elif key in _STYLE_BOOLS:
            setattr(style, key, bool(value))
        elif key == "fontname":
            if not isinstance(value, str) or not value.strip() or "," in value:
                raise invalid_input("style fontname must be a font family name")
            style.fontname = value.strip()
        elif key == "alignment":
            alignment = _style_int(key, value)
            if not 1 <= alignment <= 9:
                raise invalid_input("style alignment must be 1-9 (numpad layout)")
            style.alignment = pysubs2.Alignment(alignment)
        else:
            raise invalid_input(f"unknown subtitle style field {key!r}")
    return style


def _color(key: str, value: Any) -> pysubs2.Color:
    if isinstance(value, pysubs2.Color):
        return value
    match = _HEX_COLOR.match(str(value).strip())
    if not match:
        raise invalid_input(f"style {key} must be #RRGGBB or #RRGGBBAA, got {value!r}")
    rgb = match.group(1)
    opacity = int(match.group(2), 16) if match.group(2) else 255
    r, g, b = (int(rgb[k : k + 2], 16) for k in (0, 2, 4))
    return pysubs2.Color(r, g, b, 255 - opacity)  # ASS alpha is transparency


def _style_number(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid_input(f"style {key} must be a number, got {value!r}") from None
    if not 0 <= number <= 10_000:
        raise invalid_input(f"style {key} out of range: {number}")
    return number


def _style_int(key: str, value: Any) -> int:
    number = _style_number(key, value)
    if number != int(number):
        raise invalid_input(f"style {key} must be a whole number, got {value!r}")
    return int(number)


def parse(text: str, fmt: str | None = None) -> list[Cue]:
    """Read an SRT, WebVTT or ASS/SSA document (format detected when ``fmt`` is None).

    Comment events and events without text are skipped; formatting tags are removed
    (ASS ``\\N`` becomes "\\n"). Anything that is not a subtitle document, or holds no
    cue, raises ``INVALID_INPUT``.
    """
    if not isinstance(text, str) or not text.strip():
        raise invalid_input("subtitle document is empty")
    name = normalize_format(fmt) if fmt else None
    try:
        subs = pysubs2.SSAFile.from_string(text.lstrip("\ufeff"), format_=name)
    except pysubs2.exceptions.FormatAutodetectionError:
        raise invalid_input(f"not a subtitle document (supported: {', '.join(FORMATS)})") from None
    except (pysubs2.exceptions.Pysubs2Error, ValueError, IndexError, KeyError) as exc:
        raise invalid_input(f"malformed {name or 'subtitle'} document: {exc}") from None
    detected = getattr(subs, "format", None) or name
    if _FORMAT_ALIASES.get(str(detected)) not in FORMATS:
        raise invalid_input(f"subtitle format {detected!r} is not supported; supported: {', '.join(FORMATS)}")
    cues = [
        Cue(event.start / 1000, event.end / 1000, event.plaintext.strip())
        for event in subs
        if not event.is_comment and event.plaintext.strip() and event.end > event.start >= 0
    ]
    if not cues:
        raise invalid_input(f"no subtitle cues found in the {detected} document")
    cues.sort(key=lambda cue: (cue.start, cue.end))
    return cues
