"""Forced alignment: move subtitle cues (or plain text) onto the speech in a media file.

PocketSphinx aligns a known word sequence to audio (``Decoder.set_align_text``), which
is far more reliable than recognizing the words: the result follows the speech even
where free recognition would misread it. The strategy degrades gracefully:

1. The whole text is aligned to the whole audio in one pass (for timed cues longer than
   ``_GLOBAL_PASS_SECONDS`` of audio, to blocks of about a minute placed by the cues'
   original times).
2. A pass that fails, or in which some cue matches the audio much worse than the
   best cues (text that was never spoken, pushing its neighbours off), is split at the
   widest original gap and each half is aligned again inside its original time window.
3. A single cue that still cannot be matched keeps its original timing and says why
   (``aligned=False``, ``note``). Once every cue has been tried, each is checked again
   against the scores of all the others.

Words missing from the pronunciation dictionary are aligned as generic speech
(``[SPEECH]``); numbers up to 999,999 are spelled out. :func:`paragraphs` then groups
aligned cues into paragraphs at pauses (``start``, ``end``, ``text`` and the cues), the
shape existing clients of aligned transcripts read.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.media.cues import Cue, cues_from_text, parse
from mediatasks.media.sphinx import (
    BYTES_PER_SECOND,
    FRAME_SECONDS,
    ProgressCallback,
    check_audio_media,
    check_input_file,
    deadline_exceeded,
    read_pcm,
    report_progress,
)
from mediatasks.media.transcript import Word

log = logging.getLogger(__name__)

_GLOBAL_PASS_SECONDS = 900.0  # longer audio with timed cues is aligned block by block
_BLOCK_SECONDS = 60.0
_WINDOW_PAD_SECONDS = 1.0  # how far a cue's speech may sit outside its original times
_FEED_BYTES = 5 * BYTES_PER_SECOND  # cancellation is checked between these pieces
_MIN_WINDOW_BYTES = BYTES_PER_SECOND // 10
# A cue whose mean acoustic log-score per frame is this many times worse than the upper
# quartile of the first pass's cues did not match its audio (measured: matching flite
# speech scores -0.8e4 to -1.5e4 per frame in log base 1.0001, text that was never
# spoken -4e4 and below, and its neighbours pushed off their speech as badly).
_SUSPECT_FACTOR = 2.5
_UNDERFLOW_SCORE = -1e6
_VARIANT = re.compile(r"\(\d+\)$")
_NON_WORDS = {"<s>", "</s>", "<sil>"}
_MARKUP = re.compile(r"<[^>]*>|\{[^}]*\}")
_EDGE_PUNCTUATION = "\"'“”‘’«»()[]{}<>.,;:!?¡¿…—–-*_~`|#♪♫"
_INNER_SEPARATORS = re.compile(r"[-/–—_.]+")
_GENERIC_SPEECH = "[SPEECH]"  # the model's filler for speech it has no word for


@dataclass
class AlignedCue(Cue):
    """A cue after alignment; ``aligned`` False means its times are the original ones.

    ``note`` says why a cue was not aligned (or was aligned with a poor match);
    ``words`` carries the aligned words; ``score`` is the mean acoustic log-score per
    frame (diagnostics: closer to zero matches better).
    """

    aligned: bool = False
    note: str = ""
    words: list[Word] = field(default_factory=list)
    score: float | None = None

    def to_dict(self, *, with_words: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "aligned": self.aligned,
        }
        if self.note:
            data["note"] = self.note
        if with_words:
            data["words"] = [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words]
        return data


@dataclass
class Paragraph:
    """Consecutive cues spoken without a long pause."""

    start: float
    end: float
    text: str
    cues: list[Cue] = field(default_factory=list)

    @property
    def aligned(self) -> bool:
        """Whether every cue in the paragraph follows the speech."""
        return all(getattr(cue, "aligned", True) for cue in self.cues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "aligned": self.aligned,
            "cue_count": len(self.cues),
        }


def load_cues(cues_or_text: str | Sequence[Cue]) -> tuple[list[Cue], bool]:
    """Cues to align and whether their times are real (SRT/VTT/ASS or Cue list) or estimates.

    A string is read as a subtitle document when it is one, else as plain text split
    into cues by :func:`cues_from_text`.
    """
    if isinstance(cues_or_text, str):
        try:
            return parse(cues_or_text), True
        except MediaTasksError:
            return cues_from_text(cues_or_text), False
    cues = [Cue(c.start, c.end, c.text) for c in cues_or_text if c.text and c.text.strip()]
    if not cues:
        raise invalid_input("no cues with text to align")
    for cue in cues:
        if not 0 <= cue.start < cue.end:
            raise invalid_input(f"cue {cue.text!r} has invalid timing {cue.start}..{cue.end}")
    cues.sort(key=lambda c: (c.start, c.end))
    return cues, True


async def align_text_to_audio(
    cues_or_text: str | Sequence[Cue],
    audio_path: str | Path,
    *,
    timeout: float,
    on_progress: ProgressCallback | None = None,
    max_audio_seconds: float = 4 * 3600,
) -> list[AlignedCue]:
    """Align subtitle cues, a subtitle document or plain text to the speech in a file.

    Returns one :class:`AlignedCue` per input cue (plain text is first split into cues),
    in order, whose times follow the speech; cues that could not be aligned keep their
    original times with ``aligned=False`` and a ``note``. Only English speech is
    supported. Raises ``INVALID_INPUT`` for empty text, ``UNSUPPORTED_MEDIA`` for
    undecodable media or audio over ``max_audio_seconds``, ``PROCESSING_TIMEOUT`` after
    ``timeout`` seconds; cancelling the caller stops ffmpeg and the aligner.
    """
    cues, timed = load_cues(cues_or_text)
    source = check_input_file(audio_path)
    await check_audio_media(source)
    aligner: _Aligner | None = None
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            pcm = await read_pcm(source, max_seconds=max_audio_seconds)
            aligner = await asyncio.to_thread(_Aligner, cues, timed, pcm)
            work = asyncio.ensure_future(asyncio.to_thread(aligner.run))
            try:
                while True:
                    done, _ = await asyncio.wait({work}, timeout=1.0)
                    if done:
                        break
                    if on_progress is not None:
                        await report_progress(on_progress, aligner.percent)
            finally:
                if not work.done():
                    aligner.cancel()
                    work.cancel()
            result = work.result()
    except TimeoutError:
        if not deadline.expired():
            raise  # someone else's timeout (a progress callback's, say): not ours to rename
        raise deadline_exceeded(f"alignment to {source.name}", timeout) from None
    finally:
        if aligner is not None:
            aligner.cancel()
    if on_progress is not None:
        await report_progress(on_progress, 100.0)
    failed = sum(1 for cue in result if not cue.aligned)
    log.info("aligned %d of %d cues to %s", len(result) - failed, len(result), source.name)
    return result


def paragraphs(cues: Sequence[Cue], *, max_gap: float = 1.0, max_chars: int = 1000) -> list[Paragraph]:
    """Group cues into paragraphs: a pause longer than ``max_gap`` seconds starts a new one.

    A paragraph also closes before it would exceed ``max_chars`` characters. Line breaks
    inside cues become spaces.
    """
    if max_gap < 0 or max_chars < 1:
        raise invalid_input("max_gap must be >= 0 and max_chars >= 1")
    result: list[Paragraph] = []
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        text = " ".join(cue.text.split())
        if not text:
            continue
        current = result[-1] if result else None
        if (
            current is not None
            and cue.start - current.end <= max_gap
            and len(current.text) + 1 + len(text) <= max_chars
        ):
            current.text = f"{current.text} {text}"
            current.end = max(current.end, cue.end)
            current.cues.append(cue)
        else:
            result.append(Paragraph(cue.start, cue.end, text, [cue]))
    return result


def alignment_result(cues: Sequence[AlignedCue], *, max_gap: float = 1.0, with_words: bool = False) -> dict[str, Any]:
    """The JSON-ready result of an alignment job: paragraphs, cues and what failed."""
    return {
        "paragraphs": [p.to_dict() for p in paragraphs(cues, max_gap=max_gap)],
        "cues": [c.to_dict(with_words=with_words) for c in cues],
        "aligned_cues": sum(1 for c in cues if c.aligned),
        "unaligned_cues": sum(1 for c in cues if not c.aligned),
    }


class _Cancelled(Exception):
    pass


@dataclass
class _Token:
    word: str  # dictionary word, or [SPEECH]
    display: str  # the text it came from


class _Aligner:
    """Runs in a worker thread; :meth:`cancel` may be called from any thread."""

    def __init__(self, cues: list[Cue], timed: bool, pcm: bytes) -> None:
        from pocketsphinx import Decoder  # lazy: loads a native library

        self._decoder = Decoder(loglevel="FATAL", lm=None)
        self._logmath = self._decoder.get_logmath()
        self._cues = cues
        self._timed = timed
        self._pcm = pcm
        self._duration = len(pcm) / BYTES_PER_SECOND
        self._tokens = [self._tokenize(cue.text) for cue in cues]
        self._result: list[AlignedCue | None] = [None] * len(cues)
        self._reference: float | None = None
        self._cancelled = threading.Event()
        self._bytes_done = 0

    @property
    def percent(self) -> float:
        """Rough progress: audio decoded so far against the audio length (capped at 99)."""
        return round(min(99.0, 100.0 * self._bytes_done / max(len(self._pcm), 1)), 1)

    def cancel(self) -> None:
        self._cancelled.set()

    def run(self) -> list[AlignedCue]:
        n = len(self._cues)
        if self._timed and self._duration > _GLOBAL_PASS_SECONDS:
            for i, j in self._blocks():
                self._align_span(i, j, self._window(i, j))
        else:
            self._align_span(0, n, (0.0, self._duration))
        self._recheck()
        return self._finalize()

    def _recheck(self) -> None:
        """Check every aligned cue against the scores of all of them.

        Passes that failed as a whole set no reference, so a cue aligned alone in a
        later, smaller pass was never compared with anything. Now that every cue has
        been tried, a cue that matches much worse than the best ones is aligned once more
        alone in its original window (its neighbours may have pushed it) and kept with
        its original times if it still does not match.
        """
        scores = sorted(
            (c.score for c in self._result if c is not None and c.aligned and c.score is not None),
            reverse=True,
        )
        if len(scores) < 2:
            return
        if self._reference is None:
            self._reference = scores[len(scores) // 4]
        for k, cue in enumerate(self._result):
            if cue is None or not cue.aligned or not self._is_suspect(cue):
                continue
            if self._timed:
                self._align_span(k, k + 1, self._window(k, k + 1))
            else:
                cue.aligned = False
                cue.note = "poor acoustic match: times are approximate"

    # --- text ---------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[_Token]:
        tokens: list[_Token] = []
        for raw in _MARKUP.sub(" ", text).split():
            word = raw.lower().replace("’", "'").replace("‘", "'").strip(_EDGE_PUNCTUATION)
            if word:
                tokens.extend(_Token(w, raw) for w in self._speakable(word))
        return tokens

    def _speakable(self, word: str) -> list[str]:
        if self._decoder.lookup_word(word) is not None:
            return [word]
        if word.isdigit() and len(word) <= 6:
            return _number_words(int(word)).split()
        parts = [p for p in _INNER_SEPARATORS.split(word) if p]
        if len(parts) > 1:
            return [w for part in parts for w in self._speakable(part)]
        if word.endswith("'s") and self._decoder.lookup_word(word[:-2]) is not None:
            return [word[:-2]]
        return [_GENERIC_SPEECH]

    # --- spans and windows --------------------------------------------------------------

    def _blocks(self) -> list[tuple[int, int]]:
        blocks: list[tuple[int, int]] = []
        first = 0
        for k in range(1, len(self._cues) + 1):
            if k == len(self._cues) or self._cues[k].end - self._cues[first].start > _BLOCK_SECONDS:
                blocks.append((first, k))
                first = k
        return blocks

    def _window(self, i: int, j: int) -> tuple[float, float]:
        """Where cues[i:j] may be spoken: their original times, padded up to half the gap."""
        cues = self._cues
        before = _WINDOW_PAD_SECONDS
        if i > 0:
            before = min(before, max(0.0, (cues[i].start - cues[i - 1].end) / 2))
        after = _WINDOW_PAD_SECONDS
        if j < len(cues):
            after = min(after, max(0.0, (cues[j].start - cues[j - 1].end) / 2))
        return max(0.0, cues[i].start - before), min(self._duration, cues[j - 1].end + after)

    def _split_point(self, i: int, j: int) -> int:
        """The cue index that starts the second half: after the widest original gap.

        Only the middle half of the span is considered, so halves shrink geometrically
        and the recursion stays shallow whatever the timing looks like.
        """
        quarter = (j - i) // 4
        middle = (i + j) / 2
        return max(
            range(i + 1 + quarter, j - quarter),
            key=lambda k: (self._cues[k].start - self._cues[k - 1].end, -abs(k - middle)),
        )

    # --- alignment ----------------------------------------------------------------------

    def _align_span(self, i: int, j: int, window: tuple[float, float]) -> None:
        speakable = [k for k in range(i, j) if self._tokens[k]]
        for k in range(i, j):
            if not self._tokens[k]:
                self._keep(k, "no speakable words to align")
        if not speakable:
            return
        tokens = [t for k in speakable for t in self._tokens[k]]
        spans = self._force_align(tokens, window)
        splittable = self._timed and len(speakable) > 1
        if spans is None:
            if splittable:
                self._split(i, j)
            else:
                for k in speakable:
                    self._keep(k, "the speech could not be matched to this text")
            return

        scored: dict[int, AlignedCue] = {}
        position = 0
        for k in speakable:
            words: list[Word] = []
            known: list[Word] = []  # dictionary words: [SPEECH] placements are guesses
            score_sum = 0.0
            frames = 0
            for token in self._tokens[k]:
                start, end, log_score, n_frames = spans[position]
                position += 1
                if token.word == _GENERIC_SPEECH:
                    words.append(Word(token.display, round(start, 3), round(end, 3), 0.0))
                    continue
                words.append(Word(token.word, round(start, 3), round(end, 3), 1.0))
                known.append(words[-1])
                score_sum += log_score
                frames += n_frames
            timed_words = known or words
            score = score_sum / frames if frames else None
            scored[k] = AlignedCue(
                timed_words[0].start,
                timed_words[-1].end,
                self._cues[k].text,
                True,
                "",
                words,
                score,
            )

        scores = sorted((c.score for c in scored.values() if c.score is not None), reverse=True)
        if self._reference is None and len(scores) >= 2:
            # The upper quartile: robust even when most cues of a short file do not match.
            self._reference = scores[len(scores) // 4]
        suspects = [k for k, cue in scored.items() if self._is_suspect(cue)]
        if suspects and splittable:
            self._split(i, j)
            return
        for k, cue in scored.items():
            if k in suspects:
                if self._timed:
                    self._keep(k, "the speech does not match this text (poor acoustic match)")
                    continue
                cue.aligned = False
                cue.note = "poor acoustic match: times are approximate"
            self._result[k] = cue

    def _split(self, i: int, j: int) -> None:
        k = self._split_point(i, j)
        self._align_span(i, k, self._window(i, k))
        self._align_span(k, j, self._window(k, j))

    def _is_suspect(self, cue: AlignedCue) -> bool:
        if self._reference is None or cue.score is None:
            return False
        return cue.score < _SUSPECT_FACTOR * self._reference

    def _force_align(
        self, tokens: list[_Token], window: tuple[float, float]
    ) -> list[tuple[float, float, float, int]] | None:
        """(start, end, acoustic log-score, frames) per token, or None when it fails."""
        first = int(window[0] * BYTES_PER_SECOND) & ~1
        last = min(int(window[1] * BYTES_PER_SECOND) & ~1, len(self._pcm))
        if last - first < _MIN_WINDOW_BYTES:
            return None
        try:
            self._decoder.set_align_text(" ".join(t.word for t in tokens))
        except RuntimeError as exc:
            log.warning("alignment setup failed: %s", exc)
            return None
        self._decoder.start_utt()
        for offset in range(first, last, _FEED_BYTES):
            if self._cancelled.is_set():
                raise _Cancelled
            piece = self._pcm[offset : min(offset + _FEED_BYTES, last)]
            self._decoder.process_raw(piece)
            self._bytes_done += len(piece)
        self._decoder.end_utt()
        segments = self._decoder.seg()
        if segments is None:
            return None
        base = first / BYTES_PER_SECOND
        spans: list[tuple[float, float, float, int]] = []
        for segment in segments:
            name = _VARIANT.sub("", segment.word)
            if name in _NON_WORDS or len(spans) == len(tokens):
                continue
            if name != tokens[len(spans)].word:
                continue  # a filler the aligner inserted on its own
            n_frames = segment.end_frame - segment.start_frame + 1
            ascore = float(segment.ascore)
            log_score = self._logmath.log(ascore) if ascore > 0 else _UNDERFLOW_SCORE * n_frames
            spans.append(
                (
                    base + segment.start_frame * FRAME_SECONDS,
                    base + (segment.end_frame + 1) * FRAME_SECONDS,
                    float(log_score),
                    n_frames,
                )
            )
        return spans if len(spans) == len(tokens) else None

    # --- result -------------------------------------------------------------------------

    def _keep(self, k: int, note: str) -> None:
        cue = self._cues[k]
        self._result[k] = AlignedCue(cue.start, cue.end, cue.text, False, note)

    def _finalize(self) -> list[AlignedCue]:
        cues = [c if c is not None else self._fallback(k) for k, c in enumerate(self._result)]
        # Kept cues must not overlap aligned neighbours: clip them into the free time (or,
        # when there is none, just after the previous cue so the order still holds).
        for k, cue in enumerate(cues):
            if cue.aligned:
                continue
            low = cues[k - 1].end if k > 0 else 0.0
            high = next((c.start for c in cues[k + 1 :] if c.aligned), float("inf"))
            start = max(cue.start, low)
            if high - low >= 0.05:
                start = min(start, high - 0.05)
                cue.end = min(max(cue.end, start + 0.05), high)
            else:
                cue.end = max(cue.end, start + 0.05)
            cue.start = start
        self._fit_tail_into_media(cues)
        return cues

    def _fit_tail_into_media(self, cues: list[AlignedCue]) -> None:
        """Unaligned cues after the last aligned one keep reading-speed times, which may run
        past the end of the audio: squeeze them, in proportion, into the time that is left."""
        if not cues or cues[-1].end <= self._duration:
            return
        first = len(cues)
        while first > 0 and not cues[first - 1].aligned:
            first -= 1
        if first == len(cues):
            return
        base = cues[first - 1].end if first > 0 else 0.0
        old_start, old_end = cues[first].start, cues[-1].end
        room = max(self._duration - base, 0.0)
        scale = room / (old_end - old_start) if old_end > old_start else 0.0
        for cue in cues[first:]:
            cue.start = min(base + (cue.start - old_start) * scale, self._duration)
            cue.end = min(base + (cue.end - old_start) * scale, self._duration)

    def _fallback(self, k: int) -> AlignedCue:
        cue = self._cues[k]
        return AlignedCue(cue.start, cue.end, cue.text, False, "not aligned")


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 (as the dictionary spells them)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _number_words(rest))
    rest = n % 1000
    return _number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + _number_words(rest))
