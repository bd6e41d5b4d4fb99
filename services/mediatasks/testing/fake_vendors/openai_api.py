"""A loopback OpenAI API: images, audio transcriptions, chat completions, videos (Sora).

Answers follow the REST API the ``openai`` SDK parses: ``{"error": {...}}`` bodies with
the SDK's status-to-exception mapping, ``b64_json`` images, ``verbose_json`` /
``diarized_json`` transcriptions, chat completions with usage, and the video job
lifecycle (queued, in_progress, completed) with MP4 content.

Default behaviour, so results are predictable: transcriptions say :attr:`transcript_text`
(or, asked for a language of :attr:`transcripts_by_language`, that language's sentence)
spread over the uploaded audio's real duration; a video job with a starting image
(``input_reference``) is refused unless the image has the video's size, as Sora does; a chat request whose JSON schema is named
``translations`` answers ``"[<target>] <text>"`` for every input text; one named
``video_score`` answers a score whose summary counts the frames and transcript words it
got; a video completes after :attr:`video_polls` status reads.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from mediatasks.testing.fake_vendors._faults import Fault
from mediatasks.testing.fake_vendors._http import FakeHTTPVendor, Request, Response
from mediatasks.testing.fake_vendors._media import (
    TRANSCRIPTS_BY_LANGUAGE,
    color_for,
    image_bytes,
    image_size,
    media_duration,
    mp4_bytes,
    spoken_text,
    spread_words,
)

_LANGUAGE_NAMES = {
    "en": "english",
    "es": "spanish",
    "pt": "portuguese",
    "fr": "french",
    "de": "german",
}
_DEFAULT_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
_DEFAULT_MESSAGES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "Incorrect API key provided."),
    403: ("invalid_request_error", "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "Not found."),
    429: ("requests", "Rate limit reached for requests. Please try again shortly."),
    500: ("server_error", "The server had an error while processing your request."),
    503: ("server_error", "The engine is currently overloaded, please try again later."),
}


class FakeOpenAI(FakeHTTPVendor):
    """OpenAI on loopback. Point the SDK at :attr:`base_url` with :attr:`api_key`."""

    name = "openai"

    def __init__(self, *, api_key: str = "sk-fake-openai", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self._lock = threading.Lock()
        self._defaults()
        self.route("POST", r"/v1/images/generations", "images", self._images)
        self.route("POST", r"/v1/audio/transcriptions", "transcriptions", self._transcriptions)
        self.route("POST", r"/v1/chat/completions", "chat", self._chat)
        self.route("POST", r"/v1/videos", "videos.create", self._video_create)
        self.route("GET", r"/v1/videos/(?P<id>[^/]+)", "videos.retrieve", self._video_retrieve)
        self.route("GET", r"/v1/videos/(?P<id>[^/]+)/content", "videos.content", self._video_content)
        self.route("DELETE", r"/v1/videos/(?P<id>[^/]+)", "videos.delete", self._video_delete)

    def _defaults(self) -> None:
        self.transcript_text = "the quick brown fox jumps over the lazy dog"
        # What a transcription asked for in one of these languages says instead.
        self.transcripts_by_language: dict[str, str] = dict(TRANSCRIPTS_BY_LANGUAGE)
        self.video_polls = 2
        self.chat_reply: Callable[[dict[str, Any]], str] | None = None
        self.video_failure: tuple[str, str] | None = None
        self.videos: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget faults, calls and state; restore the default behaviour."""
        super().reset()
        with self._lock:
            self._defaults()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def env(self) -> dict[str, str]:
        return {
            "MEDIATASKS_OPENAI_API_KEY": self.api_key,
            "MEDIATASKS_OPENAI_BASE_URL": self.base_url,
        }

    def reject_content(self, *, route: str | None = None, times: int = 1) -> None:
        self.fail(
            400,
            route=route,
            times=times,
            code="content_policy_violation",
            message="Your request was rejected as a result of our safety system.",
        )

    # -- protocol -----------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if request.header("authorization") == f"Bearer {self.api_key}":
            return None
        return self.error_response(Fault(None, 401, "invalid_api_key", ""), request)

    def error_response(self, fault: Fault, request: Request | None) -> Response:
        kind, default = _DEFAULT_MESSAGES.get(fault.status, ("server_error", "Error."))
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
        body = {
            "error": {
                "message": fault.message or default,
                "type": kind,
                "param": None,
                "code": fault.code or _DEFAULT_CODES.get(fault.status),
            }
        }
        return Response.json(body, fault.status, headers)

    # -- images -------------------------------------------------------------------------

    def _images(self, request: Request) -> Response:
        body = request.json()
        prompt = str(body.get("prompt", ""))
        model = str(body.get("model", "gpt-image-2"))
        n = int(body.get("n") or 1)
        size = str(body.get("size") or "1024x1024")
        width, height = (1024, 1024) if size == "auto" else (int(v) for v in size.split("x"))
        fmt = str(body.get("output_format") or "png")
        data = base64.b64encode(image_bytes(width, height, color_for(prompt), fmt)).decode()
        items: list[dict[str, Any]] = []
        for _ in range(n):
            item: dict[str, Any] = {"b64_json": data}
            if model == "dall-e-3":
                item["revised_prompt"] = f"A detailed picture of {prompt}"
            items.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": items, "size": size}
        if not model.startswith("dall-e"):
            text_tokens = max(1, len(prompt) // 4)
            answer.update(
                output_format=fmt,
                quality=body.get("quality") or "auto",
                usage={
                    "input_tokens": text_tokens,
                    "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
                    "output_tokens": 1056 * n,
                    "total_tokens": text_tokens + 1056 * n,
                },
            )
        return Response.json(answer)

    # -- transcriptions -----------------------------------------------------------------

    def _transcriptions(self, request: Request) -> Response:
        form = request.form()
        if "file" not in form or "model" not in form:
            return self.error_response(Fault(None, 400, None, "file and model are required"), request)
        audio = form["file"][0].data
        duration = round(media_duration(audio), 3)
        fmt = request.field("response_format", "json")
        language = request.field("language")
        words = spread_words(spoken_text(self.transcript_text, self.transcripts_by_language, language), duration)
        text = " ".join(w for w, _, _ in words)
        usage = {"type": "duration", "seconds": duration}
        if fmt == "text":
            return Response(200, text.encode(), "text/plain")
        if fmt == "verbose_json":
            granularities = {p.text for p in form.get("timestamp_granularities", [])}
            answer: dict[str, Any] = {
                "task": "transcribe",
                "language": _LANGUAGE_NAMES.get(language, "english"),
                "duration": duration,
                "text": text,
                "segments": [
                    {
                        "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text,
                        "tokens": [], "temperature": 0.0, "avg_logprob": -0.105,
                        "compression_ratio": 1.1, "no_speech_prob": 0.01,
                    }
                ],
                "usage": usage,
            }  # fmt: skip
            if "word" in granularities:
                answer["words"] = [{"word": w, "start": s, "end": e} for w, s, e in words]
            return Response.json(answer)
        if fmt == "diarized_json":
            half = max(1, len(words) // 2)
            segments = []
            for index, chunk in enumerate((words[:half], words[half:])):
                if chunk:
                    segments.append(
                        {
                            "type": "transcript.text.segment",
                            "id": f"seg_{index}",
                            "start": chunk[0][1],
                            "end": chunk[-1][2],
                            "text": " ".join(w for w, _, _ in chunk),
                            "speaker": "AB"[index],
                        }
                    )
            return Response.json(
                {
                    "task": "transcribe",
                    "duration": duration,
                    "text": text,
                    "segments": segments,
                    "usage": usage,
                }
            )
        return Response.json({"text": text, "usage": usage})

    # -- chat -----------------------------------------------------------------------------

    def _chat(self, request: Request) -> Response:
        body = request.json()
        messages = body.get("messages") or []
        if self.chat_reply is not None:
            reply = self.chat_reply(body)
        else:
            reply = _default_reply(body)
        prompt_chars = len(json.dumps(messages))
        return Response.json(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-5.4-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": len(reply) // 4,
                    "total_tokens": prompt_chars // 4 + len(reply) // 4,
                },
            }
        )

    # -- videos ---------------------------------------------------------------------------

    def _video_create(self, request: Request) -> Response:
        video_id = f"video_{uuid.uuid4().hex[:16]}"
        reference = request.form().get("input_reference")
        size = request.field("size", "720x1280")
        if reference:
            # Sora refuses a starting image whose size is not the video's.
            found = image_size(reference[0].data)
            if found is None:
                return self.error_response(Fault(None, 400, None, "input_reference is not an image."), request)
            if f"{found[0]}x{found[1]}" != size:
                message = (
                    f"Inpaint image must match the requested width and height ({size}); got {found[0]}x{found[1]}."
                )
                return self.error_response(Fault(None, 400, None, message), request)
        record = {
            "id": video_id,
            "object": "video",
            "created_at": int(time.time()),
            "model": request.field("model", "sora-2"),
            "prompt": request.field("prompt"),
            "seconds": request.field("seconds", "4"),
            "size": size,
            "status": "queued",
            "progress": 0,
            "completed_at": None,
            "expires_at": None,
            "error": None,
            "remixed_from_video_id": None,
        }
        with self._lock:
            self.videos[video_id] = {
                "record": record,
                "polls": 0,
                "deleted": False,
                "input_reference": reference[0].data if reference else None,
            }
        return Response.json(record)

    def _video(self, request: Request) -> dict[str, Any] | None:
        with self._lock:
            return self.videos.get(request.match["id"])

    def _video_retrieve(self, request: Request) -> Response:
        video = self._video(request)
        if video is None or video["deleted"]:
            return self.error_response(Fault(None, 404, None, "Video not found."), request)
        record = video["record"]
        with self._lock:
            video["polls"] += 1
            if record["status"] in ("queued", "in_progress"):
                if video["polls"] >= self.video_polls:
                    if self.video_failure is not None:
                        code, message = self.video_failure
                        record.update(status="failed", error={"code": code, "message": message})
                    else:
                        record.update(status="completed", progress=100, completed_at=int(time.time()))
                else:
                    record.update(status="in_progress", progress=int(100 * video["polls"] / self.video_polls))
        return Response.json(record, headers={"openai-poll-after-ms": "50"})

    def _video_content(self, request: Request) -> Response:
        video = self._video(request)
        if video is None or video["record"]["status"] != "completed":
            return self.error_response(Fault(None, 404, None, "Video is not ready."), request)
        record = video["record"]
        width, height = (int(v) for v in record["size"].split("x"))
        return Response(200, mp4_bytes(width, height, float(record["seconds"])), "video/mp4")

    def _video_delete(self, request: Request) -> Response:
        video = self._video(request)
        if video is None:
            return self.error_response(Fault(None, 404, None, "Video not found."), request)
        with self._lock:
            video["deleted"] = True
        return Response.json({"id": request.match["id"], "object": "video.deleted", "deleted": True})


def _user_text(body: dict[str, Any]) -> tuple[str, int]:
    """The last user message's text and how many images it carried."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content, 0
        texts = [p.get("text", "") for p in content or [] if p.get("type") == "text"]
        images = sum(1 for p in content or [] if p.get("type") == "image_url")
        return "\n".join(texts), images
    return "", 0


def _default_reply(body: dict[str, Any]) -> str:
    schema_name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    text, images = _user_text(body)
    if schema_name == "translations":
        payload = json.loads(text)
        target = payload.get("target_language", "xx")
        return json.dumps({"translations": [f"[{target}] {t}" for t in payload.get("texts", [])]})
    if schema_name == "video_score":
        transcript = text.split("Transcript of the audio:", 1)[1] if "Transcript of the audio:" in text else ""
        return json.dumps(video_score(images, len(transcript.split())))
    return "ok"


def video_score(frames: int, transcript_words: int) -> dict[str, Any]:
    """The deterministic score the fakes answer (shape: ``contracts.SCORE_SCHEMA``)."""
    return {
        "score": 7.5,
        "summary": f"Reviewed {frames} frames and {transcript_words} transcript words.",
        "creative_score": {
            "hook": 7.0, "visual_quality": 8.0, "audio_quality": 6.5,
            "pacing": 7.5, "storytelling": 7.0, "call_to_action": 6.0,
        },
        "strengths": ["clear subject", "steady framing"],
        "improvements": ["add a call to action in the last seconds"],
        "detected_issues": [
            {
                "type": "audio", "severity": "low",
                "description": "music slightly loud", "timestamp_seconds": 1.0,
            }
        ],
    }  # fmt: skip
