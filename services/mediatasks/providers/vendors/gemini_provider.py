"""Google Gemini through the official ``google-generativeai`` SDK (REST transport).

Video analysis (upload the video with the File API, wait until it is ``ACTIVE``, then
``generateContent`` with a JSON schema so the answer is the structured score), subtitle
translation, and image generation (``generateContent`` with ``response_modalities``
TEXT+IMAGE, which the SDK's generation config accepts). Video generation uses Veo through
the Gemini API's documented HTTP endpoints (``predictLongRunning`` and the operation it
returns), which this SDK version has no method for.

The SDK keeps one process-wide configuration (``genai.configure``); the adapter builds
its own clients from the SDK's classes instead, so two configurations (a test's fake and
production, or two keys) never overwrite each other. The SDK's File API upload fetches
a discovery document from a fixed Google URL; :class:`_FileClient` fetches it from the
configured base URL, which is where a proxy or a fake serves it too.

The SDK's REST transport is blocking, so its calls run in worker threads with a
per-call timeout and no SDK retry. Cancelling the calling task returns at once and the
abandoned call ends at its timeout; the File API and ``generateContent`` have no cancel,
while a Veo operation is cancelled at Google (``cancel_confirmed`` reflects its answer).

This SDK is deprecated upstream (successor: ``google-genai``); it stays behind this one
adapter so that a swap touches nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any, cast

import httplib2
import httpx
import requests
from google.ai import generativelanguage as glm
from google.api_core import client_options as client_options_lib
from google.api_core import exceptions as google_exceptions
from google.api_core import gapic_v1
from google.generativeai import client as genai_client
from google.generativeai import protos
from googleapiclient import discovery
from googleapiclient import errors as googleapi_errors

from mediatasks.core.errors import MediaTasksError, invalid_input, unsupported_media
from mediatasks.core.settings import Settings
from mediatasks.providers.base import (
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    CostModel,
    Offering,
    Provider,
    ProviderSpec,
)
from mediatasks.providers.contracts import (
    SCORE_SCHEMA,
    GeneratedImage,
    GeneratedImages,
    GeneratedVideo,
    ImageGenerationRequest,
    TranslationRequest,
    TranslationResult,
    VideoAnalysisRequest,
    VideoAnalysisResult,
    VideoGenerationRequest,
)
from mediatasks.providers.vendors import errors
from mediatasks.providers.vendors._calls import guarded
from mediatasks.providers.vendors._media import (
    DOWNLOAD_CHUNK_BYTES,
    guess_mime,
    sniff_image_type,
    video_destination,
    write_video,
)

log = logging.getLogger(__name__)

NAME = "gemini"
DEFAULT_ENDPOINT = "generativelanguage.googleapis.com"
DEFAULT_HTTP_BASE = "https://generativelanguage.googleapis.com"
TEXT_MODEL = "gemini-2.5-flash"
IMAGE_MODEL = "gemini-2.5-flash-image"
VIDEO_MODEL = "veo-3.1-generate-preview"

TOKEN_PRICE = {"input": 0.30, "output": 2.50}  # USD per 1M tokens (gemini-2.5-flash)
IMAGE_PRICE = 0.039
VIDEO_PRICE_PER_SECOND = {VIDEO_MODEL: 0.40, "veo-3.1-fast-generate-preview": 0.15}
# Other text models the scoring and translation calls may pin (same request shape).
TEXT_MODELS: dict[str, dict[str, Any]] = {name: {} for name in ("gemini-2.5-pro", "gemini-2.5-flash-lite")}
VIDEO_SECONDS = ("4", "6", "8")
_POLICY_FINISH = {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
# google.rpc.Code values a long-running operation may end with, as HTTP statuses.
_REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")
_RPC_TO_HTTP = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 10: 409, 13: 500, 14: 503, 16: 401}

SPEC = ProviderSpec(
    name=NAME,
    vendor="google",
    required_settings=("gemini_api_key",),
    optional_settings=("gemini_base_url",),
    offerings=(
        Offering(
            VIDEO_ANALYSIS,
            TEXT_MODEL,
            quality=0.9,
            speed=0.5,
            cost=CostModel(0.006, "video_minute"),
            capabilities={
                "video_input": True,
                "structured_score": True,
                "max_file_bytes": 2 * 1024**3,
                "max_duration_seconds": 3600,
            },
            models=TEXT_MODELS,
        ),
        Offering(
            TRANSLATION,
            TEXT_MODEL,
            quality=0.85,
            speed=0.8,
            cost=CostModel(TOKEN_PRICE["input"] / 1000, "1k_tokens"),
            capabilities={"languages": "*"},
            models=TEXT_MODELS,
        ),
        Offering(
            IMAGE_GENERATION,
            IMAGE_MODEL,
            quality=0.85,
            speed=0.7,
            cost=CostModel(IMAGE_PRICE, "image"),
            capabilities={
                "sizes": ["1024x1024"],
                "output_formats": ["png"],
                "max_images": 4,
                "negative_prompt": False,
                "seed": False,
            },
        ),
        Offering(
            VIDEO_GENERATION,
            VIDEO_MODEL,
            quality=0.9,
            speed=0.3,
            cost=CostModel(VIDEO_PRICE_PER_SECOND[VIDEO_MODEL], "video_second"),
            capabilities={"durations": list(VIDEO_SECONDS), "aspect_ratios": ["16:9", "9:16"]},
            models={"veo-3.1-fast-generate-preview": {}},
        ),
    ),
)


class _FileClient(genai_client.FileServiceClient):
    """The SDK's File API client, with its discovery document read from our endpoint and
    the upload bounded by a socket timeout."""

    def __init__(self, *args: Any, discovery_url: str, upload_timeout: float, **kwargs: Any) -> None:
        self._discovery_url = discovery_url
        self._upload_timeout = upload_timeout
        super().__init__(*args, **kwargs)

    def _setup_discovery_api(self, metadata: Any = ()) -> None:
        # The SDK's __init__ turns a dict or None into ClientOptions; the attribute keeps its
        # declared union type.
        api_key = cast(client_options_lib.ClientOptions, self._client_options).api_key
        http = httplib2.Http(timeout=self._upload_timeout)
        try:
            response, content = http.request(
                f"{self._discovery_url}?version=v1beta&key={api_key}",
                "GET",
                headers=dict(metadata),
            )
        finally:
            http.close()
        if response.status != 200:
            raise googleapi_errors.HttpError(response, content, uri=self._discovery_url)
        self._local.discovery_api = discovery.build_from_document(
            content.decode("utf-8"),
            developerKey=api_key,
            http=httplib2.Http(timeout=self._upload_timeout),
        )


class GeminiProvider(Provider):
    """Gemini adapter. ``poll_interval_seconds`` paces File API and Veo polling."""

    spec = SPEC

    def __init__(self, settings: Settings, *, poll_interval_seconds: float = 2.0) -> None:
        super().__init__(settings)
        self.poll_interval_seconds = poll_interval_seconds
        self._generative: glm.GenerativeServiceClient | None = None
        self._files: _FileClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._lock = threading.Lock()

    # -- clients ------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        options = client_options_lib.ClientOptions(
            api_endpoint=self.settings.gemini_base_url.rstrip("/") or DEFAULT_ENDPOINT,
            api_key=self.settings.require("gemini_api_key"),
        )
        info = gapic_v1.client_info.ClientInfo(user_agent=f"genai-py/{genai_client.__version__}")
        return {"transport": "rest", "client_options": options, "client_info": info}

    @property
    def generative(self) -> glm.GenerativeServiceClient:
        with self._lock:
            if self._generative is None:
                self._generative = glm.GenerativeServiceClient(**self._client_kwargs())
            return self._generative

    @property
    def files(self) -> _FileClient:
        with self._lock:
            if self._files is None:
                base = self.settings.gemini_base_url.rstrip("/")
                url = f"{base}/$discovery/rest" if base else genai_client.GENAI_API_DISCOVERY_URL
                self._files = _FileClient(
                    discovery_url=url,
                    upload_timeout=self.settings.provider_timeout_seconds,
                    **self._client_kwargs(),
                )
            return self._files

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.gemini_base_url.rstrip("/") or DEFAULT_HTTP_BASE,
                headers={"x-goog-api-key": self.settings.require("gemini_api_key")},
                timeout=min(60.0, self.settings.provider_timeout_seconds),
                follow_redirects=True,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        for client in (self._generative, self._files):
            if client is not None:
                await asyncio.to_thread(client.transport.close)
        self._generative = self._files = None

    def _map(self, error: BaseException) -> MediaTasksError | None:
        return map_google_error(error, self.settings.env_name("gemini_api_key"))

    # -- video analysis ---------------------------------------------------------------------

    async def analyze_video(self, request: VideoAnalysisRequest, ctx: CallContext | None = None) -> VideoAnalysisResult:
        """Upload the video, wait until Gemini has processed it, and ask for the score."""
        path = Path(request.video_path)
        if not path.is_file():
            raise invalid_input(f"video file not found: {path.name}")
        model = request.model or TEXT_MODEL
        ctx = ctx or CallContext()
        deadline = self.deadline(ctx)
        uploaded: dict[str, str] = {}

        async def run() -> protos.GenerateContentResponse:
            await ctx.progress(2.0, "uploading")
            file = await asyncio.to_thread(
                self.files.create_file,
                str(path),
                mime_type=request.mime_type or guess_mime(str(path), "video/mp4"),
                display_name=path.name,
            )
            uploaded["name"] = ctx.vendor_job_id = file.name
            await ctx.progress(25.0, "processing")
            while file.state == protos.File.State.PROCESSING:
                await asyncio.sleep(self.poll_interval_seconds)
                file = await asyncio.to_thread(self.files.get_file, name=file.name, timeout=30.0, retry=None)
            if file.state != protos.File.State.ACTIVE:
                reason = file.error.message if file.error and file.error.message else file.state.name
                failure = unsupported_media(f"gemini could not process the video: {reason}")
                failure.metadata["provider"] = NAME
                raise failure
            await ctx.progress(50.0, "ai_analysis")
            text = request.prompt
            if request.context:
                text += "\n\nVideo facts: " + json.dumps(request.context, ensure_ascii=False)
            if request.transcript:
                text += "\n\nTranscript of the audio:\n" + request.transcript
            contents = [
                protos.Content(
                    role="user",
                    parts=[
                        protos.Part(file_data=protos.FileData(mime_type=file.mime_type, file_uri=file.uri)),
                        protos.Part(text=text),
                    ],
                )
            ]
            return await self._generate(model, contents, _json_config(SCORE_SCHEMA), deadline)

        try:
            response = await guarded(NAME, deadline, run(), self._map, ctx=ctx)
        finally:
            if uploaded.get("name"):
                self._forget_file(uploaded["name"])
        score = _json_answer(response)
        if not isinstance(score.get("score"), int | float):
            raise errors.bad_response(NAME, "the score JSON has no numeric score")
        await ctx.progress(100.0, "analyzed")
        return VideoAnalysisResult(score=score, provider=NAME, model=model, cost_usd=_token_cost(response))

    def _forget_file(self, name: str) -> None:
        """Delete an uploaded file in the background (it would expire in 48 h anyway)."""

        def delete() -> None:
            try:
                self.files.delete_file(name=name, timeout=10.0, retry=None)
            except Exception as error:
                log.info("gemini: deleting %s failed: %s", name, error)

        threading.Thread(target=delete, name="gemini-file-delete", daemon=True).start()

    # -- translation ------------------------------------------------------------------------

    async def translate(self, request: TranslationRequest, ctx: CallContext | None = None) -> TranslationResult:
        """Translate texts, the answer forced into a JSON list of equal length."""
        model = request.model or TEXT_MODEL
        payload = {
            "target_language": request.target_language,
            "source_language": request.source_language,
            "texts": list(request.texts),
        }
        instruction = (
            "Translate each string in `texts` into the language `target_language` (an ISO "
            "639-1 code). Keep order, count, line breaks and any markup. Answer with JSON "
            '{"translations": [...]}, one entry per input text.\n\n'
        )
        contents = [
            protos.Content(
                role="user",
                parts=[protos.Part(text=instruction + json.dumps(payload, ensure_ascii=False))],
            )
        ]
        schema = {
            "type": "object",
            "properties": {"translations": {"type": "array", "items": {"type": "string"}}},
            "required": ["translations"],
        }
        deadline = self.deadline(ctx)
        if ctx is not None:
            await ctx.progress(5.0, "translating")
        response = await guarded(
            NAME,
            deadline,
            self._generate(model, contents, _json_config(schema), deadline),
            self._map,
            ctx=ctx,
        )
        translations = _json_answer(response).get("translations")
        if not isinstance(translations, list) or len(translations) != len(request.texts):
            got = len(translations) if isinstance(translations, list) else "no list"
            raise errors.bad_response(NAME, f"asked for {len(request.texts)} translations, got {got}")
        return TranslationResult(
            texts=[str(t) for t in translations],
            provider=NAME,
            model=model,
            cost_usd=_token_cost(response),
        )

    # -- image generation -----------------------------------------------------------------

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext | None = None) -> GeneratedImages:
        """One ``generateContent`` call per image, asking for TEXT and IMAGE parts."""
        model = request.model or IMAGE_MODEL
        prompt = request.prompt
        if request.negative_prompt:
            prompt = f"{prompt}\n\nAvoid: {request.negative_prompt}"
        config = protos.GenerationConfig(
            response_modalities=[
                protos.GenerationConfig.Modality.TEXT,
                protos.GenerationConfig.Modality.IMAGE,
            ]
        )
        contents = [protos.Content(role="user", parts=[protos.Part(text=prompt)])]
        deadline = self.deadline(ctx)

        async def run() -> list[protos.GenerateContentResponse]:
            answers = []
            for index in range(request.n):
                if ctx is not None:
                    await ctx.progress(100.0 * index / request.n, "generating")
                answers.append(await self._generate(model, contents, config, deadline))
            return answers

        responses = await guarded(NAME, deadline, run(), self._map, ctx=ctx)
        images: list[GeneratedImage] = []
        for response in responses:
            candidate = _first_candidate(response)
            for part in candidate.content.parts:
                if part.inline_data and part.inline_data.data:
                    data = bytes(part.inline_data.data)
                    images.append(GeneratedImage(data, part.inline_data.mime_type or sniff_image_type(data)))
        if not images:
            raise errors.bad_response(NAME, "no image part in the answer")
        return GeneratedImages(
            images=images,
            provider=NAME,
            model=model,
            cost_usd=round(IMAGE_PRICE * len(images), 6),
        )

    async def _generate(
        self,
        model: str,
        contents: list[protos.Content],
        config: protos.GenerationConfig,
        seconds: float,
    ) -> protos.GenerateContentResponse:
        request = protos.GenerateContentRequest(model=f"models/{model}", contents=contents, generation_config=config)
        return await asyncio.to_thread(self.generative.generate_content, request=request, timeout=seconds, retry=None)

    # -- video generation (Veo over HTTP) -------------------------------------------------

    async def generate_video(self, request: VideoGenerationRequest, ctx: CallContext | None = None) -> GeneratedVideo:
        """Start a Veo operation, poll it, download the MP4. Cancelling cancels the
        operation at Google; ``ctx.cancel_confirmed`` is Google's answer."""
        model = request.model or VIDEO_MODEL
        seconds = str(request.seconds)
        if seconds not in VIDEO_SECONDS:
            raise invalid_input(f"Veo videos last {', '.join(VIDEO_SECONDS)} seconds, not {seconds}")
        aspect = _aspect_ratio(request.size)
        parameters: dict[str, Any] = {"aspectRatio": aspect, "durationSeconds": int(seconds)}
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        body = {"instances": [{"prompt": request.prompt}], "parameters": parameters}
        ctx = ctx or CallContext()
        operation: dict[str, str] = {}

        async def cancel_at_vendor() -> bool:
            if not operation.get("name"):
                return False
            response = await self.http.post(f"/v1beta/{operation['name']}:cancel", json={}, timeout=5.0)
            return response.status_code == 200

        async def run() -> GeneratedVideo:
            started = _json_or_raise(await self.http.post(f"/v1beta/models/{model}:predictLongRunning", json=body))
            name = str(started.get("name") or "")
            if not name:
                raise errors.bad_response(NAME, "predictLongRunning answered no operation name")
            operation["name"] = ctx.vendor_job_id = name
            state = started
            polls = 0
            while not state.get("done"):
                polls += 1
                await ctx.progress(min(90.0, 5.0 + 10.0 * polls), "generating")
                await asyncio.sleep(self.poll_interval_seconds)
                state = _json_or_raise(await self.http.get(f"/v1beta/{name}"))
            uri = _video_uri(state)
            await ctx.progress(92.0, "downloading")
            dest = video_destination(request.output_path)
            async with self.http.stream("GET", uri, timeout=120.0) as download:
                if download.status_code != 200:
                    await download.aread()  # an error's JSON body: small
                    _json_or_raise(download)
                await write_video(NAME, download.aiter_bytes(DOWNLOAD_CHUNK_BYTES), dest)
                content_type = download.headers.get("content-type", "video/mp4").split(";")[0]
            return GeneratedVideo(
                path=dest,
                content_type=content_type,
                seconds=float(seconds),
                size=request.size,
                provider=NAME,
                model=model,
                cost_usd=round(int(seconds) * VIDEO_PRICE_PER_SECOND.get(model, 0.40), 6),
                vendor_job_id=name,
            )

        return await guarded(NAME, self.deadline(ctx), run(), self._map, ctx=ctx, cancel_at_vendor=cancel_at_vendor)


# --- helpers --------------------------------------------------------------------------------


def _json_config(schema: dict[str, Any]) -> protos.GenerationConfig:
    return protos.GenerationConfig(response_mime_type="application/json", response_schema=to_schema(schema))


def to_schema(schema: dict[str, Any]) -> protos.Schema:
    """A JSON schema (the subset the contracts use) as Gemini's ``Schema`` proto."""
    kind = schema.get("type", "string").upper()
    # proto-plus is untyped, so mypy cannot tell that Type is an Enum indexed by name.
    out = protos.Schema(type_=protos.Type[kind])  # type: ignore[misc]
    if schema.get("description"):
        out.description = schema["description"]
    if schema.get("enum"):
        out.format_ = "enum"
        out.enum.extend(str(v) for v in schema["enum"])
    if kind == "OBJECT":
        for key, value in schema.get("properties", {}).items():
            out.properties[key] = to_schema(value)
        out.required.extend(schema.get("required", []))
    if kind == "ARRAY" and "items" in schema:
        out.items = to_schema(schema["items"])
    return out


def _first_candidate(response: protos.GenerateContentResponse) -> protos.Candidate:
    feedback = response.prompt_feedback
    if feedback and feedback.block_reason:
        reason = protos.GenerateContentResponse.PromptFeedback.BlockReason(feedback.block_reason).name
        raise errors.content_policy(NAME, f"the prompt was blocked ({reason})", vendor_code=reason)
    if not response.candidates:
        raise errors.bad_response(NAME, "no candidate in the answer")
    candidate = response.candidates[0]
    finish = protos.Candidate.FinishReason(candidate.finish_reason).name
    if finish in _POLICY_FINISH:
        raise errors.content_policy(NAME, f"the answer was stopped ({finish})", vendor_code=finish)
    return candidate


def _json_answer(response: protos.GenerateContentResponse) -> dict[str, Any]:
    candidate = _first_candidate(response)
    text = "".join(part.text for part in candidate.content.parts if part.text)
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise errors.bad_response(NAME, f"answer is not JSON ({error})") from error
    if not isinstance(answer, dict):
        raise errors.bad_response(NAME, "answer is not a JSON object")
    return answer


def _token_cost(response: protos.GenerateContentResponse) -> float:
    usage = response.usage_metadata
    if not usage:
        return 0.0
    cost = (
        usage.prompt_token_count * TOKEN_PRICE["input"] + usage.candidates_token_count * TOKEN_PRICE["output"]
    ) / 1_000_000
    return round(cost, 6)


def _aspect_ratio(size: str) -> str:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise invalid_input(f"video size must be WIDTHxHEIGHT, not {size!r}") from None
    return "16:9" if width >= height else "9:16"


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 200 answer, or the mapped error of any other."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and isinstance(body, dict):
        return body
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(error.get("message") or response.text[:300] or response.reason_phrase)
    if "API_KEY_INVALID" in response.text or "API key not valid" in message:
        raise errors.auth_failed(NAME, message, "MEDIATASKS_GEMINI_API_KEY", status=response.status_code)
    raise errors.from_http_status(
        NAME,
        response.status_code,
        message,
        env_var="MEDIATASKS_GEMINI_API_KEY",
        vendor_code=error.get("status"),
        retry_after=errors.parse_retry_after(response.headers),
    )


def _video_uri(state: dict[str, Any]) -> str:
    if state.get("error"):
        error = state["error"]
        status = _RPC_TO_HTTP.get(int(error.get("code", 13)), 500)
        message = str(error.get("message") or "the operation failed")
        if status == 400 and any(w in message.lower() for w in ("safety", "policy", "prohibited")):
            raise errors.content_policy(NAME, message)
        raise errors.from_http_status(NAME, status, message, env_var="MEDIATASKS_GEMINI_API_KEY")
    result = (state.get("response") or {}).get("generateVideoResponse") or {}
    samples = result.get("generatedSamples") or []
    if not samples:
        reasons = result.get("raiMediaFilteredReasons") or []
        if result.get("raiMediaFilteredCount") or reasons:
            raise errors.content_policy(NAME, "; ".join(reasons) or "the video was filtered")
        raise errors.bad_response(NAME, "the finished operation holds no video")
    uri = ((samples[0] or {}).get("video") or {}).get("uri")
    if not uri:
        raise errors.bad_response(NAME, "the generated sample has no video uri")
    return str(uri)


def map_google_error(error: BaseException, env_var: str) -> MediaTasksError | None:
    """The project error for an exception from the Google SDK stack (api_core REST
    transport, googleapiclient upload, requests/httplib2 sockets) or from httpx."""
    if isinstance(error, google_exceptions.GoogleAPICallError):
        # The REST transport prefixes "POST <url>: "; the vendor's words follow.
        message = _REQUEST_PREFIX.sub("", error.message or str(error))
        if getattr(error, "reason", None) == "API_KEY_INVALID" or "API key not valid" in message:
            return errors.auth_failed(NAME, message, env_var, status=error.code)
        status = int(error.code) if isinstance(error.code, int) else 500
        return errors.from_http_status(NAME, status, message, env_var=env_var, vendor_code=_google_status(error))
    if isinstance(error, google_exceptions.RetryError):
        return errors.unavailable(NAME, str(error))
    if isinstance(error, googleapi_errors.HttpError):
        status = int(error.resp.status)
        text = error.content.decode("utf-8", "replace") if error.content else ""
        message = _google_message(text) or str(error.reason)
        if "API_KEY_INVALID" in text:
            return errors.auth_failed(NAME, message, env_var, status=status)
        return errors.from_http_status(NAME, status, message, env_var=env_var)
    if isinstance(error, requests.exceptions.Timeout | httpx.TimeoutException):
        return errors.timed_out(NAME)
    if isinstance(
        error,
        requests.exceptions.ConnectionError | httpx.TransportError | httplib2.HttpLib2Error | OSError,
    ):
        return errors.unavailable(NAME, f"connection failed ({error})")
    return None


def _google_status(error: google_exceptions.GoogleAPICallError) -> str | None:
    """The ``status`` name of Google's error body (e.g. ``RESOURCE_EXHAUSTED``)."""
    if error.grpc_status_code is not None:
        return str(error.grpc_status_code.name)
    response = getattr(error, "response", None)
    if response is None:
        return None
    try:
        return str(response.json()["error"]["status"])
    except (AttributeError, ValueError, KeyError, TypeError):
        return None


def _google_message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text[:300]
