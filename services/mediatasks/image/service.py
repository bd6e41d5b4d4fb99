"""The image service as the runtime runs it (``mediatasks serve image``)."""

from mediatasks.image.handlers import transform
from mediatasks.image.servicer import ImageServicer
from mediatasks.media_service import MediaService
from mediatasks.v1 import image_pb2_grpc


def _handlers(parts):
    from mediatasks.image.generation import generate

    return {"image_transform": transform, "image_generation": generate}


SERVICE = MediaService(
    name="image",
    grpc_service="mediatasks.v1.ImageService",
    add_to_server=image_pb2_grpc.add_ImageServiceServicer_to_server,
    make_servicer=ImageServicer,
    make_handlers=_handlers,
)
