from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaptionJobRequest(_message.Message):
    __slots__ = ("url_video", "url_srt", "path", "output_filename", "webhook_url")
    URL_VIDEO_FIELD_NUMBER: _ClassVar[int]
    URL_SRT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    url_video: str
    url_srt: str
    path: str
    output_filename: str
    webhook_url: str
    def __init__(self, url_video: _Optional[str] = ..., url_srt: _Optional[str] = ..., path: _Optional[str] = ..., output_filename: _Optional[str] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class Img2VidImage(_message.Message):
    __slots__ = ("id", "image_url", "duracao")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    DURACAO_FIELD_NUMBER: _ClassVar[int]
    id: str
    image_url: str
    duracao: float
    def __init__(self, id: _Optional[str] = ..., image_url: _Optional[str] = ..., duracao: _Optional[float] = ...) -> None: ...

class Img2VidJobRequest(_message.Message):
    __slots__ = ("images", "path", "output_filename", "webhook_url")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Img2VidImage]
    path: str
    output_filename: str
    webhook_url: str
    def __init__(self, images: _Optional[_Iterable[_Union[Img2VidImage, _Mapping]]] = ..., path: _Optional[str] = ..., output_filename: _Optional[str] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class AddAudioJobRequest(_message.Message):
    __slots__ = ("url_video", "url_audio", "path", "output_filename", "webhook_url")
    URL_VIDEO_FIELD_NUMBER: _ClassVar[int]
    URL_AUDIO_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    url_video: str
    url_audio: str
    path: str
    output_filename: str
    webhook_url: str
    def __init__(self, url_video: _Optional[str] = ..., url_audio: _Optional[str] = ..., path: _Optional[str] = ..., output_filename: _Optional[str] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...
