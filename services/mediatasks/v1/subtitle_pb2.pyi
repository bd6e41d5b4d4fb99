from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from mediatasks.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateSubtitlesRequest(_message.Message):
    __slots__ = ("text", "media_url", "subtitles_url", "source_language", "target_language", "format", "timing_mode", "max_chars_per_line", "max_lines", "min_cue_duration", "max_cue_duration", "words_per_minute", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URL_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_URL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TIMING_MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_PER_LINE_FIELD_NUMBER: _ClassVar[int]
    MAX_LINES_FIELD_NUMBER: _ClassVar[int]
    MIN_CUE_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_CUE_DURATION_FIELD_NUMBER: _ClassVar[int]
    WORDS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
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
    text: str
    media_url: str
    subtitles_url: str
    source_language: str
    target_language: str
    format: str
    timing_mode: str
    max_chars_per_line: int
    max_lines: int
    min_cue_duration: float
    max_cue_duration: float
    words_per_minute: float
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
    def __init__(self, text: _Optional[str] = ..., media_url: _Optional[str] = ..., subtitles_url: _Optional[str] = ..., source_language: _Optional[str] = ..., target_language: _Optional[str] = ..., format: _Optional[str] = ..., timing_mode: _Optional[str] = ..., max_chars_per_line: _Optional[int] = ..., max_lines: _Optional[int] = ..., min_cue_duration: _Optional[float] = ..., max_cue_duration: _Optional[float] = ..., words_per_minute: _Optional[float] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class Cue(_message.Message):
    __slots__ = ("start", "end", "text")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    text: str
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class Paragraph(_message.Message):
    __slots__ = ("start", "end", "text", "cues")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CUES_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    text: str
    cues: _containers.RepeatedCompositeFieldContainer[Cue]
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ..., cues: _Optional[_Iterable[_Union[Cue, _Mapping]]] = ...) -> None: ...

class SubtitleResult(_message.Message):
    __slots__ = ("format", "content", "cue_count", "duration_seconds", "subtitles", "paragraphs", "language")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CUE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    PARAGRAPHS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    format: str
    content: str
    cue_count: int
    duration_seconds: float
    subtitles: _common_pb2.Artifact
    paragraphs: _containers.RepeatedCompositeFieldContainer[Paragraph]
    language: str
    def __init__(self, format: _Optional[str] = ..., content: _Optional[str] = ..., cue_count: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., subtitles: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., paragraphs: _Optional[_Iterable[_Union[Paragraph, _Mapping]]] = ..., language: _Optional[str] = ...) -> None: ...
