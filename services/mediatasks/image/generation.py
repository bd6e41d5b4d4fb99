"""Image generation jobs on the cloud providers (OpenAI, Stability AI)."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.core.worker import JobContext, JobResult
from mediatasks.providers.base import IMAGE_GENERATION
from mediatasks.providers.contracts import ImageGenerationRequest
from mediatasks.providers.jobs import check_provider_request, pinned_provider, run_provider_call
from mediatasks.providers.operations import generate_image
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import image_pb2

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def _wanted(request: image_pb2.GenerateImageRequest) -> ImageGenerationRequest:
    if not request.prompt.strip():
        raise invalid_input("prompt is required", field="prompt")
    if request.n and not 1 <= request.n <= 4:
        raise invalid_input("n must be between 1 and 4", field="n")
    if request.output_format and request.output_format.lower() not in ("png", "jpeg", "webp"):
        raise invalid_input("output_format must be png, jpeg or webp", field="output_format")
    return ImageGenerationRequest(
        prompt=request.prompt,
        size=request.size or "1024x1024",
        n=request.n or 1,
        quality=request.quality or None,
        style=request.style or None,
        model=request.model or None,
        negative_prompt=request.negative_prompt or None,
        seed=request.seed or None,
        output_format=(request.output_format or "png").lower(),
    )


def check_generation_request(request: image_pb2.GenerateImageRequest, providers: ProviderRouter) -> str:
    """Submit-time check: returns the pinned provider ("" when the strategy chooses)."""
    return check_provider_request(
        providers,
        IMAGE_GENERATION,
        request.provider,
        _wanted(request).requirements(),
        strategy=request.strategy,
    )


async def generate(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``image_generation`` job (the service binds ``providers``)."""
    request = ctx.input(image_pb2.GenerateImageRequest)
    wanted = _wanted(request)
    images = await run_provider_call(
        ctx,
        lambda call: generate_image(
            providers,
            wanted,
            ctx=call,
            strategy=request.strategy or None,
            only=pinned_provider(request.provider),
        ),
    )
    artifacts = []
    for index, image in enumerate(images.images):
        extension = _EXTENSIONS.get(image.content_type, "png")
        artifacts.append(
            await ctx.artifacts.put_bytes(
                image.data,
                content_type=image.content_type,
                filename=f"image_{index + 1}.{extension}",
                owner=ctx.owner,
                role="image",
            )
        )
    result = image_pb2.GenerateImageResult(images=artifacts, revised_prompt=images.revised_prompt or "")
    return JobResult(
        result=result,
        artifacts=artifacts,
        provider=images.provider,
        model=images.model,
        cost_usd=images.cost_usd,
    )
