"""gRPC clients one service uses to call another, with deadlines and internal credentials."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from mediatasks.core.auth import INTERNAL_HEADER, OWNER_HEADER
from mediatasks.core.coalescing import Pending
from mediatasks.core.errors import DOMAIN, MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.v1 import tasks_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

# Requests one batch call to the registry carries at most (StartAttempts, CompleteTasks,
# CreateTasks).
REGISTRY_BATCH_LIMIT = 50
# How long the registry waits for each request of a batch call: one still running then
# (held up by a lock of its own: its owner's, its row's) is answered ANSWER_ALONE, and the
# caller sends it again alone (every batched request is idempotent), so it holds up
# neither the others of its batch nor the batches behind it.
BATCH_PATIENCE_SECONDS = 1.0
ANSWER_ALONE = "ANSWER_ALONE"
# How long a caller's batch may be in flight before its next batch goes anyway.
BATCH_OVERLAP_SECONDS = 0.05

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30000),
    # Spread calls over every address a name resolves to (headless Services, replica
    # lists); a dead replica is skipped by the balancer instead of failing calls.
    ("grpc.lb_policy_name", "round_robin"),
]


def channel_target(address: str) -> str:
    """A gRPC target for ``host:port`` or a comma-separated list of replicas' IP addresses."""
    if "," not in address or address.startswith(("ipv4:", "ipv6:", "dns:")):
        return address
    return "ipv4:" + ",".join(part.strip() for part in address.split(","))


_CODES = {code.value[0]: code for code in grpc.StatusCode}
# Outlives the call that met it: the same call is expected to work later.
_RETRYABLE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def error_from_status(
    status: status_pb2.Status, *, http_status: int | None = None, message: str | None = None
) -> MediaTasksError:
    """Rebuild the project error (reason, metadata, retry delay) another service sent as
    google.rpc.Status: in a failed call's trailers, or as one answer of a batch call."""
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    reason, metadata, retry_after = code.name, {}, None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(info) and info.domain == DOMAIN:
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(retry):
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    return MediaTasksError(
        code,
        reason,
        status.message if message is None else message,
        # A RetryInfo says the callee expects the same call to work later (a full owner limit).
        retryable=retry_after is not None or code in _RETRYABLE_CODES,
        metadata=metadata,
        http_status=http_status,
        retry_after_seconds=retry_after,
    )


def error_from_rpc(exc: grpc.aio.AioRpcError) -> MediaTasksError:
    """Rebuild the project error (reason, metadata) that another service raised."""
    status, http_status = status_pb2.Status(code=exc.code().value[0]), None
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):  # "-bin" values are bytes
            status = status_pb2.Status.FromString(value)
        elif key == "x-http-status":
            http_status = int(value)
    # The call's own code and details: a status a proxy or the library made has no details.
    status.code = exc.code().value[0]
    return error_from_status(status, http_status=http_status, message=exc.details() or "")


def _name(method: Callable[..., Any]) -> str:
    path = getattr(method, "_method", b"")
    return path.decode().rsplit("/", 1)[-1] if isinstance(path, bytes) else str(path or method)


async def retry_unavailable(
    attempt: Callable[[], Awaitable[T]], name: str, *, retries: int = 0, retry_for: float = 0.0
) -> T:
    """``attempt()``, tried again with backoff while it raises UNAVAILABLE, ``retries``
    times or for ``retry_for`` seconds, whichever allows more; any other error at once."""
    delay = 0.2
    give_up_at = time.monotonic() + retry_for
    tries = 0
    while True:
        try:
            return await attempt()
        except MediaTasksError as error:
            tries += 1
            again = tries <= retries or time.monotonic() + delay < give_up_at
            if error.code != grpc.StatusCode.UNAVAILABLE or not again:
                raise
            log.warning("%s unavailable (%s), retrying in %.1fs", name, error.message, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 2.0)


def answer_alone(pending: Pending[Any, Any], call: Callable[[], Awaitable[Any]]) -> None:
    """Answer ``pending`` (a request its batch call left ANSWER_ALONE) with ``call()``, a
    call of its own, in the background."""

    async def alone() -> None:
        try:
            pending.resolve(await call())
        except MediaTasksError as error:
            pending.fail(error)

    task = asyncio.create_task(alone())
    _alone.add(task)
    task.add_done_callback(_alone.discard)


_alone: set[asyncio.Task[None]] = set()


def answered_alone(status: status_pb2.Status) -> bool:
    """Whether a batch call's answer ``status`` says: send this request alone."""
    return status.code != 0 and error_from_status(status).reason == ANSWER_ALONE


class InternalChannel:
    """A channel to another mediatasks service, sending the internal credentials."""

    def __init__(self, settings: Settings, address: str) -> None:
        self.settings = settings
        self.channel = grpc.aio.insecure_channel(channel_target(address), options=_CHANNEL_OPTIONS)

    def metadata(self, owner: str | None = None) -> tuple[tuple[str, str], ...]:
        items = [(INTERNAL_HEADER, self.settings.internal_token)]
        if owner:
            items.append((OWNER_HEADER, owner))
        return tuple(items)

    async def call(
        self,
        method: Callable[..., Any],
        request: Any,
        *,
        owner: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_for: float = 0.0,
        extra_metadata: tuple[tuple[str, str], ...] = (),
    ) -> Any:
        """Call with a deadline; UNAVAILABLE (the service or its database restarting) is
        retried with backoff ``retries`` times, or for ``retry_for`` seconds, whichever
        allows more. Only calls that are idempotent may ask for retries."""

        async def once() -> Any:
            try:
                return await method(
                    request,
                    metadata=self.metadata(owner) + extra_metadata,
                    timeout=timeout or self.settings.rpc_timeout_seconds,
                )
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from exc

        return await retry_unavailable(once, _name(method), retries=retries, retry_for=retry_for)

    async def call_batch(
        self,
        method: Callable[..., Any],
        request: Any,
        batch: list[Pending[Any, Any]],
        alone: Callable[[Any], Awaitable[Any]],
        *,
        retry_for: float,
    ) -> Any | None:
        """The batch call ``method(request)`` carrying the requests of ``batch``; None when
        the callee predates it (UNIMPLEMENTED: a rolling upgrade that has not reached it
        yet), each request of ``batch`` then answered by ``alone(request)``."""
        try:
            return await self.call(method, request, retry_for=retry_for)
        except MediaTasksError as error:
            if error.code != grpc.StatusCode.UNIMPLEMENTED:
                raise
        for pending in batch:
            answer_alone(pending, partial(alone, pending.item))
        return None

    async def close(self) -> None:
        await self.channel.close()


class RegistryClient(InternalChannel):
    """The TaskRegistry as seen by media services and their workers."""

    def __init__(self, settings: Settings, address: str | None = None) -> None:
        super().__init__(settings, address or settings.registry_addr)
        self.stub = tasks_pb2_grpc.TaskRegistryStub(self.channel)
