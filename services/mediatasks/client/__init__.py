"""The mediatasks Python SDK: submit media jobs, follow them, move files.

``Client`` (sync) and ``AsyncClient`` speak REST through the gateway and need only
``httpx`` (``pip install 'mediatasks[client]'``); ``mediatasks.client.grpc_client`` offers
the same task calls over gRPC. Errors are :class:`ApiError` subclasses chosen by the
server's ErrorInfo reason; :func:`verify_webhook` checks a delivery's signature.
"""

from mediatasks.client.aio import AsyncClient
from mediatasks.client.errors import (
    ApiError,
    ConcurrencyLimit,
    Conflict,
    FailedPrecondition,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServerBusy,
    TaskExpired,
    TaskFailed,
    TransferError,
    Unauthenticated,
    Unavailable,
    WaitTimeout,
)
from mediatasks.client.models import Artifact, LogEntry, Task, TaskError, TaskEvent, TaskPage, Upload
from mediatasks.client.rest import Client
from mediatasks.client.retry import RetryPolicy
from mediatasks.client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "ApiError",
    "Artifact",
    "AsyncClient",
    "Client",
    "ConcurrencyLimit",
    "Conflict",
    "FailedPrecondition",
    "IdempotencyKeyReused",
    "InvalidInput",
    "LogEntry",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RetryPolicy",
    "ServerBusy",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskExpired",
    "TaskFailed",
    "TaskPage",
    "TransferError",
    "Unauthenticated",
    "Unavailable",
    "Upload",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
