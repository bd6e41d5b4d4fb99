from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(_message.Message):
    __slots__ = ("task_id", "task_type", "status", "progress", "stage", "priority", "owner", "input", "output", "error", "attempt", "max_attempts", "provider", "model", "cost_usd", "cache_hit", "webhook_url", "metadata", "queue_position", "queued_reason", "cancel_confirmed", "created_at", "started_at", "updated_at", "completed_at", "estimated_completion", "expires_at", "next_attempt_at", "id")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Task.Status]
        QUEUED: _ClassVar[Task.Status]
        PROCESSING: _ClassVar[Task.Status]
        COMPLETED: _ClassVar[Task.Status]
        FAILED: _ClassVar[Task.Status]
        CANCELLED: _ClassVar[Task.Status]
    STATUS_UNSPECIFIED: Task.Status
    QUEUED: Task.Status
    PROCESSING: Task.Status
    COMPLETED: Task.Status
    FAILED: Task.Status
    CANCELLED: Task.Status
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    QUEUED_REASON_FIELD_NUMBER: _ClassVar[int]
    CANCEL_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_type: str
    status: Task.Status
    progress: int
    stage: str
    priority: str
    owner: str
    input: _any_pb2.Any
    output: TaskOutput
    error: _common_pb2.TaskError
    attempt: int
    max_attempts: int
    provider: str
    model: str
    cost_usd: float
    cache_hit: bool
    webhook_url: str
    metadata: _struct_pb2.Struct
    queue_position: int
    queued_reason: str
    cancel_confirmed: bool
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    estimated_completion: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    id: str
    def __init__(self, task_id: _Optional[str] = ..., task_type: _Optional[str] = ..., status: _Optional[_Union[Task.Status, str]] = ..., progress: _Optional[int] = ..., stage: _Optional[str] = ..., priority: _Optional[str] = ..., owner: _Optional[str] = ..., input: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., output: _Optional[_Union[TaskOutput, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ..., attempt: _Optional[int] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., cost_usd: _Optional[float] = ..., cache_hit: bool = ..., webhook_url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., queue_position: _Optional[int] = ..., queued_reason: _Optional[str] = ..., cancel_confirmed: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_completion: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class TaskOutput(_message.Message):
    __slots__ = ("result", "artifacts", "result_truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: _any_pb2.Any
    artifacts: _containers.RepeatedCompositeFieldContainer[_common_pb2.Artifact]
    result_truncated: bool
    def __init__(self, result: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., artifacts: _Optional[_Iterable[_Union[_common_pb2.Artifact, _Mapping]]] = ..., result_truncated: bool = ...) -> None: ...

class CreateTasksRequest(_message.Message):
    __slots__ = ("submissions",)
    SUBMISSIONS_FIELD_NUMBER: _ClassVar[int]
    submissions: _containers.RepeatedCompositeFieldContainer[TaskSubmission]
    def __init__(self, submissions: _Optional[_Iterable[_Union[TaskSubmission, _Mapping]]] = ...) -> None: ...

class TaskSubmission(_message.Message):
    __slots__ = ("task", "origin")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    task: CreateTaskRequest
    origin: str
    def __init__(self, task: _Optional[_Union[CreateTaskRequest, _Mapping]] = ..., origin: _Optional[str] = ...) -> None: ...

class CreateTasksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TaskSubmissionResult]
    def __init__(self, results: _Optional[_Iterable[_Union[TaskSubmissionResult, _Mapping]]] = ...) -> None: ...

class TaskSubmissionResult(_message.Message):
    __slots__ = ("task", "error", "http_status")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    task: Task
    error: _status_pb2.Status
    http_status: int
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., http_status: _Optional[int] = ...) -> None: ...

class CreateTaskRequest(_message.Message):
    __slots__ = ("task_type", "input", "owner", "options", "idempotency_key", "cache_key", "provider")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    input: _any_pb2.Any
    owner: str
    options: _common_pb2.SubmitOptions
    idempotency_key: str
    cache_key: str
    provider: str
    def __init__(self, task_type: _Optional[str] = ..., input: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., owner: _Optional[str] = ..., options: _Optional[_Union[_common_pb2.SubmitOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., cache_key: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class BatchCreateRequest(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[BatchItem]
    def __init__(self, tasks: _Optional[_Iterable[_Union[BatchItem, _Mapping]]] = ...) -> None: ...

class BatchItem(_message.Message):
    __slots__ = ("task_type", "input_data", "priority")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_DATA_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    input_data: _struct_pb2.Struct
    priority: str
    def __init__(self, task_type: _Optional[str] = ..., input_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., priority: _Optional[str] = ...) -> None: ...

class BatchCreateResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchItemResult, _Mapping]]] = ...) -> None: ...

class BatchItemResult(_message.Message):
    __slots__ = ("index", "task", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    task: Task
    error: _common_pb2.TaskError
    def __init__(self, index: _Optional[int] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("task_type", "status", "limit", "offset", "page_token", "sort")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    status: str
    limit: int
    offset: int
    page_token: str
    sort: str
    def __init__(self, task_type: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., page_token: _Optional[str] = ..., sort: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("total", "limit", "offset", "items", "next_page_token")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    total: int
    limit: int
    offset: int
    items: _containers.RepeatedCompositeFieldContainer[Task]
    next_page_token: str
    def __init__(self, total: _Optional[int] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., items: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelTaskRequest(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class RetryTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResultRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResultResponse(_message.Message):
    __slots__ = ("task_id", "status", "result", "error", "progress", "stage", "task")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    status: Task.Status
    result: TaskOutput
    error: _common_pb2.TaskError
    progress: int
    stage: str
    task: Task
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[_Union[Task.Status, str]] = ..., result: _Optional[_Union[TaskOutput, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ..., progress: _Optional[int] = ..., stage: _Optional[str] = ..., task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class WaitTaskRequest(_message.Message):
    __slots__ = ("task_id", "timeout_seconds")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    timeout_seconds: float
    def __init__(self, task_id: _Optional[str] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class WatchTaskRequest(_message.Message):
    __slots__ = ("task_id", "after_sequence")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    after_sequence: int
    def __init__(self, task_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ("event_id", "sequence", "event_type", "task_id", "timestamp", "task", "log_entries")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    sequence: int
    event_type: str
    task_id: str
    timestamp: _timestamp_pb2.Timestamp
    task: Task
    log_entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, event_id: _Optional[str] = ..., sequence: _Optional[int] = ..., event_type: _Optional[str] = ..., task_id: _Optional[str] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., log_entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class GetTaskLogsRequest(_message.Message):
    __slots__ = ("task_id", "limit")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    limit: int
    def __init__(self, task_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetTaskLogsResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class LogEntry(_message.Message):
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

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("delivery_id", "task_id", "event_type", "state", "attempts", "next_attempt_at")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    task_id: str
    event_type: str
    state: str
    attempts: _containers.RepeatedCompositeFieldContainer[WebhookAttempt]
    next_attempt_at: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., task_id: _Optional[str] = ..., event_type: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[WebhookAttempt, _Mapping]]] = ..., next_attempt_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WebhookAttempt(_message.Message):
    __slots__ = ("timestamp", "status_code", "error", "duration_seconds")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    status_code: int
    error: str
    duration_seconds: float
    def __init__(self, timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class RedeliverWebhookRequest(_message.Message):
    __slots__ = ("delivery_id",)
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    def __init__(self, delivery_id: _Optional[str] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("task_type", "limit")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    limit: int
    def __init__(self, task_type: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    def __init__(self, items: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("task_id", "task_type", "reason", "deliveries", "dead_lettered_at")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_AT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_type: str
    reason: str
    deliveries: int
    dead_lettered_at: _timestamp_pb2.Timestamp
    def __init__(self, task_id: _Optional[str] = ..., task_type: _Optional[str] = ..., reason: _Optional[str] = ..., deliveries: _Optional[int] = ..., dead_lettered_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequeueDeadLetterRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetStatisticsRequest(_message.Message):
    __slots__ = ("window_seconds",)
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    def __init__(self, window_seconds: _Optional[float] = ...) -> None: ...

class Statistics(_message.Message):
    __slots__ = ("window_seconds", "total_tasks", "success_rate", "by_type", "cost_by_provider", "queue_by_priority", "by_status")
    class CostByProviderEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class QueueByPriorityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    COST_BY_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_BY_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    total_tasks: int
    success_rate: float
    by_type: _containers.RepeatedCompositeFieldContainer[TypeStatistics]
    cost_by_provider: _containers.ScalarMap[str, float]
    queue_by_priority: _containers.ScalarMap[str, int]
    by_status: _containers.ScalarMap[str, int]
    def __init__(self, window_seconds: _Optional[float] = ..., total_tasks: _Optional[int] = ..., success_rate: _Optional[float] = ..., by_type: _Optional[_Iterable[_Union[TypeStatistics, _Mapping]]] = ..., cost_by_provider: _Optional[_Mapping[str, float]] = ..., queue_by_priority: _Optional[_Mapping[str, int]] = ..., by_status: _Optional[_Mapping[str, int]] = ...) -> None: ...

class TypeStatistics(_message.Message):
    __slots__ = ("task_type", "total", "completed", "failed", "mean_duration_seconds", "p95_duration_seconds")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    MEAN_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    P95_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    total: int
    completed: int
    failed: int
    mean_duration_seconds: float
    p95_duration_seconds: float
    def __init__(self, task_type: _Optional[str] = ..., total: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., mean_duration_seconds: _Optional[float] = ..., p95_duration_seconds: _Optional[float] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderStatus]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderStatus, _Mapping]]] = ...) -> None: ...

class ProviderStatus(_message.Message):
    __slots__ = ("name", "vendor", "task_types", "configured", "settings", "health", "success_rate", "mean_latency_seconds", "cost_usd", "service", "models")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    vendor: str
    task_types: _containers.RepeatedScalarFieldContainer[str]
    configured: bool
    settings: _containers.RepeatedScalarFieldContainer[str]
    health: str
    success_rate: float
    mean_latency_seconds: float
    cost_usd: float
    service: str
    models: _containers.RepeatedCompositeFieldContainer[ModelOffering]
    def __init__(self, name: _Optional[str] = ..., vendor: _Optional[str] = ..., task_types: _Optional[_Iterable[str]] = ..., configured: bool = ..., settings: _Optional[_Iterable[str]] = ..., health: _Optional[str] = ..., success_rate: _Optional[float] = ..., mean_latency_seconds: _Optional[float] = ..., cost_usd: _Optional[float] = ..., service: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelOffering, _Mapping]]] = ...) -> None: ...

class ModelOffering(_message.Message):
    __slots__ = ("task_type", "model", "default", "capabilities")
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    task_type: str
    model: str
    default: bool
    capabilities: _struct_pb2.Struct
    def __init__(self, task_type: _Optional[str] = ..., model: _Optional[str] = ..., default: bool = ..., capabilities: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Health(_message.Message):
    __slots__ = ("status", "dependencies", "workers", "version")
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
    VERSION_FIELD_NUMBER: _ClassVar[int]
    status: str
    dependencies: _containers.ScalarMap[str, str]
    workers: _containers.ScalarMap[str, int]
    version: str
    def __init__(self, status: _Optional[str] = ..., dependencies: _Optional[_Mapping[str, str]] = ..., workers: _Optional[_Mapping[str, int]] = ..., version: _Optional[str] = ...) -> None: ...

class StartAttemptRequest(_message.Message):
    __slots__ = ("task_id", "delivery_count", "worker_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_COUNT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    delivery_count: int
    worker_id: str
    def __init__(self, task_id: _Optional[str] = ..., delivery_count: _Optional[int] = ..., worker_id: _Optional[str] = ...) -> None: ...

class StartAttemptResponse(_message.Message):
    __slots__ = ("proceed", "attempt", "task", "reason")
    PROCEED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    proceed: bool
    attempt: int
    task: Task
    reason: str
    def __init__(self, proceed: bool = ..., attempt: _Optional[int] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReportProgressRequest(_message.Message):
    __slots__ = ("task_id", "attempt", "progress", "stage", "log_lines")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    LOG_LINES_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    progress: int
    stage: str
    log_lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., progress: _Optional[int] = ..., stage: _Optional[str] = ..., log_lines: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportProgressResponse(_message.Message):
    __slots__ = ("cancel_requested",)
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    cancel_requested: bool
    def __init__(self, cancel_requested: bool = ...) -> None: ...

class CompleteTaskRequest(_message.Message):
    __slots__ = ("task_id", "attempt", "output", "provider", "model", "cost_usd", "log_lines", "start", "run_seconds")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LOG_LINES_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RUN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    output: TaskOutput
    provider: str
    model: str
    cost_usd: float
    log_lines: _containers.RepeatedScalarFieldContainer[str]
    start: StartAttemptRequest
    run_seconds: float
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., output: _Optional[_Union[TaskOutput, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., cost_usd: _Optional[float] = ..., log_lines: _Optional[_Iterable[str]] = ..., start: _Optional[_Union[StartAttemptRequest, _Mapping]] = ..., run_seconds: _Optional[float] = ...) -> None: ...

class StartAttemptsRequest(_message.Message):
    __slots__ = ("attempts",)
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    attempts: _containers.RepeatedCompositeFieldContainer[StartAttemptRequest]
    def __init__(self, attempts: _Optional[_Iterable[_Union[StartAttemptRequest, _Mapping]]] = ...) -> None: ...

class StartAttemptsResponse(_message.Message):
    __slots__ = ("attempts",)
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    attempts: _containers.RepeatedCompositeFieldContainer[StartAttemptResponse]
    def __init__(self, attempts: _Optional[_Iterable[_Union[StartAttemptResponse, _Mapping]]] = ...) -> None: ...

class CompleteTasksRequest(_message.Message):
    __slots__ = ("completions",)
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[CompleteTaskRequest]
    def __init__(self, completions: _Optional[_Iterable[_Union[CompleteTaskRequest, _Mapping]]] = ...) -> None: ...

class CompleteTasksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_status_pb2.Status]
    def __init__(self, results: _Optional[_Iterable[_Union[_status_pb2.Status, _Mapping]]] = ...) -> None: ...

class FailTaskRequest(_message.Message):
    __slots__ = ("task_id", "attempt", "error", "provider", "cost_usd", "cancel_confirmed")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CANCEL_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    error: _common_pb2.TaskError
    provider: str
    cost_usd: float
    cancel_confirmed: bool
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.TaskError, _Mapping]] = ..., provider: _Optional[str] = ..., cost_usd: _Optional[float] = ..., cancel_confirmed: bool = ...) -> None: ...

class FailTaskResponse(_message.Message):
    __slots__ = ("task", "requeued", "retry_delay_seconds")
    TASK_FIELD_NUMBER: _ClassVar[int]
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    RETRY_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    task: Task
    requeued: bool
    retry_delay_seconds: float
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., requeued: bool = ..., retry_delay_seconds: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("task_id", "task_type", "owner", "priority", "task")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_type: str
    owner: str
    priority: str
    task: Task
    def __init__(self, task_id: _Optional[str] = ..., task_type: _Optional[str] = ..., owner: _Optional[str] = ..., priority: _Optional[str] = ..., task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...
