"""ImageService: validates image requests and queues them."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.image.generation import check_generation_request
from mediatasks.image.ops import operations_of
from mediatasks.media_service import MediaParts
from mediatasks.v1 import image_pb2_grpc

OUTPUT_FORMATS = ("", "png", "jpeg", "jpg", "webp", "gif")
MAX_OPERATIONS = 20


class ImageServicer(image_pb2_grpc.ImageServiceServicer):
    def __init__(self, parts: MediaParts) -> None:
        self.parts = parts

    async def GenerateImage(self, request, context):
        provider = check_generation_request(request, self.parts.providers)
        return await self.parts.submitter.submit(request, context, provider=provider, model=request.model)

    async def TransformImage(self, request, context):
        await self.parts.submitter.check_input(request.image_url, field="image_url")
        if len(request.operations) > MAX_OPERATIONS:
            raise invalid_input(f"at most {MAX_OPERATIONS} operations", field="operations")
        if request.output_format.lower() not in OUTPUT_FORMATS:
            raise invalid_input("output_format must be png, jpeg, webp or gif", field="output_format")
        if request.quality and not 1 <= request.quality <= 100:
            raise invalid_input("quality must be between 1 and 100", field="quality")
        operations_of(request)  # INVALID_INPUT for an unknown op or missing sizes
        return await self.parts.submitter.submit(request, context)
