"""The video service as the runtime runs it (``mediatasks serve video``)."""

from mediatasks.media_service import MediaService
from mediatasks.v1 import video_pb2_grpc
from mediatasks.video import handlers
from mediatasks.video.servicer import VideoServicer


def _handlers(parts):
    from mediatasks.video.generation import generate

    return {
        "video_caption": handlers.caption,
        "video_img2vid": handlers.slideshow,
        "video_add_audio": handlers.mux_audio,
        "video_analysis": handlers.analyze,
        "video_generation": generate,
    }


SERVICE = MediaService(
    name="video",
    grpc_service="mediatasks.v1.VideoService",
    add_to_server=video_pb2_grpc.add_VideoServiceServicer_to_server,
    make_servicer=VideoServicer,
    make_handlers=_handlers,
)
