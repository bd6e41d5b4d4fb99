"""A loopback Gemini API (``generativelanguage`` v1beta, REST).

Serves what ``google-generativeai`` with ``transport="rest"`` and a custom
``api_endpoint`` uses: the discovery document and resumable media upload of the File API
(googleapiclient's protocol: POST with ``X-Upload-Content-*`` headers, a ``Location`` to
PUT the bytes to, ``308`` until complete), ``files.get`` moving a file from
``PROCESSING`` to ``ACTIVE`` after :attr:`processing_polls` reads, ``generateContent``
(JSON answers under a ``responseSchema``; inline PNG parts when ``responseModalities``
asks for IMAGE; ``promptFeedback.blockReason`` when content is rejected), and Veo's
``predictLongRunning`` operation with a downloadable MP4. Errors are Google's
``{"error": {"code", "message", "status"}}``; a wrong key answers 400
``API_KEY_INVALID`` as Google does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mediatasks.testing.fake_vendors._faults import Fault
from mediatasks.testing.fake_vendors._http import FakeHTTPVendor, Request, Response
from mediatasks.testing.fake_vendors._media import color_for, image_bytes, media_duration, mp4_bytes
from mediatasks.testing.fake_vendors.openai_api import video_score

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_IMAGE_MODALITY = (2, "IMAGE")


def _now(offset_hours: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(hours=offset_hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeGemini(FakeHTTPVendor):
    """Gemini on loopback. Use :attr:`url` as ``api_endpoint`` / ``gemini_base_url``."""

    name = "gemini"

    def __init__(self, *, api_key: str = "fake-gemini-key", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self._lock = threading.Lock()
        self._defaults()
        self.route("GET", r"/\$discovery/rest", "discovery", self._discovery)
        self.route("POST", r"/upload/v1beta/files", "upload.start", self._upload_start)
        self.route("PUT", r"/upload/v1beta/files", "upload.put", self._upload_put)
        self.route("GET", r"/v1beta/files/(?P<id>[^/:]+)", "files.get", self._file_get)
        self.route("DELETE", r"/v1beta/files/(?P<id>[^/:]+)", "files.delete", self._file_delete)
        self.route("GET", r"/v1beta/files/(?P<id>[^/:]+):download", "files.download", self._download)
        self.route("POST", r"/v1beta/models/(?P<model>[^/:]+):generateContent", "generate", self._generate)
        self.route("POST", r"/v1beta/models/(?P<model>[^/:]+):predictLongRunning", "predict", self._predict)
        self.route(
            "GET", r"/v1beta/models/(?P<model>[^/:]+)/operations/(?P<op>[^/:]+)", "operations.get",
            self._operation_get,
        )  # fmt: skip
        self.route(
            "POST", r"/v1beta/models/(?P<model>[^/:]+)/operations/(?P<op>[^/:]+):cancel",
            "operations.cancel", self._operation_cancel,
        )  # fmt: skip

    def _defaults(self) -> None:
        self.processing_polls = 2
        self.operation_polls = 2
        self.file_failure: str | None = None
        self.files: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, bytes] = {}
        # Bytes each video download carries after the MP4 (a video far bigger than memory).
        self.video_padding_bytes = 0
        self._uploads: dict[str, dict[str, Any]] = {}
        self._blocked = {"generate": 0, "predict": 0}

    def reset(self) -> None:
        """Forget faults, calls, files and operations; restore the default behaviour."""
        super().reset()
        with self._lock:
            self._defaults()

    def env(self) -> dict[str, str]:
        return {"MEDIATASKS_GEMINI_API_KEY": self.api_key, "MEDIATASKS_GEMINI_BASE_URL": self.url}

    def reject_content(self, *, route: str | None = None, times: int = 1) -> None:
        """``generate``: the prompt comes back blocked (``promptFeedback``); ``predict``:
        the video operation ends with its media filtered."""
        with self._lock:
            self._blocked[route or "generate"] += times

    # -- protocol -----------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if request.path == "/$discovery/rest":
            return None
        if self.api_key in (request.header("x-goog-api-key"), request.arg("key")):
            return None
        return Response.json(
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"},
                        }
                    ],
                }
            },
            400,
        )

    def error_response(self, fault: Fault, request: Request | None) -> Response:
        headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        status_name = fault.code or _STATUS_NAMES.get(fault.status, "UNKNOWN")
        message = fault.message or _DEFAULT_MESSAGES.get(fault.status, status_name.replace("_", " ").lower())
        return Response.json(
            {"error": {"code": fault.status, "message": message, "status": status_name}},
            fault.status,
            headers,
        )

    def _not_found(self, what: str) -> Response:
        return self.error_response(Fault(None, 404, message=f"{what} not found"), None)

    # -- discovery and upload --------------------------------------------------------------

    def _discovery(self, request: Request) -> Response:
        root = f"{self.url}/"
        file_schema = {
            "id": "File",
            "type": "object",
            "properties": {
                name: {"type": "string"} for name in ("name", "displayName", "mimeType", "sizeBytes", "uri", "state")
            },
        }
        return Response.json(
            {
                "kind": "discovery#restDescription",
                "discoveryVersion": "v1",
                "id": "generativelanguage:v1beta",
                "name": "generativelanguage",
                "version": "v1beta",
                "protocol": "rest",
                "rootUrl": root,
                "baseUrl": root,
                "servicePath": "",
                "batchPath": "batch",
                "parameters": {
                    "key": {"type": "string", "location": "query"},
                    "alt": {"type": "string", "location": "query", "default": "json"},
                },
                "resources": {
                    "media": {
                        "methods": {
                            "upload": {
                                "id": "generativelanguage.media.upload",
                                "path": "v1beta/files",
                                "flatPath": "v1beta/files",
                                "httpMethod": "POST",
                                "parameters": {},
                                "parameterOrder": [],
                                "request": {"$ref": "CreateFileRequest"},
                                "response": {"$ref": "CreateFileResponse"},
                                "supportsMediaUpload": True,
                                "mediaUpload": {
                                    "accept": ["*/*"],
                                    "maxSize": "2147483648",
                                    "protocols": {
                                        "simple": {
                                            "multipart": True,
                                            "path": "/upload/v1beta/files",
                                        },
                                        "resumable": {
                                            "multipart": True,
                                            "path": "/resumable/upload/v1beta/files",
                                        },
                                    },
                                },
                            }
                        }
                    }
                },
                "schemas": {
                    "File": file_schema,
                    "CreateFileRequest": {
                        "id": "CreateFileRequest",
                        "type": "object",
                        "properties": {"file": {"$ref": "File"}},
                    },
                    "CreateFileResponse": {
                        "id": "CreateFileResponse",
                        "type": "object",
                        "properties": {"file": {"$ref": "File"}},
                    },
                },
            }
        )

    def _upload_start(self, request: Request) -> Response:
        if request.arg("uploadType") != "resumable":
            return self.error_response(Fault(None, 400, message="only resumable uploads are served"), request)
        meta = (request.json() or {}).get("file") or {}
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._uploads[upload_id] = {
                "meta": meta,
                "mime": request.header("x-upload-content-type", "application/octet-stream"),
                "size": int(request.header("x-upload-content-length") or 0),
                "data": bytearray(),
            }
        location = f"{self.url}/upload/v1beta/files?uploadType=resumable&upload_id={upload_id}&key={self.api_key}"
        return Response.json({}, headers={"Location": location})

    def _upload_put(self, request: Request) -> Response:
        with self._lock:
            upload = self._uploads.get(request.arg("upload_id"))
        if upload is None:
            return self._not_found("upload session")
        upload["data"] += request.body
        total = request.header("content-range").rsplit("/", 1)[-1]
        size = int(total) if total.isdigit() else upload["size"]
        if len(upload["data"]) < size:
            return Response(308, b"", "text/plain", {"Range": f"bytes=0-{len(upload['data']) - 1}"})
        file = self._new_file(upload["meta"], upload["mime"], bytes(upload["data"]))
        return Response.json({"file": file})

    def _new_file(self, meta: dict[str, Any], mime: str, data: bytes) -> dict[str, Any]:
        file_id = uuid.uuid4().hex[:12]
        duration = media_duration(data)
        record = {
            "name": f"files/{file_id}",
            "displayName": meta.get("displayName", file_id),
            "mimeType": mime,
            "sizeBytes": str(len(data)),
            "createTime": _now(),
            "updateTime": _now(),
            "expirationTime": _now(48),
            "sha256Hash": base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode(),
            "uri": f"{self.url}/v1beta/files/{file_id}",
            "state": "PROCESSING",
            "videoMetadata": {"videoDuration": f"{duration:.3f}s"},
        }
        with self._lock:
            self.files[file_id] = {"record": record, "polls": 0, "duration": duration}
        return dict(record)

    def _file_get(self, request: Request) -> Response:
        with self._lock:
            entry = self.files.get(request.match["id"])
            if entry is None:
                return self._not_found("File")
            record = entry["record"]
            entry["polls"] += 1
            if record["state"] == "PROCESSING" and entry["polls"] >= self.processing_polls:
                if self.file_failure:
                    record.update(state="FAILED", error={"code": 3, "message": self.file_failure})
                else:
                    record["state"] = "ACTIVE"
                record["updateTime"] = _now()
            return Response.json(record)

    def _file_delete(self, request: Request) -> Response:
        with self._lock:
            if self.files.pop(request.match["id"], None) is None:
                return self._not_found("File")
        return Response.json({})

    def _download(self, request: Request) -> Response:
        data = self.videos.get(request.match["id"])
        if data is None:
            return self._not_found("File")
        return Response(200, data, "video/mp4", zero_tail=self.video_padding_bytes)

    # -- generateContent ----------------------------------------------------------------

    def _take_block(self, route: str) -> bool:
        with self._lock:
            if self._blocked[route] > 0:
                self._blocked[route] -= 1
                return True
        return False

    def _generate(self, request: Request) -> Response:
        body = request.json()
        model = request.match["model"]
        config = body.get("generationConfig") or {}
        parts = [p for c in body.get("contents") or [] for p in c.get("parts") or []]
        text = "\n".join(p.get("text", "") for p in parts if "text" in p)
        prompt_tokens = max(1, len(text) // 4)
        if self._take_block("generate"):
            return Response.json(
                {
                    "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                    "usageMetadata": {
                        "promptTokenCount": prompt_tokens,
                        "totalTokenCount": prompt_tokens,
                    },
                    "modelVersion": model,
                }
            )
        answer_parts: list[dict[str, Any]]
        modalities = config.get("responseModalities") or []
        properties = (config.get("responseSchema") or {}).get("properties") or {}
        if any(m in _IMAGE_MODALITY for m in modalities):
            png = image_bytes(1024, 1024, color_for(text))
            answer_parts = [
                {"text": "Here is the image."},
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}},
            ]
        elif "translations" in properties:
            payload = _embedded_json(text, "texts")
            target = payload.get("target_language", "xx")
            answer = {"translations": [f"[{target}] {t}" for t in payload.get("texts", [])]}
            answer_parts = [{"text": json.dumps(answer)}]
        elif "score" in properties:
            error = self._check_files(parts)
            if error is not None:
                return error
            transcript = text.split("Transcript of the audio:", 1)[1] if "Transcript of the audio:" in text else ""
            score = video_score(0, len(transcript.split()))
            videos = [p["fileData"]["fileUri"].rsplit("/", 1)[-1] for p in parts if "fileData" in p]
            seconds = sum(self.files[v]["duration"] for v in videos if v in self.files)
            words = len(transcript.split())
            score["summary"] = f"Reviewed {len(videos)} video(s), {seconds:.1f} s, and {words} transcript words."
            answer_parts = [{"text": json.dumps(score)}]
        else:
            answer_parts = [{"text": "ok"}]
        output_tokens = sum(len(p.get("text", "")) // 4 for p in answer_parts) + 1
        return Response.json(
            {
                "candidates": [
                    {
                        "content": {"parts": answer_parts, "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": output_tokens,
                    "totalTokenCount": prompt_tokens + output_tokens,
                },
                "modelVersion": model,
            }
        )

    def _check_files(self, parts: list[dict[str, Any]]) -> Response | None:
        for part in parts:
            if "fileData" not in part:
                continue
            file_id = str(part["fileData"].get("fileUri", "")).rsplit("/", 1)[-1]
            entry = self.files.get(file_id)
            if entry is None:
                return self.error_response(
                    Fault(
                        None,
                        403,
                        message=f"File {file_id} does not exist or you do not have permission",
                    ),
                    None,
                )
            if entry["record"]["state"] != "ACTIVE":
                return self.error_response(
                    Fault(
                        None,
                        400,
                        message=f"The File {file_id} is not in an ACTIVE state and usage is not allowed.",
                    ),
                    None,
                )
        return None

    # -- Veo ----------------------------------------------------------------------------

    def _predict(self, request: Request) -> Response:
        body = request.json()
        model = request.match["model"]
        params = body.get("parameters") or {}
        op_id = uuid.uuid4().hex[:12]
        with self._lock:
            self.operations[op_id] = {
                "model": model,
                "polls": 0,
                "cancelled": False,
                "blocked": self._blocked["predict"] > 0,
                "seconds": float(params.get("durationSeconds") or 8),
                "aspect": str(params.get("aspectRatio") or "16:9"),
            }
            if self._blocked["predict"] > 0:
                self._blocked["predict"] -= 1
        return Response.json({"name": f"models/{model}/operations/{op_id}"})

    def _operation_get(self, request: Request) -> Response:
        op_id = request.match["op"]
        name = f"models/{request.match['model']}/operations/{op_id}"
        with self._lock:
            op = self.operations.get(op_id)
            if op is None:
                return self._not_found("Operation")
            op["polls"] += 1
            done = op["cancelled"] or op["polls"] >= self.operation_polls
        if not done:
            return Response.json({"name": name, "done": False})
        if op["cancelled"]:
            return Response.json(
                {
                    "name": name,
                    "done": True,
                    "error": {"code": 1, "message": "Operation was cancelled."},
                }
            )
        kind = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
        if op["blocked"]:
            result = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["The prompt could not be submitted: it violates the usage guidelines."],
            }
        else:
            file_id = f"video{op_id}"
            if file_id not in self.videos:
                width, height = (1280, 720) if op["aspect"] == "16:9" else (720, 1280)
                self.videos[file_id] = mp4_bytes(width, height, op["seconds"])
            result = {"generatedSamples": [{"video": {"uri": f"{self.url}/v1beta/files/{file_id}:download?alt=media"}}]}
        return Response.json(
            {
                "name": name,
                "done": True,
                "response": {"@type": kind, "generateVideoResponse": result},
            }
        )

    def _operation_cancel(self, request: Request) -> Response:
        with self._lock:
            op = self.operations.get(request.match["op"])
            if op is None:
                return self._not_found("Operation")
            op["cancelled"] = True
        return Response.json({})


def _embedded_json(text: str, key: str) -> dict[str, Any]:
    """The first JSON object inside ``text`` that has ``key``."""
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char != "{":
            continue
        try:
            value, _ = decoder.raw_decode(text[index:])
        except ValueError:
            continue
        if isinstance(value, dict) and key in value:
            return value
    return {}
