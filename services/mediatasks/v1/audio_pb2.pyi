from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from mediatasks.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TranscribeRequest(_message.Message):
    __slots__ = ("audio_url", "language", "model", "response_format", "speaker_labels", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    AUDIO_URL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_LABELS_FIELD_NUMBER: _ClassVar[int]
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
    audio_url: str
    language: str
    model: str
    response_format: str
    speaker_labels: bool
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
    def __init__(self, audio_url: _Optional[str] = ..., language: _Optional[str] = ..., model: _Optional[str] = ..., response_format: _Optional[str] = ..., speaker_labels: bool = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class Utterance(_message.Message):
    __slots__ = ("speaker", "start", "end", "text")
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    speaker: str
    start: float
    end: float
    text: str
    def __init__(self, speaker: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class TranscriptionResult(_message.Message):
    __slots__ = ("text", "words", "language", "duration_seconds", "format", "content", "transcript", "utterances")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    text: str
    words: _containers.RepeatedCompositeFieldContainer[_common_pb2.Word]
    language: str
    duration_seconds: float
    format: str
    content: str
    transcript: _common_pb2.Artifact
    utterances: _containers.RepeatedCompositeFieldContainer[Utterance]
    def __init__(self, text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[_common_pb2.Word, _Mapping]]] = ..., language: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., format: _Optional[str] = ..., content: _Optional[str] = ..., transcript: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., utterances: _Optional[_Iterable[_Union[Utterance, _Mapping]]] = ...) -> None: ...
