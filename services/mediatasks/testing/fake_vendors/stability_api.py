"""A loopback Stability AI gRPC generation service.

Implements ``GenerationService.Generate`` with the ``stability_sdk`` package's own
generated servicer base (``generation_pb2_grpc``), so the SDK's stub talks to it as to
``grpc.stability.ai``: one ``Answer`` per request holding ``samples`` PNG artifacts of the
requested size with their seeds. Scripted HTTP-style faults become gRPC statuses (429
``RESOURCE_EXHAUSTED``, 5xx ``UNAVAILABLE``/``INTERNAL``, 400 ``INVALID_ARGUMENT``,
401 ``UNAUTHENTICATED``); a rejected prompt is answered as Stability does, with a text
artifact whose ``finish_reason`` is ``FILTER``. Cancelled calls are recorded.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent import futures
from typing import Any, Self

import grpc
import stability_sdk.interfaces.gooseai.generation.generation_pb2 as generation
import stability_sdk.interfaces.gooseai.generation.generation_pb2_grpc as generation_grpc

from mediatasks.testing.fake_vendors._faults import Fault, RecordedCall, ScriptedFake
from mediatasks.testing.fake_vendors._media import color_for, image_bytes

log = logging.getLogger(__name__)

_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class _Servicer(generation_grpc.GenerationServiceServicer):
    def __init__(self, fake: FakeStability) -> None:
        self.fake = fake

    def Generate(self, request: generation.Request, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self.fake._generate(request, context)


class FakeStability(ScriptedFake):
    """Stability on loopback; ``host`` is what ``stability_host`` should be set to."""

    name = "stability"

    def __init__(self, *, api_key: str = "sk-fake-stability", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self._bind = f"{host}:{port}"
        self._host = host
        self._port = 0
        self._server: grpc.Server | None = None
        self._blocked = 0
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-stability"))
        generation_grpc.add_GenerationServiceServicer_to_server(_Servicer(self), server)
        self._port = server.add_insecure_port(self._bind)
        server.start()
        self._server = server
        log.info("fake stability listening on %s", self.host)
        return self

    def stop(self) -> None:
        self.script.released.set()
        if self._server is not None:
            self._server.stop(grace=0.5).wait(5)
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"{self._host}:{self._port}"

    def env(self) -> dict[str, str]:
        return {
            "MEDIATASKS_STABILITY_API_KEY": self.api_key,
            "MEDIATASKS_STABILITY_HOST": self.host,
        }

    def reject_content(self, *, route: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._blocked += times

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._blocked = 0

    # -- the RPC ----------------------------------------------------------------------

    def _generate(self, request: generation.Request, context: grpc.ServicerContext) -> Any:
        headers = {k: v for k, v in context.invocation_metadata()}
        self.script.record(
            RecordedCall(
                route="generate",
                method="Generate",
                path=f"/gooseai.GenerationService/Generate/{request.engine_id}",
                headers=headers,
                json={
                    "engine_id": request.engine_id,
                    "prompts": [(p.text, p.parameters.weight) for p in request.prompt],
                    "width": request.image.width,
                    "height": request.image.height,
                    "samples": request.image.samples,
                    "seed": list(request.image.seed),
                },
            )
        )
        fault = self.script.take("generate")
        if fault is not None and fault.hang_seconds > 0:
            if self._hang(context, fault.hang_seconds):
                self.script.record_abort("generate")
                return
        if fault is not None and fault.status:
            self._abort(context, fault)
        with self._lock:
            blocked = self._blocked > 0
            if blocked:
                self._blocked -= 1
        answer = generation.Answer(
            answer_id=str(uuid.uuid4()),
            request_id=request.request_id,
            received=int(time.time() * 1000),
            created=int(time.time() * 1000),
        )
        if blocked:
            answer.artifacts.append(
                generation.Artifact(
                    id=1,
                    type=generation.ARTIFACT_TEXT,
                    mime="text/plain",
                    text="Invalid prompts detected",
                    finish_reason=generation.FILTER,
                )
            )
            yield answer
            return
        width = request.image.width or 1024
        height = request.image.height or 1024
        seeds = list(request.image.seed) or [0]
        text = " ".join(p.text for p in request.prompt if p.text)
        for index in range(max(1, request.image.samples or 1)):
            seed = seeds[index % len(seeds)] + index
            answer.artifacts.append(
                generation.Artifact(
                    id=index,
                    type=generation.ARTIFACT_IMAGE,
                    mime="image/png",
                    binary=image_bytes(width, height, color_for(f"{text}/{seed}")),
                    seed=seed,
                    finish_reason=generation.STOP,
                    index=index,
                )
            )
        yield answer

    def _hang(self, context: grpc.ServicerContext, seconds: float) -> bool:
        ends = time.monotonic() + seconds
        generation = self.script.generation
        while time.monotonic() < ends:
            if not context.is_active():
                return True
            time.sleep(0.02)
            if self.script.hang_ended(generation):
                return False
        return False

    @staticmethod
    def _abort(context: grpc.ServicerContext, fault: Fault) -> None:
        code = _HTTP_TO_GRPC.get(fault.status, grpc.StatusCode.UNKNOWN)
        message = fault.message or {
            grpc.StatusCode.RESOURCE_EXHAUSTED: "rate limit exceeded, slow down",
            grpc.StatusCode.UNAUTHENTICATED: "invalid api key",
            grpc.StatusCode.INVALID_ARGUMENT: "invalid request",
        }.get(code, code.name.lower())
        context.abort(code, message)
