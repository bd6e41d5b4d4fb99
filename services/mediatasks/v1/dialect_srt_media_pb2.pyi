from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SrtTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ListMySrtTasksRequest(_message.Message):
    __slots__ = ("include_completed",)
    INCLUDE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    include_completed: bool
    def __init__(self, include_completed: bool = ...) -> None: ...
