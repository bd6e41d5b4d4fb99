from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackgroundTask(_message.Message):
    __slots__ = ("task_id", "name", "task_type", "status", "progress", "stage", "priority", "payload", "result", "error", "retry_count", "max_retries", "artifacts", "metadata", "queue_position", "created_at", "started_at", "updated_at", "completed_at", "next_retry_at", "estimated_completion", "attempt")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    name: str
    task_type: str
    status: str
    progress: float
    stage: str
    priority: str
    payload: _struct_pb2.Struct
    result: _struct_pb2.Struct
    error: _common_pb2.TaskError
    retry_count: int
    max_retries: int
    artifacts: _containers.RepeatedCompositeFieldContainer[_common_pb2.Artifact]
    metadata: _struct_pb2.Struct
    queue_position: int
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    next_retry_at: _timestamp_pb2.Timestamp
    estimated_completion: _timestamp_pb2.Timestamp
    attempt: int
    def __init__(self, task_id: _Optional[str] = ..., name: _Optional[str] = ..., task_type: _Optional[str] = ..., status: _Optional[str] = ..., progress: _Optional[float] = ..., stage: _Optional[str] = ..., priority: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ..., retry_count: _Optional[int] = ..., max_retries: _Optional[int] = ..., artifacts: _Optional[_Iterable[_Union[_common_pb2.Artifact, _Mapping]]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., queue_position: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., next_retry_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_completion: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class BackgroundInput(_message.Message):
    __slots__ = ("name", "payload")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    name: str
    payload: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class BackgroundResult(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Struct
    def __init__(self, result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SubmitTaskRequest(_message.Message):
    __slots__ = ("name", "task_type", "priority", "payload", "metadata", "webhook_url", "webhook_secret")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    name: str
    task_type: str
    priority: str
    payload: _struct_pb2.Struct
    metadata: _struct_pb2.Struct
    webhook_url: str
    webhook_secret: str
    def __init__(self, name: _Optional[str] = ..., task_type: _Optional[str] = ..., priority: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ...) -> None: ...

class SubmitDocumentProcessingRequest(_message.Message):
    __slots__ = ("document_id", "content", "chunk_size", "chunk_overlap", "priority", "metadata")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    content: str
    chunk_size: int
    chunk_overlap: int
    priority: str
    metadata: _struct_pb2.Struct
    def __init__(self, document_id: _Optional[str] = ..., content: _Optional[str] = ..., chunk_size: _Optional[int] = ..., chunk_overlap: _Optional[int] = ..., priority: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SubmitWebhookDeliveryRequest(_message.Message):
    __slots__ = ("webhook_url", "data", "headers", "sign_payload", "priority")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    SIGN_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    webhook_url: str
    data: _struct_pb2.Struct
    headers: _containers.ScalarMap[str, str]
    sign_payload: bool
    priority: str
    def __init__(self, webhook_url: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., headers: _Optional[_Mapping[str, str]] = ..., sign_payload: bool = ..., priority: _Optional[str] = ...) -> None: ...

class SubmitN8nSyncRequest(_message.Message):
    __slots__ = ("sync_type", "data", "priority")
    SYNC_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    sync_type: str
    data: _struct_pb2.Struct
    priority: str
    def __init__(self, sync_type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., priority: _Optional[str] = ...) -> None: ...

class ProcessDocumentsBulkRequest(_message.Message):
    __slots__ = ("documents", "priority")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[SubmitDocumentProcessingRequest]
    priority: str
    def __init__(self, documents: _Optional[_Iterable[_Union[SubmitDocumentProcessingRequest, _Mapping]]] = ..., priority: _Optional[str] = ...) -> None: ...

class ProcessDocumentsBulkResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BulkItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BulkItemResult, _Mapping]]] = ...) -> None: ...

class BulkItemResult(_message.Message):
    __slots__ = ("index", "document_id", "task", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    document_id: str
    task: BackgroundTask
    error: _common_pb2.TaskError
    def __init__(self, index: _Optional[int] = ..., document_id: _Optional[str] = ..., task: _Optional[_Union[BackgroundTask, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ...) -> None: ...

class GetBackgroundTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetBackgroundTaskLogsRequest(_message.Message):
    __slots__ = ("task_id", "limit")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    limit: int
    def __init__(self, task_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class BackgroundTaskLogs(_message.Message):
    __slots__ = ("task_id", "logs")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    logs: _containers.RepeatedCompositeFieldContainer[BackgroundLogEntry]
    def __init__(self, task_id: _Optional[str] = ..., logs: _Optional[_Iterable[_Union[BackgroundLogEntry, _Mapping]]] = ...) -> None: ...

class BackgroundLogEntry(_message.Message):
    __slots__ = ("timestamp", "level", "message", "attempt")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    level: str
    message: str
    attempt: int
    def __init__(self, timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., level: _Optional[str] = ..., message: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class StreamBackgroundTaskRequest(_message.Message):
    __slots__ = ("task_id", "after_sequence")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    after_sequence: int
    def __init__(self, task_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class BackgroundTaskUpdate(_message.Message):
    __slots__ = ("event_type", "sequence", "task")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    sequence: int
    task: BackgroundTask
    def __init__(self, event_type: _Optional[str] = ..., sequence: _Optional[int] = ..., task: _Optional[_Union[BackgroundTask, _Mapping]] = ...) -> None: ...

class CancelBackgroundTaskRequest(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetQueueStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("all_owners", "queues", "pending_by_priority", "workers")
    class PendingByPriorityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class WorkersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ALL_OWNERS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    PENDING_BY_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    all_owners: bool
    queues: _containers.RepeatedCompositeFieldContainer[QueueStat]
    pending_by_priority: _containers.ScalarMap[str, int]
    workers: _containers.ScalarMap[str, int]
    def __init__(self, all_owners: bool = ..., queues: _Optional[_Iterable[_Union[QueueStat, _Mapping]]] = ..., pending_by_priority: _Optional[_Mapping[str, int]] = ..., workers: _Optional[_Mapping[str, int]] = ...) -> None: ...

class QueueStat(_message.Message):
    __slots__ = ("task_type", "priority", "pending", "running", "oldest_pending_age_seconds")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    priority: str
    pending: int
    running: int
    oldest_pending_age_seconds: float
    def __init__(self, task_type: _Optional[str] = ..., priority: _Optional[str] = ..., pending: _Optional[int] = ..., running: _Optional[int] = ..., oldest_pending_age_seconds: _Optional[float] = ...) -> None: ...

class CleanupQueueRequest(_message.Message):
    __slots__ = ("max_age_days",)
    MAX_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    max_age_days: int
    def __init__(self, max_age_days: _Optional[int] = ...) -> None: ...

class CleanupQueueResponse(_message.Message):
    __slots__ = ("deleted_tasks", "deleted_artifacts", "all_owners")
    DELETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    DELETED_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    ALL_OWNERS_FIELD_NUMBER: _ClassVar[int]
    deleted_tasks: int
    deleted_artifacts: int
    all_owners: bool
    def __init__(self, deleted_tasks: _Optional[int] = ..., deleted_artifacts: _Optional[int] = ..., all_owners: bool = ...) -> None: ...

class GetBackgroundHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackgroundHealth(_message.Message):
    __slots__ = ("status", "dependencies", "workers", "types_without_workers")
    class DependenciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class WorkersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    TYPES_WITHOUT_WORKERS_FIELD_NUMBER: _ClassVar[int]
    status: str
    dependencies: _containers.ScalarMap[str, str]
    workers: _containers.ScalarMap[str, int]
    types_without_workers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., dependencies: _Optional[_Mapping[str, str]] = ..., workers: _Optional[_Mapping[str, int]] = ..., types_without_workers: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTaskTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTaskTypesResponse(_message.Message):
    __slots__ = ("task_types",)
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    task_types: _containers.RepeatedCompositeFieldContainer[TaskTypeSpec]
    def __init__(self, task_types: _Optional[_Iterable[_Union[TaskTypeSpec, _Mapping]]] = ...) -> None: ...

class RetryPolicySpec(_message.Message):
    __slots__ = ("max_retries", "base_delay_seconds", "backoff_factor", "max_delay_seconds")
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    BASE_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_retries: int
    base_delay_seconds: float
    backoff_factor: float
    max_delay_seconds: float
    def __init__(self, max_retries: _Optional[int] = ..., base_delay_seconds: _Optional[float] = ..., backoff_factor: _Optional[float] = ..., max_delay_seconds: _Optional[float] = ...) -> None: ...

class TaskTypeSpec(_message.Message):
    __slots__ = ("name", "description", "payload_schema", "default_priority", "retry", "builtin", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    payload_schema: _struct_pb2.Struct
    default_priority: str
    retry: RetryPolicySpec
    builtin: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., payload_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., default_priority: _Optional[str] = ..., retry: _Optional[_Union[RetryPolicySpec, _Mapping]] = ..., builtin: bool = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterTaskTypesRequest(_message.Message):
    __slots__ = ("task_types",)
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    task_types: _containers.RepeatedCompositeFieldContainer[TaskTypeSpec]
    def __init__(self, task_types: _Optional[_Iterable[_Union[TaskTypeSpec, _Mapping]]] = ...) -> None: ...

class RegisterTaskTypesResponse(_message.Message):
    __slots__ = ("task_types",)
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    task_types: _containers.RepeatedCompositeFieldContainer[TaskTypeSpec]
    def __init__(self, task_types: _Optional[_Iterable[_Union[TaskTypeSpec, _Mapping]]] = ...) -> None: ...

class ScheduleDailyRequest(_message.Message):
    __slots__ = ("name", "payload", "hour_utc", "minute", "priority", "run_now")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HOUR_UTC_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RUN_NOW_FIELD_NUMBER: _ClassVar[int]
    name: str
    payload: _struct_pb2.Struct
    hour_utc: int
    minute: int
    priority: str
    run_now: bool
    def __init__(self, name: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., hour_utc: _Optional[int] = ..., minute: _Optional[int] = ..., priority: _Optional[str] = ..., run_now: bool = ...) -> None: ...

class DailySchedule(_message.Message):
    __slots__ = ("schedule_id", "name", "task_type", "payload", "hour_utc", "minute", "priority", "next_run_at", "last_run_at", "last_task_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HOUR_UTC_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    name: str
    task_type: str
    payload: _struct_pb2.Struct
    hour_utc: int
    minute: int
    priority: str
    next_run_at: _timestamp_pb2.Timestamp
    last_run_at: _timestamp_pb2.Timestamp
    last_task_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., name: _Optional[str] = ..., task_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., hour_utc: _Optional[int] = ..., minute: _Optional[int] = ..., priority: _Optional[str] = ..., next_run_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_run_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_task_id: _Optional[str] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[DailySchedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[DailySchedule, _Mapping]]] = ...) -> None: ...

class ScheduleRef(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...
