"""Stability AI image generation through the official ``stability-sdk`` (gRPC).

The SDK opens the channel (``stability_sdk.api.open_channel``: TLS with the key as a bearer
token on ``:443`` hosts) and builds the generation request (``Context.generate(...,
return_request=True)``); the adapter then calls the SDK's ``GenerationServiceStub`` itself,
because the SDK's own loops neither take a deadline nor expose the call to cancel. The
streaming call is drained in a worker thread with a gRPC deadline; cancelling the calling
task cancels the RPC (the server sees the stream reset; Stability sends no confirmation,
so ``cancel_confirmed`` is ``False``).

This SDK is deprecated upstream (successor: Stability's REST API); it stays behind this
one adapter so that a swap touches nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import grpc
import stability_sdk.interfaces.gooseai.generation.generation_pb2 as generation
import stability_sdk.interfaces.gooseai.generation.generation_pb2_grpc as generation_grpc
from stability_sdk import api as stability_api

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.settings import Settings
from mediatasks.providers.base import IMAGE_GENERATION, CallContext, CostModel, Offering, Provider, ProviderSpec
from mediatasks.providers.contracts import GeneratedImage, GeneratedImages, ImageGenerationRequest
from mediatasks.providers.vendors import errors
from mediatasks.providers.vendors._calls import guarded

log = logging.getLogger(__name__)

NAME = "stability"
DEFAULT_HOST = "grpc.stability.ai:443"
DEFAULT_ENGINE = "stable-diffusion-xl-1024-v1-0"
PRICE_PER_IMAGE = 0.004
SDXL_SIZES = (
    "1024x1024", "1152x896", "896x1152", "1216x832", "832x1216",
    "1344x768", "768x1344", "1536x640", "640x1536",
)  # fmt: skip
STYLE_PRESETS = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)  # fmt: skip

_TRANSIENT_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
}
_AUTH_CODES = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
_POLICY_WORDS = ("content policy", "nsfw", "classifier", "inappropriate", "safety")

SPEC = ProviderSpec(
    name=NAME,
    vendor="stability",
    required_settings=("stability_api_key",),
    optional_settings=("stability_host",),
    offerings=(
        Offering(
            IMAGE_GENERATION,
            DEFAULT_ENGINE,
            quality=0.75,
            speed=0.8,
            cost=CostModel(PRICE_PER_IMAGE, "image"),
            capabilities={
                "sizes": list(SDXL_SIZES),
                "output_formats": ["png"],
                "max_images": 10,
                "negative_prompt": True,
                "seed": True,
                "styles": list(STYLE_PRESETS),
            },
        ),
    ),
)


class StabilityProvider(Provider):
    """Stability adapter; one channel per provider instance, opened on first use."""

    spec = SPEC

    def __init__(self, settings: Settings, *, engine: str = DEFAULT_ENGINE) -> None:
        super().__init__(settings)
        self.engine = engine
        self._channel: grpc.Channel | None = None
        self._stub: generation_grpc.GenerationServiceStub | None = None

    @property
    def stub(self) -> generation_grpc.GenerationServiceStub:
        if self._stub is None:
            host = self.settings.stability_host or DEFAULT_HOST
            self._channel = stability_api.open_channel(host, self.settings.require("stability_api_key"))
            self._stub = generation_grpc.GenerationServiceStub(self._channel)
        return self._stub

    async def aclose(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel, self._stub = None, None

    def _map(self, error: BaseException) -> MediaTasksError | None:
        return map_grpc_error(error, self.settings.env_name("stability_api_key"))

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext | None = None) -> GeneratedImages:
        """Generate ``request.n`` PNG images with SDXL."""
        width, height = _parse_size(request.size)
        engine = request.model or self.engine
        prompts, weights = [request.prompt], [1.0]
        if request.negative_prompt:
            prompts.append(request.negative_prompt)
            weights.append(-1.0)
        sdk_context = stability_api.Context(stub=self.stub, generate_engine_id=engine)
        grpc_request = sdk_context.generate(
            prompts,
            weights,
            width=width,
            height=height,
            seed=request.seed or 0,
            samples=request.n,
            preset=request.style if request.style in STYLE_PRESETS else None,
            return_request=True,
        )
        grpc_request.request_id = str(uuid.uuid4())
        deadline = self.deadline(ctx)
        if ctx is not None:
            ctx.vendor_job_id = grpc_request.request_id
            await ctx.progress(5.0, "generating")
        call = self.stub.Generate(grpc_request, timeout=deadline, wait_for_ready=False)
        answers = await guarded(NAME, deadline, _drain(call), self._map, ctx=ctx)
        images, seeds = _images_from(answers)
        return GeneratedImages(
            images=images,
            provider=NAME,
            model=engine,
            cost_usd=round(PRICE_PER_IMAGE * len(images), 6),
            seeds=seeds,
        )


async def _drain(call: Any) -> list[generation.Answer]:
    """Read every answer of a server-streaming call in a thread; cancel the RPC if the
    awaiting task is cancelled or times out, which also ends the thread."""
    try:
        return await asyncio.to_thread(list, call)
    except asyncio.CancelledError:
        call.cancel()
        raise


def _images_from(answers: list[generation.Answer]) -> tuple[list[GeneratedImage], list[int]]:
    images: list[GeneratedImage] = []
    seeds: list[int] = []
    for answer in answers:
        for artifact in answer.artifacts:
            if artifact.finish_reason == generation.FILTER:
                what = "the prompt" if artifact.type == generation.ARTIFACT_TEXT else "an image"
                raise errors.content_policy(NAME, f"{what} was filtered", vendor_code="FILTER")
            if artifact.type == generation.ARTIFACT_CLASSIFICATIONS:
                if artifact.classifier.realized_action == generation.ACTION_OBFUSCATE:
                    raise errors.content_policy(NAME, "the image was obfuscated", vendor_code="OBFUSCATE")
                continue
            if artifact.type == generation.ARTIFACT_IMAGE:
                if artifact.finish_reason == generation.ERROR:
                    raise errors.unavailable(NAME, "generation ended with an error artifact")
                images.append(GeneratedImage(bytes(artifact.binary), artifact.mime or "image/png"))
                seeds.append(int(artifact.seed))
    if not images:
        raise errors.bad_response(NAME, "no image artifact in the answer")
    return images, seeds


def map_grpc_error(error: BaseException, env_var: str) -> MediaTasksError | None:
    """The project error for a failed Stability gRPC call."""
    if not isinstance(error, grpc.RpcError) or not hasattr(error, "code"):
        return None
    code = error.code()
    details = error.details() or code.name
    lowered = details.lower()
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.timed_out(NAME)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        if "message larger than max" in lowered:
            return errors.rejected(NAME, details, vendor_code=code.name)
        if "credit" in lowered or "balance" in lowered:
            return errors.rejected(NAME, details, vendor_code="OUT_OF_CREDITS")
        return errors.rate_limited(NAME, details, vendor_code=code.name)
    if code in _TRANSIENT_CODES:
        return errors.unavailable(NAME, details, status=code.name)
    if code in _AUTH_CODES:
        return errors.auth_failed(NAME, details, env_var, status=code.name)
    if any(word in lowered for word in _POLICY_WORDS):
        return errors.content_policy(NAME, details, status=code.name)
    return errors.rejected(NAME, details, status=code.name)


def _parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise invalid_input(f"image size must be WIDTHxHEIGHT, not {size!r}") from None
    if width <= 0 or height <= 0 or width % 64 or height % 64:
        raise invalid_input(f"Stability sizes are multiples of 64 (got {size})")
    return width, height
