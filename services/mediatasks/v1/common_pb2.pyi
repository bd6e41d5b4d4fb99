from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Artifact(_message.Message):
    __slots__ = ("artifact_id", "content_type", "size_bytes", "sha256", "filename", "url", "role", "download_url", "download_url_expires_at", "path")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    content_type: str
    size_bytes: int
    sha256: str
    filename: str
    url: str
    role: str
    download_url: str
    download_url_expires_at: _timestamp_pb2.Timestamp
    path: str
    def __init__(self, artifact_id: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., filename: _Optional[str] = ..., url: _Optional[str] = ..., role: _Optional[str] = ..., download_url: _Optional[str] = ..., download_url_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., path: _Optional[str] = ...) -> None: ...

class SubmitOptions(_message.Message):
    __slots__ = ("priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
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
    def __init__(self, priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class TaskError(_message.Message):
    __slots__ = ("code", "reason", "message", "retryable")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    code: str
    reason: str
    message: str
    retryable: bool
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., retryable: bool = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("text", "start", "end", "confidence", "speaker")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: float
    end: float
    confidence: float
    speaker: str
    def __init__(self, text: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., confidence: _Optional[float] = ..., speaker: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _struct_pb2.Struct
    def __init__(self, fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
