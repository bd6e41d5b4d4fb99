from google.api import annotations_pb2 as _annotations_pb2
from mediatasks.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetWebhookStatusRequest(_message.Message):
    __slots__ = ("delivery_id",)
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    def __init__(self, delivery_id: _Optional[str] = ...) -> None: ...

class GetWebhookStatisticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WebhookStatistics(_message.Message):
    __slots__ = ("total", "by_state")
    class ByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_STATE_FIELD_NUMBER: _ClassVar[int]
    total: int
    by_state: _containers.ScalarMap[str, int]
    def __init__(self, total: _Optional[int] = ..., by_state: _Optional[_Mapping[str, int]] = ...) -> None: ...

class GetCacheStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CacheStats(_message.Message):
    __slots__ = ("entries", "hits", "cached_tasks")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TASKS_FIELD_NUMBER: _ClassVar[int]
    entries: int
    hits: int
    cached_tasks: int
    def __init__(self, entries: _Optional[int] = ..., hits: _Optional[int] = ..., cached_tasks: _Optional[int] = ...) -> None: ...
