"""The audio service as the runtime runs it (``mediatasks serve audio``)."""

from mediatasks.audio.servicer import AudioServicer
from mediatasks.audio.transcription import transcribe_job
from mediatasks.media_service import MediaService
from mediatasks.v1 import audio_pb2_grpc

SERVICE = MediaService(
    name="audio",
    grpc_service="mediatasks.v1.AudioService",
    add_to_server=audio_pb2_grpc.add_AudioServiceServicer_to_server,
    make_servicer=AudioServicer,
    make_handlers=lambda parts: {"audio_transcription": transcribe_job},
)
