"""OpenAI through the official ``openai`` SDK (``AsyncOpenAI``).

Image generation (GPT Image; legacy DALL-E parameters when such a model is named),
transcription (Whisper ``verbose_json`` with word timings; ``gpt-4o-transcribe-diarize``
when speaker labels are wanted), chat for subtitle translation and for scoring a video from
stills and its transcript, and video generation (Sora, ``client.videos``), from text or from
a starting image (``input_reference``, fitted to the video's size as Sora requires).

The SDK's own retries are off (``max_retries=0``): the worker retries transient failures
with backoff and the registry fails over to another vendor, and hidden retries inside one
call would hide failures from the circuit breaker and stretch the deadline. The client is
async, so cancelling the calling task closes the HTTP request at once.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.settings import Settings
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    CostModel,
    Offering,
    Provider,
    ProviderSpec,
    normalize_language,
)
from mediatasks.providers.contracts import (
    SCORE_SCHEMA,
    GeneratedImage,
    GeneratedImages,
    GeneratedVideo,
    ImageGenerationRequest,
    Transcript,
    TranscriptionRequest,
    TranscriptionResult,
    TranslationRequest,
    TranslationResult,
    Utterance,
    VideoAnalysisRequest,
    VideoAnalysisResult,
    VideoGenerationRequest,
    Word,
)
from mediatasks.providers.vendors import errors
from mediatasks.providers.vendors._calls import guarded
from mediatasks.providers.vendors._media import (
    DOWNLOAD_CHUNK_BYTES,
    extract_jpeg_frames,
    video_destination,
    write_video,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

NAME = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
IMAGE_MODEL = "gpt-image-2"
TRANSCRIBE_MODEL = "whisper-1"
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
CHAT_MODEL = "gpt-5.4-mini"
VIDEO_MODEL = "sora-2"
SORA_SHUTDOWN = date(2026, 9, 24)  # the date the SDK's deprecation notice gives

# List prices in USD (per image, per audio minute, per 1M tokens, per video second).
IMAGE_PRICE = {"low": 0.011, "medium": 0.042, "high": 0.167, "auto": 0.042}
DALLE_PRICE = {"standard": 0.040, "hd": 0.080}
IMAGE_TOKEN_PRICE = {"text_input": 5.0, "image_input": 10.0, "output": 40.0}
TRANSCRIBE_PRICE_PER_MINUTE = {TRANSCRIBE_MODEL: 0.006, DIARIZE_MODEL: 0.006}
CHAT_TOKEN_PRICE = {"input": 0.25, "output": 2.0}
VIDEO_PRICE_PER_SECOND = {"sora-2": 0.10, "sora-2-pro": 0.30}

IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
# The image models the adapter drives, with what differs from GPT Image's capabilities:
# the other GPT Image models take the same parameters; DALL-E takes its legacy ones
# (square sizes only for dall-e-2, one image a call and wide/tall sizes for dall-e-3).
IMAGE_MODELS: dict[str, dict[str, Any]] = {
    "gpt-image-1": {},
    "gpt-image-1-mini": {},
    "gpt-image-1.5": {},
    "dall-e-2": {"sizes": ["256x256", "512x512", "1024x1024"], "output_formats": ["png"]},
    "dall-e-3": {"sizes": ["1024x1024", "1792x1024", "1024x1792"], "output_formats": ["png"], "max_images": 1},
}
# Transcription: whisper-1 times words (verbose_json) but does not separate speakers;
# the diarizing model does (the adapter picks it when speaker labels are asked for).
TRANSCRIBE_MODELS: dict[str, dict[str, Any]] = {
    "whisper-1": {"speaker_labels": False},
    "gpt-4o-transcribe-diarize": {"speaker_labels": True},
}
# Chat models the translation and scoring calls may pin (JSON-schema answers).
CHAT_MODELS: dict[str, dict[str, Any]] = {
    name: {}
    for name in ("gpt-5.4", "gpt-5.4-nano", "gpt-5", "gpt-5-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini")
}
VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
VIDEO_SECONDS = ("4", "8", "12")
POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "content_filter"})
TRANSLATION_BATCH = 100

# verbose_json names the language in English; the project uses ISO 639-1 codes.
WHISPER_LANGUAGES = {
    "english": "en", "spanish": "es", "portuguese": "pt", "french": "fr", "german": "de",
    "italian": "it", "dutch": "nl", "japanese": "ja", "chinese": "zh", "korean": "ko",
    "russian": "ru", "arabic": "ar", "hindi": "hi", "polish": "pl", "turkish": "tr",
    "swedish": "sv", "ukrainian": "uk", "czech": "cs", "greek": "el", "hebrew": "he",
    "indonesian": "id", "vietnamese": "vi", "thai": "th", "danish": "da", "finnish": "fi",
    "norwegian": "no", "romanian": "ro", "hungarian": "hu", "catalan": "ca",
}  # fmt: skip

SPEC = ProviderSpec(
    name=NAME,
    vendor="openai",
    required_settings=("openai_api_key",),
    optional_settings=("openai_base_url",),
    offerings=(
        Offering(
            IMAGE_GENERATION,
            IMAGE_MODEL,
            quality=0.92,
            speed=0.5,
            cost=CostModel(IMAGE_PRICE["medium"], "image"),
            capabilities={
                "sizes": list(IMAGE_SIZES),
                "output_formats": ["png", "jpeg", "webp"],
                "max_images": 10,
                "negative_prompt": False,
                "seed": False,
            },
            models=IMAGE_MODELS,
        ),
        Offering(
            AUDIO_TRANSCRIPTION,
            TRANSCRIBE_MODEL,
            quality=0.85,
            speed=0.75,
            cost=CostModel(TRANSCRIBE_PRICE_PER_MINUTE[TRANSCRIBE_MODEL], "audio_minute"),
            capabilities={
                "languages": "*",
                "speaker_labels": True,
                "word_timestamps": True,
                "max_file_bytes": 25 * 1024 * 1024,
                "formats": ["flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"],
            },
            models=TRANSCRIBE_MODELS,
        ),
        Offering(
            TRANSLATION,
            CHAT_MODEL,
            quality=0.9,
            speed=0.7,
            cost=CostModel(CHAT_TOKEN_PRICE["input"] / 1000, "1k_tokens"),
            capabilities={"languages": "*"},
            models=CHAT_MODELS,
        ),
        Offering(
            VIDEO_ANALYSIS,
            CHAT_MODEL,
            quality=0.75,
            speed=0.7,
            cost=CostModel(0.004, "video_minute"),
            capabilities={"video_input": False, "frames": True, "structured_score": True},
            models=CHAT_MODELS,
        ),
        Offering(
            VIDEO_GENERATION,
            VIDEO_MODEL,
            quality=0.85,
            speed=0.4,
            cost=CostModel(VIDEO_PRICE_PER_SECOND[VIDEO_MODEL], "video_second"),
            capabilities={"durations": list(VIDEO_SECONDS), "sizes": list(VIDEO_SIZES), "image_input": True},
            available_until=SORA_SHUTDOWN,
            models={"sora-2-pro": {}},
        ),
    ),
)


class OpenAIProvider(Provider):
    """OpenAI adapter. ``client`` may be injected (tests, shared pools)."""

    spec = SPEC

    def __init__(
        self,
        settings: Settings,
        *,
        client: AsyncOpenAI | None = None,
        poll_interval_seconds: float = 2.0,
    ) -> None:
        super().__init__(settings)
        self._client = client
        self.poll_interval_seconds = poll_interval_seconds

    @property
    def client(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = AsyncOpenAI(
                api_key=self.settings.require("openai_api_key"),
                # Always explicit: the SDK would otherwise read OPENAI_BASE_URL.
                base_url=self.settings.openai_base_url or DEFAULT_BASE_URL,
                timeout=self.settings.provider_timeout_seconds,
                max_retries=0,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _map(self, error: BaseException) -> MediaTasksError | None:
        return map_openai_error(error, self.settings.env_name("openai_api_key"))

    # -- image generation -------------------------------------------------------------------

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext | None = None) -> GeneratedImages:
        """Generate ``request.n`` images; GPT Image models always answer base64."""
        model = request.model or IMAGE_MODEL
        legacy = model.startswith("dall-e")
        prompt = request.prompt
        if request.negative_prompt:
            # No negative prompt parameter at OpenAI: say it in words.
            prompt = f"{prompt}\n\nAvoid: {request.negative_prompt}"
        params: dict[str, Any] = {"prompt": prompt, "model": model, "n": request.n}
        if request.size:
            params["size"] = request.size
        quality = (request.quality or "").lower()
        if legacy:
            params["response_format"] = "b64_json"
            params["quality"] = "hd" if quality in ("high", "hd") else "standard"
            if request.style in ("vivid", "natural"):
                params["style"] = request.style
        else:
            if quality in ("low", "medium", "high", "auto"):
                params["quality"] = quality
            params["output_format"] = request.output_format
        deadline = self.deadline(ctx)
        await _progress(ctx, 5.0, "generating")
        response = await guarded(
            NAME,
            deadline,
            self.client.images.generate(**params, timeout=deadline),
            self._map,
            ctx=ctx,
        )
        content_type = f"image/{response.output_format or request.output_format}".replace("jpg", "jpeg")
        images: list[GeneratedImage] = []
        revised: str | None = None
        for item in response.data or []:
            if not item.b64_json:
                raise errors.bad_response(NAME, "an image came back without b64_json data")
            images.append(GeneratedImage(base64.b64decode(item.b64_json), content_type))
            revised = revised or item.revised_prompt
        if not images:
            raise errors.bad_response(NAME, "no image in the answer")
        return GeneratedImages(
            images=images,
            provider=NAME,
            model=model,
            cost_usd=_image_cost(response, model, params.get("quality", "auto"), len(images)),
            revised_prompt=revised,
        )

    # -- transcription ----------------------------------------------------------------------

    async def transcribe(self, request: TranscriptionRequest, ctx: CallContext | None = None) -> TranscriptionResult:
        """Transcribe with word timings; speaker turns when ``speaker_labels`` is set."""
        path = Path(request.audio_path)
        if not path.is_file():
            raise invalid_input(f"audio file not found: {path.name}")
        diarize = request.speaker_labels
        model = request.model or (DIARIZE_MODEL if diarize else TRANSCRIBE_MODEL)
        params: dict[str, Any] = {"file": path, "model": model}
        if request.language:
            params["language"] = normalize_language(request.language)
        if diarize:
            params.update(response_format="diarized_json", chunking_strategy="auto")
        else:
            params.update(response_format="verbose_json", timestamp_granularities=["word", "segment"])
            if request.prompt:
                params["prompt"] = request.prompt
        deadline = self.deadline(ctx)
        await _progress(ctx, 5.0, "transcribing")
        response = await guarded(
            NAME,
            deadline,
            self.client.audio.transcriptions.create(**params, timeout=deadline),
            self._map,
            ctx=ctx,
        )
        if diarize:
            transcript, utterances = _from_diarized(response, request.language)
        else:
            transcript, utterances = _from_verbose(response, request.language), []
        price = TRANSCRIBE_PRICE_PER_MINUTE.get(model, TRANSCRIBE_PRICE_PER_MINUTE[TRANSCRIBE_MODEL])
        return TranscriptionResult(
            transcript=transcript,
            provider=NAME,
            model=model,
            cost_usd=round(transcript.duration / 60.0 * price, 6),
            utterances=utterances,
        )

    # -- chat: translation and video scoring ------------------------------------------------

    async def translate(self, request: TranslationRequest, ctx: CallContext | None = None) -> TranslationResult:
        """Translate texts in batches, each answer forced into a JSON list of equal length."""
        model = request.model or CHAT_MODEL
        texts = list(request.texts)
        out: list[str] = []
        cost = 0.0
        deadline = self.deadline(ctx)
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + deadline
        for start in range(0, len(texts), TRANSLATION_BATCH):
            batch = texts[start : start + TRANSLATION_BATCH]
            await _progress(ctx, 100.0 * start / max(1, len(texts)), "translating")
            payload = {
                "target_language": request.target_language,
                "source_language": request.source_language,
                "texts": batch,
            }
            answer, batch_cost = await self._chat_json(
                model,
                system=(
                    "Translate each string in `texts` into the language `target_language` "
                    "(an ISO 639-1 code). Keep order, count, line breaks and any markup. "
                    'Answer with JSON: {"translations": [...]}, one entry per input text.'
                ),
                user=[{"type": "text", "text": json.dumps(payload, ensure_ascii=False)}],
                schema_name="translations",
                schema={
                    "type": "object",
                    "properties": {"translations": {"type": "array", "items": {"type": "string"}}},
                    "required": ["translations"],
                    "additionalProperties": False,
                },
                seconds=max(0.001, ends_at - loop.time()),
                ctx=ctx,
            )
            translations = answer.get("translations")
            if not isinstance(translations, list) or len(translations) != len(batch):
                got = len(translations) if isinstance(translations, list) else "no list"
                raise errors.bad_response(NAME, f"asked for {len(batch)} translations, got {got}")
            out.extend(str(t) for t in translations)
            cost += batch_cost
        return TranslationResult(texts=out, provider=NAME, model=model, cost_usd=round(cost, 6))

    async def analyze_video(self, request: VideoAnalysisRequest, ctx: CallContext | None = None) -> VideoAnalysisResult:
        """Score a video from stills (extracted when none are given) and its transcript."""
        model = request.model or CHAT_MODEL
        frames = list(request.frames)
        if not frames:
            await _progress(ctx, 5.0, "extracting_frames")
            frames = await asyncio.to_thread(extract_jpeg_frames, request.video_path, 4)
        text = request.prompt
        if request.context:
            text += "\n\nVideo facts: " + json.dumps(request.context, ensure_ascii=False)
        if request.transcript:
            text += "\n\nTranscript of the audio:\n" + request.transcript
        content: list[ChatCompletionContentPartParam] = [{"type": "text", "text": text}]
        for frame in frames:
            data_url = "data:image/jpeg;base64," + base64.b64encode(frame).decode("ascii")
            content.append({"type": "image_url", "image_url": {"url": data_url, "detail": "low"}})
        await _progress(ctx, 20.0, "ai_analysis")
        score, cost = await self._chat_json(
            model,
            system="You are a meticulous video reviewer. Answer only with JSON.",
            user=content,
            schema_name="video_score",
            schema=SCORE_SCHEMA,
            seconds=self.deadline(ctx),
            ctx=ctx,
        )
        if not isinstance(score.get("score"), int | float):
            raise errors.bad_response(NAME, "the score JSON has no numeric score")
        return VideoAnalysisResult(score=score, provider=NAME, model=model, cost_usd=cost)

    async def _chat_json(
        self,
        model: str,
        *,
        system: str,
        user: list[ChatCompletionContentPartParam],
        schema_name: str,
        schema: dict[str, Any],
        seconds: float,
        ctx: CallContext | None,
    ) -> tuple[dict[str, Any], float]:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "strict": True, "schema": schema},
        }
        response = await guarded(
            NAME,
            seconds,
            self.client.chat.completions.create(
                model=model, messages=messages, response_format=response_format, timeout=seconds
            ),
            self._map,
            ctx=ctx,
        )
        if not response.choices:
            raise errors.bad_response(NAME, "no choice in the chat answer")
        choice = response.choices[0]
        if choice.finish_reason == "content_filter" or choice.message.refusal:
            reason = choice.message.refusal or "the answer was filtered"
            raise errors.content_policy(NAME, reason, vendor_code="content_filter")
        try:
            answer = json.loads(choice.message.content or "")
        except json.JSONDecodeError as error:
            raise errors.bad_response(NAME, f"chat answer is not JSON ({error})") from error
        if not isinstance(answer, dict):
            raise errors.bad_response(NAME, "chat answer is not a JSON object")
        usage = response.usage
        cost = 0.0
        if usage is not None:
            cost = (
                usage.prompt_tokens * CHAT_TOKEN_PRICE["input"] + usage.completion_tokens * CHAT_TOKEN_PRICE["output"]
            ) / 1_000_000
        return answer, round(cost, 6)

    # -- video generation (Sora) ----------------------------------------------------------

    async def generate_video(self, request: VideoGenerationRequest, ctx: CallContext | None = None) -> GeneratedVideo:
        """Create a Sora job, poll it to the end, download the MP4. Cancelling deletes the
        job at OpenAI; ``ctx.cancel_confirmed`` says whether OpenAI confirmed."""
        model = request.model or VIDEO_MODEL
        seconds = str(request.seconds)
        if seconds not in VIDEO_SECONDS:
            raise invalid_input(f"OpenAI videos last {', '.join(VIDEO_SECONDS)} seconds, not {seconds}")
        size = _snap_video_size(request.size)
        prompt = request.prompt
        if request.negative_prompt:
            prompt = f"{prompt}\n\nAvoid: {request.negative_prompt}"
        ctx = ctx or CallContext()
        job: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if request.image_path:
            extra["input_reference"] = await asyncio.to_thread(_reference_image, Path(request.image_path), size)

        async def cancel_at_vendor() -> bool:
            if not job.get("id"):
                return False
            deleted = await _sora(self.client.videos.delete, job["id"], timeout=5.0)
            return bool(deleted.deleted)

        async def run() -> GeneratedVideo:
            video = await _sora(
                self.client.videos.create,
                prompt=prompt,
                model=model,
                seconds=seconds,
                size=size,
                timeout=30.0,
                **extra,
            )
            job["id"] = ctx.vendor_job_id = video.id
            while video.status in ("queued", "in_progress"):
                await ctx.progress(float(video.progress or 0) * 0.95, "generating")
                await asyncio.sleep(self.poll_interval_seconds)
                video = await _sora(self.client.videos.retrieve, video.id, timeout=30.0)
            if video.status != "completed":
                raise _video_failure(video)
            await ctx.progress(96.0, "downloading")
            dest = video_destination(request.output_path)
            streamed = self.client.videos.with_streaming_response.download_content
            async with _sora(streamed, video.id, timeout=120.0) as content:
                await write_video(NAME, content.iter_bytes(DOWNLOAD_CHUNK_BYTES), dest)
            return GeneratedVideo(
                path=dest,
                content_type="video/mp4",
                seconds=float(video.seconds),
                size=str(video.size),
                provider=NAME,
                model=model,
                cost_usd=round(float(video.seconds) * VIDEO_PRICE_PER_SECOND.get(model, 0.10), 6),
                vendor_job_id=video.id,
            )

        return await guarded(
            NAME,
            self.deadline(ctx),
            run(),
            self._map,
            ctx=ctx,
            cancel_at_vendor=cancel_at_vendor,
        )


# --- helpers --------------------------------------------------------------------------------


def _sora(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Start a Sora call (its coroutine, or a streamed response's context manager) without
    the SDK's deprecation warning: the adapter knows (see the offering's
    ``available_until``) and the warning would repeat it on every poll.
    The warning is raised when the coroutine is created, so the filter spans no await."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The Sora API", category=DeprecationWarning)
        return method(*args, **kwargs)


async def _progress(ctx: CallContext | None, percent: float, stage: str) -> None:
    if ctx is not None:
        await ctx.progress(percent, stage)


def map_openai_error(error: BaseException, env_var: str) -> MediaTasksError | None:
    """The project error for an exception the ``openai`` SDK raised."""
    if isinstance(error, openai.APITimeoutError):
        return errors.timed_out(NAME)
    if isinstance(error, openai.APIConnectionError):
        return errors.unavailable(NAME, f"connection failed ({error})")
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        message = str(body.get("message") or error.message)
        return errors.from_http_status(
            NAME,
            error.status_code,
            message,
            env_var=env_var,
            vendor_code=error.code or (body.get("type") if isinstance(body.get("type"), str) else None),
            retry_after=errors.parse_retry_after(error.response.headers),
            policy_codes=POLICY_CODES,
        )
    return None


def _video_failure(video: Any) -> MediaTasksError:
    code = (video.error.code if video.error else "") or ""
    message = (video.error.message if video.error else "") or f"the video job ended {video.status}"
    if code.lower() in POLICY_CODES:
        return errors.content_policy(NAME, message, vendor_code=code)
    if code.lower() in ("invalid_request_error", "invalid_prompt", "bad_request"):
        return errors.rejected(NAME, message, vendor_code=code)
    return errors.unavailable(NAME, f"the video job failed: {message}", vendor_code=code or None)


def _image_cost(response: Any, model: str, quality: str, count: int) -> float:
    usage = getattr(response, "usage", None)
    if usage is not None and getattr(usage, "output_tokens", None):
        details = usage.input_tokens_details
        text_in = details.text_tokens if details else usage.input_tokens
        image_in = details.image_tokens if details else 0
        cost = (
            text_in * IMAGE_TOKEN_PRICE["text_input"]
            + image_in * IMAGE_TOKEN_PRICE["image_input"]
            + usage.output_tokens * IMAGE_TOKEN_PRICE["output"]
        ) / 1_000_000
        return round(cost, 6)
    if model.startswith("dall-e"):
        return round(DALLE_PRICE.get(quality, DALLE_PRICE["standard"]) * count, 6)
    return round(IMAGE_PRICE.get(quality, IMAGE_PRICE["auto"]) * count, 6)


def _reference_image(path: Path, size: str) -> tuple[str, bytes, str]:
    """The starting image as Sora takes it: a PNG of exactly the video's size (scaled to
    cover it, centre-cropped), as an upload tuple. Blocking; run it in a thread."""
    from PIL import Image, ImageOps  # lazy: Pillow comes with the optional `media` extra

    width, height = (int(v) for v in size.split("x"))
    try:
        with Image.open(path) as image:
            fitted = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (width, height))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise invalid_input(f"the starting image cannot be read: {error}", field="image_url") from error
    buffer = io.BytesIO()
    fitted.save(buffer, format="PNG")
    return ("reference.png", buffer.getvalue(), "image/png")


def _snap_video_size(size: str) -> str:
    if size in VIDEO_SIZES:
        return size
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise invalid_input(f"video size must be WIDTHxHEIGHT, not {size!r}") from None
    return "1280x720" if width >= height else "720x1280"


def _language(code: str | None, requested: str | None) -> str:
    if code:
        lowered = code.strip().lower()
        return WHISPER_LANGUAGES.get(lowered, normalize_language(lowered))
    return normalize_language(requested) if requested else ""


def _from_verbose(response: Any, requested: str | None) -> Transcript:
    # Whisper gives no per-word confidence; use the probability its segment's mean
    # log-probability implies, which is what the segment decoder was sure of.
    segments = list(response.segments or [])
    words: list[Word] = []
    for item in response.words or []:
        confidence = 1.0
        for segment in segments:
            if segment.start - 0.01 <= item.start <= segment.end + 0.01:
                confidence = round(min(1.0, math.exp(segment.avg_logprob)), 4)
                break
        words.append(
            Word(
                text=item.word.strip(),
                start=float(item.start),
                end=float(item.end),
                confidence=confidence,
            )
        )
    return Transcript(
        text=(response.text or "").strip(),
        words=words,
        language=_language(response.language, requested),
        duration=float(response.duration or (words[-1].end if words else 0.0)),
    )


def _from_diarized(response: Any, requested: str | None) -> tuple[Transcript, list[Utterance]]:
    # Diarized answers time segments, not words: spread each segment's time over its
    # words by length so word-level consumers (subtitles) still get usable times.
    words: list[Word] = []
    utterances: list[Utterance] = []
    for segment in response.segments:
        text = segment.text.strip()
        utterances.append(
            Utterance(
                speaker=segment.speaker,
                text=text,
                start=float(segment.start),
                end=float(segment.end),
            )
        )
        tokens = text.split()
        total = sum(len(t) for t in tokens) or 1
        at = float(segment.start)
        span = float(segment.end) - float(segment.start)
        for token in tokens:
            length = span * len(token) / total
            words.append(Word(text=token, start=round(at, 3), end=round(at + length, 3), confidence=1.0))
            at += length
    transcript = Transcript(
        text=(response.text or "").strip(),
        words=words,
        language=normalize_language(requested) if requested else "",
        duration=float(response.duration or 0.0),
    )
    return transcript, utterances
