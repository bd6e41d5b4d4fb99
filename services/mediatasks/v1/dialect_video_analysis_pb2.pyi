from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeVideoDialectRequest(_message.Message):
    __slots__ = ("video_url", "subtitles_url", "target_aspect_ratios", "frame_count", "transcribe", "llm_score", "prompt", "webhook_url", "webhook_secret", "events", "priority", "metadata")
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_URL_FIELD_NUMBER: _ClassVar[int]
    TARGET_ASPECT_RATIOS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_FIELD_NUMBER: _ClassVar[int]
    LLM_SCORE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    video_url: str
    subtitles_url: str
    target_aspect_ratios: _containers.RepeatedScalarFieldContainer[str]
    frame_count: int
    transcribe: bool
    llm_score: bool
    prompt: str
    webhook_url: str
    webhook_secret: str
    events: _containers.RepeatedScalarFieldContainer[str]
    priority: str
    metadata: _struct_pb2.Struct
    def __init__(self, video_url: _Optional[str] = ..., subtitles_url: _Optional[str] = ..., target_aspect_ratios: _Optional[_Iterable[str]] = ..., frame_count: _Optional[int] = ..., transcribe: bool = ..., llm_score: bool = ..., prompt: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., priority: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetVideoTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class CancelVideoTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ListVideoTasksRequest(_message.Message):
    __slots__ = ("status", "limit", "offset", "sort")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    offset: int
    sort: str
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., sort: _Optional[str] = ...) -> None: ...
