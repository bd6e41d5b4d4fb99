"""The subtitle service as the runtime runs it (``mediatasks serve subtitle``)."""

from mediatasks.media_service import MediaService
from mediatasks.subtitle.handlers import generate_subtitles
from mediatasks.subtitle.servicer import SubtitleServicer
from mediatasks.v1 import subtitle_pb2_grpc

SERVICE = MediaService(
    name="subtitle",
    grpc_service="mediatasks.v1.SubtitleService",
    add_to_server=subtitle_pb2_grpc.add_SubtitleServiceServicer_to_server,
    make_servicer=SubtitleServicer,
    make_handlers=lambda parts: {"subtitle_generation": generate_subtitles},
)
