"""Offline English speech-to-text with PocketSphinx 5 and its bundled en-us model, and the
PCM decoding every local speech engine shares (:class:`PcmStream`, :func:`read_pcm`).

PocketSphinx is no longer a transcription provider (Whisper is the offline one,
:mod:`mediatasks.providers.vendors.whisper_provider`): :func:`transcribe` stays as the
baseline ``make bench-media`` measures Whisper against, and the decoder does the forced
alignment of :mod:`mediatasks.subtitle.align`.

Any audio or video input is decoded by ffmpeg (``imageio_ffmpeg``'s binary, started by
:mod:`mediatasks.media.processes`) to 16 kHz mono signed 16-bit PCM. The PCM is cut into
speech regions by PocketSphinx's voice-activity endpointer and each region is decoded as
one utterance, so memory stays flat on long inputs and word times come straight from
``seg()`` (10 ms frames) offset by the region's start.

Decoding is CPU-bound and runs in worker threads, one chunk of audio at a time, so
progress is reported and cancellation honoured between chunks: on cancellation ffmpeg is
killed and the decoding thread stops within one 30 ms frame.

pocketsphinx and imageio_ffmpeg are imported lazily, so importing this module (to check a
request's language at submit, say) loads neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc

from mediatasks.core.errors import MediaTasksError, invalid_input, unsupported_media
from mediatasks.media.ffmpeg import input_args, probe
from mediatasks.media.processes import ChildProcess, spawn
from mediatasks.media.transcript import Transcript, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2  # mono s16le
FRAME_SECONDS = 0.01  # PocketSphinx frames are 10 ms
SUPPORTED_LANGUAGES = ("en",)
_ENGLISH_NAMES = {"en", "en-us", "en_us", "en-gb", "en_gb", "eng", "english"}

# One chunk of PCM handed to a decoding thread: short enough that progress and
# cancellation are checked often, long enough that thread hops cost nothing.
_CHUNK_BYTES = BYTES_PER_SECOND
# A speech region longer than this is decoded as several utterances (music or noise can
# keep the VAD "in speech" for minutes; one huge utterance costs memory and accuracy).
_MAX_UTTERANCE_SECONDS = 30.0
_KILL_WAIT_SECONDS = 1.5
_STDERR_KEEP_BYTES = 8192
_VARIANT = re.compile(r"\(\d+\)$")
_NON_WORDS = {"<s>", "</s>", "<sil>"}
_DURATION_LINE = re.compile(rb"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")

ProgressCallback = Callable[[float], Awaitable[None] | None]


def check_language(language: str | None) -> str:
    """The language code to use, or ``INVALID_INPUT`` naming what offline decoding supports."""
    if language is None or not language.strip():
        return "en"
    if language.strip().lower() in _ENGLISH_NAMES:
        return "en"
    raise invalid_input(
        f"offline transcription (PocketSphinx) supports only English; got language "
        f"{language!r}. Supported: {', '.join(SUPPORTED_LANGUAGES)}",
        supported=",".join(SUPPORTED_LANGUAGES),
    )


def check_input_file(path: str | Path) -> Path:
    """The resolved path of a readable, non-empty regular file."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise invalid_input(f"input file not found: {resolved.name}")
    if resolved.stat().st_size == 0:
        raise unsupported_media(f"input file {resolved.name} is empty")
    return resolved


async def check_audio_media(path: Path) -> None:
    """Refuse truncated or corrupt containers before decoding: ffmpeg would decode what a
    cut-off file still holds and the job would "succeed" with a partial transcript."""
    info = await asyncio.to_thread(probe, path)
    if not info.has_audio:
        raise unsupported_media(f"{path.name} has no audio stream")


def deadline_exceeded(what: str, timeout: float) -> MediaTasksError:
    """A local job step ran past its time budget (not retried: it would run as long again)."""
    return MediaTasksError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "PROCESSING_TIMEOUT",
        f"{what} did not finish within {timeout:g} s",
    )


async def transcribe(
    path: str | Path,
    *,
    timeout: float,
    on_progress: ProgressCallback | None = None,
    language: str | None = "en",
) -> Transcript:
    """Transcribe the speech in an audio or video file, offline.

    ``on_progress`` receives a percentage (0-100, sync or async callable) after each
    second of audio when the input's duration is known, and 100 at the end. Raises
    ``INVALID_INPUT`` for a language other than English or a missing file,
    ``UNSUPPORTED_MEDIA`` for corrupt input or input without an audio stream, and
    ``PROCESSING_TIMEOUT`` when ``timeout`` seconds pass. Cancelling the calling task
    kills ffmpeg and stops decoding.
    """
    language = check_language(language)
    source = check_input_file(path)
    await check_audio_media(source)
    started = time.monotonic()
    recognizer: _Recognizer | None = None
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            recognizer = await asyncio.to_thread(_Recognizer)
            last_percent = -1.0
            async with PcmStream(source) as pcm:
                async for chunk in pcm:
                    await asyncio.to_thread(recognizer.feed, chunk)
                    if on_progress is not None and pcm.duration:
                        percent = min(99.0, 100.0 * recognizer.seconds / pcm.duration)
                        if percent - last_percent >= 1.0:
                            last_percent = percent
                            await report_progress(on_progress, round(percent, 1))
            words = await asyncio.to_thread(recognizer.finish)
    except TimeoutError:
        if not deadline.expired():
            raise  # someone else's timeout (a progress callback's, say): not ours to rename
        raise deadline_exceeded(f"transcription of {source.name}", timeout) from None
    finally:
        if recognizer is not None:
            recognizer.cancel()  # no-op when finished; stops a thread left mid-chunk
    duration = recognizer.seconds
    if on_progress is not None:
        await report_progress(on_progress, 100.0)
    elapsed = time.monotonic() - started
    log.info(
        "transcribed %s: %.2f s of audio, %d words in %.2f s (real-time factor %.3f)",
        source.name,
        duration,
        len(words),
        elapsed,
        elapsed / duration if duration else 0.0,
    )
    return Transcript(text=" ".join(w.text for w in words), words=words, language=language, duration=duration)


async def report_progress(callback: ProgressCallback, percent: float) -> None:
    """Call a progress callback that may be a plain function or a coroutine function."""
    result = callback(percent)
    if inspect.isawaitable(result):
        await result


async def read_pcm(path: str | Path, *, max_seconds: float | None = None) -> bytes:
    """The whole input as 16 kHz mono s16le PCM (callers bound it with a timeout).

    ``max_seconds`` refuses longer inputs with ``UNSUPPORTED_MEDIA`` instead of holding
    them in memory (one hour is 115 MB).
    """
    source = check_input_file(path)
    buffer = bytearray()
    async with PcmStream(source) as pcm:
        async for chunk in pcm:
            buffer += chunk
            if max_seconds is not None and len(buffer) > max_seconds * BYTES_PER_SECOND:
                raise unsupported_media(f"{source.name} is longer than the {max_seconds:g} s this operation accepts")
    return bytes(buffer)


class PcmStream:
    """ffmpeg decoding a file to 16 kHz mono s16le, read as an async iterator of chunks.

    Use as ``async with PcmStream(path) as pcm: async for chunk in pcm``. Leaving the
    block in any way (end, error, cancellation) kills ffmpeg if it still runs. At the end
    of the stream a failed ffmpeg, or one that produced no audio, raises
    ``UNSUPPORTED_MEDIA`` with the reason ffmpeg gave. ``duration`` is the input's
    duration in seconds as ffmpeg reported it (None when unknown).
    """

    def __init__(self, path: Path, *, chunk_bytes: int = _CHUNK_BYTES) -> None:
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.duration: float | None = None
        self.bytes_read = 0
        self._process: ChildProcess | None = None
        self._stderr_tail: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PcmStream:
        import imageio_ffmpeg  # lazy: imageio-ffmpeg comes with the optional `media` extra

        command = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "info",
            # Local files and media formats only: a playlist must not open other files or URLs.
            *input_args(self.path),
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            "pipe:1",
        ]
        self._process = await spawn(command)
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while True:
            try:
                chunk = await stdout.readexactly(self.chunk_bytes)
            except asyncio.IncompleteReadError as end:
                chunk = end.partial[: len(end.partial) - len(end.partial) % 2]
                if chunk:
                    self.bytes_read += len(chunk)
                    yield chunk
                break
            self.bytes_read += len(chunk)
            yield chunk
        await self._finish()

    async def _finish(self) -> None:
        assert self._process is not None
        try:
            code = await asyncio.wait_for(self._process.wait(), _KILL_WAIT_SECONDS * 4)
        except TimeoutError:
            raise unsupported_media(f"ffmpeg did not exit after decoding {self.path.name}") from None
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), _KILL_WAIT_SECONDS)
        if code != 0:
            raise unsupported_media(f"cannot decode audio from {self.path.name}: {self._ffmpeg_reason()}")
        if self.bytes_read == 0:
            raise unsupported_media(f"{self.path.name} contains no decodable audio")

    async def close(self) -> None:
        """Kill ffmpeg if it still runs, drain its pipes and reap it (bounded waits)."""
        process = self._process
        if process is None:
            return
        process.kill()
        # The pipes are read to EOF (a killed ffmpeg closes them at once), then closed.
        if process.stdout is not None:
            with contextlib.suppress(TimeoutError, OSError, ValueError):
                while await asyncio.wait_for(process.stdout.read(1 << 16), _KILL_WAIT_SECONDS):
                    pass
        if self._stderr_task is not None and not self._stderr_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._stderr_task), _KILL_WAIT_SECONDS)
            except TimeoutError:
                self._stderr_task.cancel()
        process.close()
        try:
            await asyncio.wait_for(process.wait(), _KILL_WAIT_SECONDS)
        except TimeoutError:
            log.warning("ffmpeg pid %s was not reaped after SIGKILL", process.pid)

    async def _drain_stderr(self) -> None:
        # ffmpeg must never block on a full stderr pipe, so it is read continuously and
        # only the tail is kept for error messages.
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            if self.duration is None and (match := _DURATION_LINE.search(line)):
                hours, minutes, seconds = match.groups()
                self.duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds) or None
            self._stderr_tail.append(line)
            self._stderr_size += len(line)
            while self._stderr_size > _STDERR_KEEP_BYTES and len(self._stderr_tail) > 1:
                self._stderr_size -= len(self._stderr_tail.popleft())

    def _ffmpeg_reason(self) -> str:
        text = b"".join(self._stderr_tail).decode("utf-8", "replace")
        if "matches no streams" in text:
            return "the input has no audio stream"
        if "moov atom not found" in text:
            return "the MP4/MOV file is truncated or incomplete (moov atom not found)"
        if "Invalid data found when processing input" in text:
            return "not a recognizable audio or video file (corrupt or unsupported format)"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "rror" in ln or "nvalid" in ln] or lines
        return errors[-1][:300] if errors else "ffmpeg failed without a message"


class _Recognizer:
    """PocketSphinx decoding fed with PCM chunks; all methods run in worker threads.

    Only one thread uses an instance at a time (the caller awaits each call), but
    :meth:`cancel` may be called from the event loop while a chunk is being decoded.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder, Endpointer  # lazy: loads a native library

        self._decoder = Decoder(loglevel="FATAL")
        self._endpointer = Endpointer()
        self._frame_bytes = self._endpointer.frame_bytes
        self._pending = bytearray()
        self._cancelled = threading.Event()
        self._in_utterance = False
        self._utterance_start = 0.0  # seconds, input time of the utterance's first sample
        self._utterance_bytes = 0
        self._bytes_in = 0
        self.words: list[Word] = []

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds."""
        return self._bytes_in / BYTES_PER_SECOND

    def cancel(self) -> None:
        self._cancelled.set()

    def feed(self, chunk: bytes) -> None:
        """Decode one chunk of PCM (any length); returns early once cancelled."""
        self._bytes_in += len(chunk)
        self._pending += chunk
        frame_bytes = self._frame_bytes
        offset = 0
        while len(self._pending) - offset >= frame_bytes:
            if self._cancelled.is_set():
                return
            frame = bytes(self._pending[offset : offset + frame_bytes])
            offset += frame_bytes
            self._on_speech(self._endpointer.process(frame))
        del self._pending[:offset]

    def finish(self) -> list[Word]:
        """Flush the last partial frame and utterance; the recognized words, in order."""
        if not self._cancelled.is_set():
            if self._endpointer.in_speech:
                # end_stream rejects an empty buffer; one silent sample changes nothing.
                tail = bytes(self._pending) or bytes(2)
                self._on_speech(self._endpointer.end_stream(tail))
            self._pending.clear()
            if self._in_utterance:
                self._end_utterance()
        return self.words

    def _on_speech(self, speech: bytes | None) -> None:
        if speech is None:
            return
        if not self._in_utterance:
            self._start_utterance(self._endpointer.speech_start)
        elif self._utterance_bytes >= _MAX_UTTERANCE_SECONDS * BYTES_PER_SECOND:
            resume_at = self._utterance_start + self._utterance_bytes / BYTES_PER_SECOND
            self._end_utterance()
            self._start_utterance(resume_at)
        self._decoder.process_raw(speech)
        self._utterance_bytes += len(speech)
        if not self._endpointer.in_speech:
            self._end_utterance()

    def _start_utterance(self, at_seconds: float) -> None:
        self._decoder.start_utt()
        self._in_utterance = True
        self._utterance_start = at_seconds
        self._utterance_bytes = 0

    def _end_utterance(self) -> None:
        self._decoder.end_utt()
        self._in_utterance = False
        offset = self._utterance_start
        for segment in self._decoder.seg() or ():
            text = segment.word
            if text in _NON_WORDS or text.startswith(("[", "+")):
                continue  # silence, sentence markers and fillers like [NOISE]
            self.words.append(
                Word(
                    text=_VARIANT.sub("", text),
                    start=round(offset + segment.start_frame * FRAME_SECONDS, 3),
                    end=round(offset + (segment.end_frame + 1) * FRAME_SECONDS, 3),
                    confidence=round(min(1.0, max(0.0, float(segment.prob))), 4),
                )
            )
