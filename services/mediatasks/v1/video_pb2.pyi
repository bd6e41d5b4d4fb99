from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from mediatasks.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateVideoRequest(_message.Message):
    __slots__ = ("prompt", "duration", "style", "fps", "resolution", "model", "image_url", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    duration: float
    style: str
    fps: int
    resolution: str
    model: str
    image_url: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, prompt: _Optional[str] = ..., duration: _Optional[float] = ..., style: _Optional[str] = ..., fps: _Optional[int] = ..., resolution: _Optional[str] = ..., model: _Optional[str] = ..., image_url: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class CaptionStyle(_message.Message):
    __slots__ = ("font_name", "font_size", "primary_color", "outline_color", "outline", "bold", "position", "margin_v")
    FONT_NAME_FIELD_NUMBER: _ClassVar[int]
    FONT_SIZE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_COLOR_FIELD_NUMBER: _ClassVar[int]
    OUTLINE_COLOR_FIELD_NUMBER: _ClassVar[int]
    OUTLINE_FIELD_NUMBER: _ClassVar[int]
    BOLD_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    MARGIN_V_FIELD_NUMBER: _ClassVar[int]
    font_name: str
    font_size: int
    primary_color: str
    outline_color: str
    outline: float
    bold: bool
    position: str
    margin_v: int
    def __init__(self, font_name: _Optional[str] = ..., font_size: _Optional[int] = ..., primary_color: _Optional[str] = ..., outline_color: _Optional[str] = ..., outline: _Optional[float] = ..., bold: bool = ..., position: _Optional[str] = ..., margin_v: _Optional[int] = ...) -> None: ...

class BurnCaptionsRequest(_message.Message):
    __slots__ = ("video_url", "subtitles_url", "subtitles", "style", "output_filename", "path", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_URL_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    video_url: str
    subtitles_url: str
    subtitles: str
    style: CaptionStyle
    output_filename: str
    path: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, video_url: _Optional[str] = ..., subtitles_url: _Optional[str] = ..., subtitles: _Optional[str] = ..., style: _Optional[_Union[CaptionStyle, _Mapping]] = ..., output_filename: _Optional[str] = ..., path: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class SlideImage(_message.Message):
    __slots__ = ("id", "image_url", "duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    image_url: str
    duration: float
    def __init__(self, id: _Optional[str] = ..., image_url: _Optional[str] = ..., duration: _Optional[float] = ...) -> None: ...

class ImagesToVideoRequest(_message.Message):
    __slots__ = ("images", "width", "height", "fps", "background", "output_filename", "one_video_per_image", "path", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    ONE_VIDEO_PER_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[SlideImage]
    width: int
    height: int
    fps: int
    background: str
    output_filename: str
    one_video_per_image: bool
    path: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, images: _Optional[_Iterable[_Union[SlideImage, _Mapping]]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[int] = ..., background: _Optional[str] = ..., output_filename: _Optional[str] = ..., one_video_per_image: bool = ..., path: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class AddAudioRequest(_message.Message):
    __slots__ = ("video_url", "audio_url", "mode", "keep_original_audio", "volume", "output_filename", "path", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    AUDIO_URL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    KEEP_ORIGINAL_AUDIO_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    video_url: str
    audio_url: str
    mode: str
    keep_original_audio: bool
    volume: float
    output_filename: str
    path: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, video_url: _Optional[str] = ..., audio_url: _Optional[str] = ..., mode: _Optional[str] = ..., keep_original_audio: bool = ..., volume: _Optional[float] = ..., output_filename: _Optional[str] = ..., path: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class AnalyzeVideoRequest(_message.Message):
    __slots__ = ("video_url", "subtitles_url", "target_aspect_ratios", "frame_count", "transcribe", "llm_score", "prompt", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_URL_FIELD_NUMBER: _ClassVar[int]
    TARGET_ASPECT_RATIOS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_FIELD_NUMBER: _ClassVar[int]
    LLM_SCORE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    video_url: str
    subtitles_url: str
    target_aspect_ratios: _containers.RepeatedScalarFieldContainer[str]
    frame_count: int
    transcribe: bool
    llm_score: bool
    prompt: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, video_url: _Optional[str] = ..., subtitles_url: _Optional[str] = ..., target_aspect_ratios: _Optional[_Iterable[str]] = ..., frame_count: _Optional[int] = ..., transcribe: bool = ..., llm_score: bool = ..., prompt: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class VideoResult(_message.Message):
    __slots__ = ("video", "duration_seconds", "width", "height", "fps", "slides", "videos")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SLIDES_FIELD_NUMBER: _ClassVar[int]
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Artifact
    duration_seconds: float
    width: int
    height: int
    fps: float
    slides: _containers.RepeatedCompositeFieldContainer[SlideTiming]
    videos: _containers.RepeatedCompositeFieldContainer[ImageVideo]
    def __init__(self, video: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., duration_seconds: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., slides: _Optional[_Iterable[_Union[SlideTiming, _Mapping]]] = ..., videos: _Optional[_Iterable[_Union[ImageVideo, _Mapping]]] = ...) -> None: ...

class ImageVideo(_message.Message):
    __slots__ = ("id", "image_url", "video", "duration_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    image_url: str
    video: _common_pb2.Artifact
    duration_seconds: float
    def __init__(self, id: _Optional[str] = ..., image_url: _Optional[str] = ..., video: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class SlideTiming(_message.Message):
    __slots__ = ("id", "image_url", "start_seconds", "end_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    image_url: str
    start_seconds: float
    end_seconds: float
    def __init__(self, id: _Optional[str] = ..., image_url: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ...) -> None: ...

class VideoAnalysisResult(_message.Message):
    __slots__ = ("report", "frames")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.Report
    frames: _containers.RepeatedCompositeFieldContainer[_common_pb2.Artifact]
    def __init__(self, report: _Optional[_Union[_common_pb2.Report, _Mapping]] = ..., frames: _Optional[_Iterable[_Union[_common_pb2.Artifact, _Mapping]]] = ...) -> None: ...
