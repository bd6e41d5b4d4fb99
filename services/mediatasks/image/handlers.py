"""Image jobs that run locally (Pillow)."""

from __future__ import annotations

import asyncio

from mediatasks.core.worker import JobContext, JobResult, fetch_input
from mediatasks.image.ops import operations_of
from mediatasks.image.transforms import DEFAULT_QUALITY, transform_image
from mediatasks.v1 import image_pb2

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


async def transform(ctx: JobContext) -> JobResult:
    """The ``image_transform`` job."""
    request = ctx.input(image_pb2.TransformImageRequest)
    source = await fetch_input(ctx, request.image_url, "source")
    await ctx.progress(30, "transforming")
    data, content_type, width, height = await asyncio.to_thread(
        transform_image,
        source,
        operations=operations_of(request),
        quality=request.quality or DEFAULT_QUALITY,
    )
    await ctx.progress(90, "uploading")
    extension = _EXTENSIONS.get(content_type, "bin")
    artifact = await ctx.artifacts.put_bytes(
        data, content_type=content_type, filename=f"image.{extension}", owner=ctx.owner, role="image"
    )
    result = image_pb2.TransformImageResult(image=artifact, width=width, height=height, format=extension)
    return JobResult(result=result, artifacts=[artifact])
