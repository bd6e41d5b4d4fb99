"""The image service as the runtime runs it (``mediatasks serve image``)."""

from __future__ import annotations

from functools import partial

from mediatasks.core.worker import JobHandler
from mediatasks.image.generation import generate
from mediatasks.image.handlers import transform
from mediatasks.image.servicer import ImageServicer
from mediatasks.media_service import MediaParts, MediaService
from mediatasks.v1 import image_pb2_grpc


def _handlers(parts: MediaParts) -> dict[str, JobHandler]:
    return {"image_transform": transform, "image_generation": partial(generate, parts.providers)}


SERVICE = MediaService(
    name="image",
    grpc_service="mediatasks.v1.ImageService",
    add_to_server=image_pb2_grpc.add_ImageServiceServicer_to_server,
    make_servicer=ImageServicer,
    make_handlers=_handlers,
)
