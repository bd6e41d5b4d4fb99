"""A loopback AssemblyAI v2 API: upload, transcript create, transcript poll.

Answers are the JSON the ``assemblyai`` SDK parses (``TranscriptResponse``: millisecond
word times, ``utterances`` when ``speaker_labels`` was asked, ``language_code``,
``audio_duration`` in whole seconds) and errors are ``{"error": "..."}``. A transcript is
``queued``, then ``processing``, then ``completed`` after :attr:`polls_until_complete`
reads, saying :attr:`transcript_text` (or, asked for a ``language_code`` of
:attr:`transcripts_by_language`, that language's sentence) spread over the uploaded audio's
real duration
(``error`` with :attr:`transcript_error` when that is set).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from mediatasks.testing.fake_vendors._faults import Fault
from mediatasks.testing.fake_vendors._http import FakeHTTPVendor, Request, Response
from mediatasks.testing.fake_vendors._media import TRANSCRIPTS_BY_LANGUAGE, media_duration, spoken_text, spread_words

_CDN = "https://cdn.assemblyai.com/upload/"
_DEFAULT_MESSAGES = {
    400: "Invalid request",
    401: "Authentication error, API token missing/invalid",
    429: "Too many requests, please slow down",
    500: "Internal server error",
    503: "Service temporarily unavailable",
}


class FakeAssemblyAI(FakeHTTPVendor):
    """AssemblyAI on loopback. Point the SDK's ``base_url`` at :attr:`url`."""

    name = "assemblyai"

    def __init__(self, *, api_key: str = "fake-assemblyai-key", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self._lock = threading.Lock()
        self._defaults()
        self.route("POST", r"/v2/upload", "upload", self._upload)
        self.route("POST", r"/v2/transcript", "transcript.create", self._create)
        self.route("GET", r"/v2/transcript/(?P<id>[^/]+)", "transcript.get", self._get)

    def _defaults(self) -> None:
        self.transcript_text = "the quick brown fox jumps over the lazy dog"
        # What a transcript asked for in one of these languages says instead.
        self.transcripts_by_language: dict[str, str] = dict(TRANSCRIPTS_BY_LANGUAGE)
        self.polls_until_complete = 2
        self.transcript_error: str | None = None
        self.uploads: dict[str, float] = {}
        self.transcripts: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget faults, calls and state; restore the default behaviour."""
        super().reset()
        with self._lock:
            self._defaults()

    def env(self) -> dict[str, str]:
        return {
            "MEDIATASKS_ASSEMBLYAI_API_KEY": self.api_key,
            "MEDIATASKS_ASSEMBLYAI_BASE_URL": self.url,
        }

    def check_auth(self, request: Request) -> Response | None:
        if request.header("authorization") == self.api_key:
            return None
        return self.error_response(Fault(None, 401), request)

    def error_response(self, fault: Fault, request: Request | None) -> Response:
        headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        message = fault.message or _DEFAULT_MESSAGES.get(fault.status, "Error")
        return Response.json({"error": message}, fault.status, headers)

    def _upload(self, request: Request) -> Response:
        if not request.body:
            return self.error_response(Fault(None, 400, message="Upload is empty"), request)
        upload_id = str(uuid.uuid4())
        with self._lock:
            self.uploads[upload_id] = media_duration(request.body)
        return Response.json({"upload_url": _CDN + upload_id})

    def _create(self, request: Request) -> Response:
        body = request.json()
        audio_url = str(body.get("audio_url") or "")
        duration = self.uploads.get(audio_url.removeprefix(_CDN)) if audio_url.startswith(_CDN) else 5.0
        if duration is None:
            return self.error_response(Fault(None, 400, message=f"Unknown upload {audio_url}"), request)
        transcript_id = str(uuid.uuid4())
        record = {
            "id": transcript_id,
            "status": "queued",
            "audio_url": audio_url,
            "language_code": body.get("language_code"),
            "language_detection": body.get("language_detection"),
            "speaker_labels": body.get("speaker_labels"),
            "speech_models": body.get("speech_models"),
            "text": None,
            "words": None,
            "utterances": None,
            "error": None,
        }
        with self._lock:
            self.transcripts[transcript_id] = {"record": record, "polls": 0, "duration": duration}
        return Response.json(record)

    def _get(self, request: Request) -> Response:
        with self._lock:
            entry = self.transcripts.get(request.match["id"])
            if entry is None:
                return self.error_response(Fault(None, 404, message="Transcript not found"), request)
            record = entry["record"]
            entry["polls"] += 1
            if record["status"] in ("queued", "processing"):
                if entry["polls"] < self.polls_until_complete:
                    record["status"] = "processing"
                elif self.transcript_error:
                    record.update(status="error", error=self.transcript_error)
                else:
                    record.update(self._completed(record, entry["duration"]))
            return Response.json(record)

    def _completed(self, record: dict[str, Any], duration: float) -> dict[str, Any]:
        timed = spread_words(
            spoken_text(self.transcript_text, self.transcripts_by_language, record.get("language_code")), duration
        )
        speakers = bool(record.get("speaker_labels"))
        half = max(1, len(timed) // 2)
        words: list[dict[str, Any]] = [
            {
                "text": text,
                "start": int(start * 1000),
                "end": int(end * 1000),
                "confidence": 0.93,
                "speaker": ("A" if i < half else "B") if speakers else None,
            }
            for i, (text, start, end) in enumerate(timed)
        ]
        utterances = None
        if speakers:
            utterances = []
            for speaker, chunk in (("A", words[:half]), ("B", words[half:])):
                if chunk:
                    utterances.append(
                        {
                            "speaker": speaker,
                            "text": " ".join(w["text"] for w in chunk),
                            "start": chunk[0]["start"],
                            "end": chunk[-1]["end"],
                            "confidence": 0.93,
                            "words": chunk,
                        }
                    )
        return {
            "status": "completed",
            "text": " ".join(w["text"] for w in words),
            "words": words,
            "utterances": utterances,
            "confidence": 0.93,
            "audio_duration": int(round(duration)),
            "language_code": record.get("language_code") or "en_us",
            "speech_model_used": (record.get("speech_models") or ["universal"])[0],
        }
