"""The submit path every media service shares: options, idempotency, sync wait, 202.

A media servicer validates its own request, then calls :meth:`Submitter.submit`; this
turns the request's top-level option fields into ``SubmitOptions``, asks the registry to
create the task (honouring ``Idempotency-Key``), holds the answer for ``Prefer: wait=N``
when asked, and sets the gateway's HTTP status to 202 while the task is not finished.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import partial

import grpc
from google.protobuf.message import Message

from mediatasks.core import topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.auth import caller
from mediatasks.core.catalog import kind_for_request
from mediatasks.core.clients import (
    BATCH_OVERLAP_SECONDS,
    REGISTRY_BATCH_LIMIT,
    RegistryClient,
    answer_alone,
    answered_alone,
    error_from_status,
    retry_unavailable,
)
from mediatasks.core.coalescing import Coalescer, Pending
from mediatasks.core.errors import invalid_input
from mediatasks.core.inputs import check_url, validate_ref
from mediatasks.core.limits import count_submitted_input
from mediatasks.core.options import check_webhook_events
from mediatasks.core.server import request_headers, request_origin, set_http_status
from mediatasks.core.settings import Settings
from mediatasks.v1 import common_pb2, tasks_pb2

OPTION_FIELDS = tuple(common_pb2.SubmitOptions.DESCRIPTOR.fields_by_name)
_OPTION_NAMES = frozenset(OPTION_FIELDS)
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait=(\d+(?:\.\d+)?)")
MAX_SYNC_WAIT = 60.0
_UNFINISHED = (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING)

# The headers Envoy forwards that name the origin the client called.
ORIGIN_HEADERS = ("x-forwarded-host", "x-forwarded-proto")

# The registry stores keys in a column of this width.
MAX_IDEMPOTENCY_KEY = 200


def options_of(request: Message) -> common_pb2.SubmitOptions:
    """The SubmitOptions carried at the top level of a media request (fields 100+)."""
    options = common_pb2.SubmitOptions()
    if "metadata" in request.DESCRIPTOR.fields_by_name:
        # Always present, even empty: the registry hashes the options' bytes for
        # idempotency, and a request must hash the same whichever replica served it.
        options.metadata.CopyFrom(request.metadata)  # type: ignore[attr-defined]
    # Only the other fields the request set: copying a default leaves a default (none of
    # them has presence), and most submits set one or two of the options.
    for field, value in request.ListFields():
        name = field.name
        if name not in _OPTION_NAMES or name == "metadata":
            continue
        if name == "webhook_events":
            options.webhook_events.extend(value)
        else:
            setattr(options, name, value)
    return options


def without_options(request: Message) -> bytes:
    """The request's own content, canonically serialised, for cache keys."""
    copy = type(request)()
    copy.CopyFrom(request)
    for name in OPTION_FIELDS:
        if name in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField(name)
    return copy.SerializeToString(deterministic=True)


def cache_key(task_type: str, request: Message, provider: str, model: str = "") -> str:
    digest = hashlib.sha256()
    for part in (task_type, provider, model):
        digest.update(part.encode() + b"\0")
    digest.update(without_options(request))
    return digest.hexdigest()


def prefer_wait(metadata: dict[str, str]) -> float:
    """Seconds asked for with ``Prefer: wait=N`` (0 when absent), at most 60."""
    match = _PREFER_WAIT.search(metadata.get("prefer", ""))
    if not match:
        return 0.0
    return min(float(match.group(1)), MAX_SYNC_WAIT)


class Submitter:
    """Creates tasks in the registry on behalf of a media service."""

    def __init__(self, settings: Settings, registry: RegistryClient, artifacts: ArtifactStore) -> None:
        self.settings = settings
        self.registry = registry
        self.artifacts = artifacts
        # Concurrent submits reach the registry as one CreateTasks call.
        self._creates: Coalescer[tasks_pb2.TaskSubmission, tasks_pb2.Task] = Coalescer(
            self._send_creates, REGISTRY_BATCH_LIMIT, overlap_after=BATCH_OVERLAP_SECONDS
        )

    async def _send_creates(self, batch: list[Pending[tasks_pb2.TaskSubmission, tasks_pb2.Task]]) -> None:
        """One CreateTasks call for ``batch``, sent again while the registry is away (each
        submission's idempotency key makes that safe); each answer its submit's."""
        response = await self.registry.call_batch(
            self.registry.stub.CreateTasks,
            tasks_pb2.CreateTasksRequest(submissions=[pending.item for pending in batch]),
            batch,
            self._create_alone,
            retry_for=self.settings.submit_retry_seconds,
        )
        if response is None:
            return
        for pending, result in zip(batch, response.results, strict=True):
            if answered_alone(result.error):
                answer_alone(pending, partial(self._create_alone, pending.item))
            elif result.error.code:
                pending.fail(error_from_status(result.error, http_status=result.http_status or None))
            else:
                pending.resolve(result.task)

    async def _create_alone(self, submission: tasks_pb2.TaskSubmission) -> tasks_pb2.Task:
        """CreateTask for a submit its batch call left to be sent alone (held up by a lock of
        its own owner's): its idempotency key answers it with the task the first try made."""
        origin: tuple[tuple[str, str], ...] = ()
        if submission.origin:
            proto, _, host = submission.origin.partition("://")
            origin = (("x-forwarded-proto", proto), ("x-forwarded-host", host))
        return await self.registry.call(
            self.registry.stub.CreateTask,
            submission.task,
            retry_for=self.settings.submit_retry_seconds,
            extra_metadata=origin,
        )

    async def check_input(self, ref: str, *, field: str, required: bool = True) -> None:
        """Submit-time check of an input reference: SSRF-safe URL or an owned artifact."""
        if not ref:
            if required:
                raise invalid_input(f"{field} is required (an https:// URL or an artifact id)", field=field)
            return
        size = await validate_ref(ref, self.settings, self.artifacts, caller().owner, field=field)
        count_submitted_input(size, self.settings, field=field)

    async def submit(
        self,
        request: Message,
        context: grpc.aio.ServicerContext,
        *,
        provider: str = "",
        model: str = "",
        cacheable: bool = True,
    ) -> tasks_pb2.Task:
        # The request's message type names its task type (the catalog keeps them unique).
        kind = kind_for_request(request)
        task_type = kind.task_type
        options = options_of(request)
        if not kind.provider_operations:
            for name in ("provider", "strategy"):
                if getattr(options, name):
                    # Accepted, it would be stored and shown but change nothing.
                    raise invalid_input(
                        f"{name}: {task_type} runs locally on this platform; there is no provider to choose",
                        field=name,
                    )
        priority = topology.priority_of(options.priority)
        if priority is None:
            names = ", ".join([*topology.PRIORITIES, *topology.PRIORITY_ALIASES])
            raise invalid_input(f"priority must be one of {names}", field="priority")
        options.priority = priority
        check_webhook_events(options)
        if options.webhook_url:
            await check_url(options.webhook_url, self.settings, field="webhook_url")
        metadata = request_headers(context)
        client_key = metadata.get("idempotency-key", "")
        if len(client_key) > MAX_IDEMPOTENCY_KEY or not client_key.isprintable():
            raise invalid_input(
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} printable characters", field="idempotency-key"
            )
        packed = tasks_pb2.CreateTaskRequest(
            task_type=task_type,
            owner=caller().owner,
            options=options,
            # Without a client key, a per-submit one still makes this service's own retries
            # (a registry replica dying after commit) return the task instead of a twin.
            idempotency_key=client_key or f"auto:{uuid.uuid4().hex}",
            provider=provider,
            cache_key=cache_key(task_type, request, provider, model) if cacheable else "",
        )
        packed.input.Pack(request)
        # The idempotency key makes this safe to repeat: a registry replica dying, or its
        # database restarting, costs the client a few seconds, not an error.
        # The gateway's forwarded origin lets the registry make absolute download links.
        origin = tuple((k, metadata[k]) for k in ORIGIN_HEADERS if metadata.get(k))
        submission = tasks_pb2.TaskSubmission(task=packed, origin=request_origin(context))
        # A refusal that may pass (a full queue: SERVER_BUSY) is tried again, as an outage is.
        task = await retry_unavailable(
            lambda: self._creates.submit(submission), "CreateTask", retry_for=self.settings.submit_retry_seconds
        )
        wait = prefer_wait(metadata)
        if wait and task.status in _UNFINISHED:
            task = await self.registry.call(
                self.registry.stub.WaitTask,
                tasks_pb2.WaitTaskRequest(task_id=task.task_id, timeout_seconds=wait),
                owner=caller().owner,
                timeout=wait + self.settings.rpc_timeout_seconds,
                extra_metadata=origin,
            )
        if task.status in _UNFINISHED:
            await set_http_status(context, 202)
        return task
