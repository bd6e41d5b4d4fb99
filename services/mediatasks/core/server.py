"""The gRPC server every service runs: interceptor, health, metrics, NATS, graceful drain.

A service's entry point builds its servicers and job handlers and hands them to
:class:`ServiceRuntime`; everything else (listening, credentials, error statuses with
``google.rpc.ErrorInfo``, Prometheus, JetStream topology, SIGTERM) happens here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from mediatasks.core import metrics, topology
from mediatasks.core.auth import ApiKeyStore, Authenticator, Principal, current_principal
from mediatasks.core.errors import DOMAIN, MediaTasksError, dependency_outage, invalid_input
from mediatasks.core.nats_conn import connect
from mediatasks.core.ratelimit import OwnerRateLimiter
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

HTTP_STATUS_HEADER = "x-http-status"
# Calls that answer without credentials (load balancers and uptime checks).
PUBLIC_METHODS = frozenset(
    {
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/mediatasks.v1.TaskRegistry/GetHealth",
        "/mediatasks.v1.BackgroundService/GetHealth",
        # A signed, expiring download link is its own credential (checked by the servicer).
        "/mediatasks.v1.ArtifactService/GetSignedArtifact",
        # Reflection describes the API (what the protos already publish), never data, so
        # grpcurl, Postman, evans and grpcui can discover it before they hold a key.
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    }
)


def error_status(error: MediaTasksError) -> status_pb2.Status:
    """``error`` as google.rpc.Status with one ErrorInfo, and a RetryInfo when the error
    says how long to wait."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    status.details.add().Pack(info)
    if error.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromTimedelta(datetime.timedelta(seconds=error.retry_after_seconds))
        status.details.add().Pack(retry)
    return status


def status_details(error: MediaTasksError) -> bytes:
    """The ``grpc-status-details-bin`` payload of ``error``."""
    return error_status(error).SerializeToString()


async def abort_with_error(context: grpc.aio.ServicerContext, error: MediaTasksError) -> None:
    trailing: list[tuple[str, str | bytes]] = [("grpc-status-details-bin", status_details(error))]
    if error.http_status:
        trailing.append((HTTP_STATUS_HEADER, str(error.http_status)))
    if error.retry_after_seconds is not None:
        # Becomes the REST answer's Retry-After header (429 and 503 clients look for it).
        trailing.append(("retry-after", str(max(1, math.ceil(error.retry_after_seconds)))))
    await context.abort(error.code, error.message, trailing_metadata=tuple(trailing))


class _Interceptor(grpc.aio.ServerInterceptor):
    """Authenticates, maps project errors to statuses, and measures every call."""

    def __init__(self, service: str, authenticator: Authenticator, limiter: OwnerRateLimiter) -> None:
        self.service = service
        self.authenticator = authenticator
        self.limiter = limiter
        # Each method's wrapped handler, made on its first call: the same for every call.
        self._wrapped: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def _serving(self, method_path: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Around one call: credentials in, project errors out as statuses, metrics."""
        method = method_path.rsplit("/", 1)[-1]
        started = time.perf_counter()
        code = "OK"
        try:
            metadata = request_headers(context)
            principal: Principal | None
            try:
                principal = await self.authenticator.authenticate(metadata)
            except MediaTasksError:
                principal = self.authenticator.trusted_proxy_user(method_path, metadata)
                if principal is None and method_path not in PUBLIC_METHODS:
                    raise
            current_principal.set(principal)
            if principal is not None and not principal.internal:
                self.limiter.check(principal.owner)
            yield
        except MediaTasksError as error:
            code = error.code.name
            await abort_with_error(context, error)
        except grpc.aio.AbortError:
            code = context.code().name if context.code() else "ABORTED"
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as exc:
            failure = dependency_outage(exc)
            if failure is not None:
                log.warning("%s: %s", method, failure.message)
            else:
                log.exception("%s failed", method)
                failure = MediaTasksError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error; see the service log")
            code = failure.code.name
            metrics.ERRORS.labels(self.service, failure.reason).inc()
            await abort_with_error(context, failure)
        finally:
            metrics.RPC_REQUESTS.labels(self.service, method, code).inc()
            metrics.RPC_DURATION.labels(self.service, method).observe(time.perf_counter() - started)

    async def intercept_service(self, continuation, handler_call_details):
        method_path = handler_call_details.method
        wrapped = self._wrapped.get(method_path)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method_path] = self._wrap(method_path, handler)
        return wrapped

    def _wrap(self, method_path: str, handler: Any) -> Any:

        decode = _tolerant(handler.request_deserializer)

        if handler.unary_unary:
            behavior = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                async with self._serving(method_path, context):
                    return await behavior(_decoded(request), context)

            return grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=decode, response_serializer=handler.response_serializer
            )

        if handler.unary_stream:
            stream_behavior = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with self._serving(method_path, context):
                    async for item in stream_behavior(_decoded(request), context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=decode, response_serializer=handler.response_serializer
            )

        if handler.stream_unary:
            client_stream_behavior = handler.stream_unary

            async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
                async with self._serving(method_path, context):
                    return await client_stream_behavior(_each_decoded(requests), context)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, request_deserializer=decode, response_serializer=handler.response_serializer
            )
        return handler


@dataclass(frozen=True)
class _Undecodable:
    """A request body that is no valid message (invalid UTF-8 in a string, nesting past the
    parser's limit): grpc would answer UNKNOWN; it becomes INVALID_ARGUMENT instead."""

    reason: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return _Undecodable(str(exc))

    return decode


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise invalid_input(f"the request could not be decoded: {request.reason}")
    return request


async def _each_decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


# The headers of the call being served, read once: over REST they are every header the
# client sent, and building the dict three times a call (credentials, idempotency key,
# origin) was a tenth of a media service's time per submit.
_call_headers: contextvars.ContextVar[tuple[object, dict[str, str]] | None] = contextvars.ContextVar(
    "call_headers", default=None
)


def request_headers(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata: over REST, the request's headers (lower-case names).
    The same dict for every caller during one call: read it, do not change it."""
    cached = _call_headers.get()
    if cached is not None and cached[0] is context:
        return cached[1]
    headers = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    _call_headers.set((context, headers))
    return headers


def request_origin(context: grpc.aio.ServicerContext) -> str:
    """The origin a call came to, from the Host the gateway forwards ("" without one)."""
    headers = request_headers(context)
    host = headers.get("x-forwarded-host", "")
    return f"{headers.get('x-forwarded-proto', 'http')}://{host}" if host else ""


async def set_http_status(
    context: grpc.aio.ServicerContext, status: int, headers: Iterable[tuple[str, str]] = ()
) -> None:
    """Ask the gateway for another HTTP status than 200 (for example 202 Accepted), with
    any other response headers: initial metadata goes out once, so they travel together."""
    await context.send_initial_metadata(((HTTP_STATUS_HEADER, str(status)), *headers))


Registrar = Callable[[grpc.aio.Server], None]
Background = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """One service process: gRPC server, health, metrics, NATS, background loops.

    Usage::

        runtime = ServiceRuntime("subtitle", settings)
        await runtime.connect()                      # NATS + streams
        runtime.add_servicer("mediatasks.v1.SubtitleService", lambda s: add_..._to_server(svc, s))
        runtime.add_background(worker.run)           # long-running loops
        await runtime.start()
        await runtime.wait_for_signal()              # until SIGTERM/SIGINT, then drain
    """

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._service_names: list[str] = []
        self._registrars: list[Registrar] = []
        self._background: list[Background] = []
        self._stoppers: list[Callable[[], Awaitable[None]]] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task] = []
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._stopped = asyncio.Event()
        self.api_keys: ApiKeyStore | None = None

    async def connect(self) -> None:
        """Connect to NATS, declare the streams and buckets this process uses."""
        self._nc = nc = await connect(self.settings, name=f"mediatasks-{self.name}")
        self._js = js = nc.jetstream(timeout=self.settings.rpc_timeout_seconds)
        await topology.ensure_streams(js, self.settings)
        kv = await topology.ensure_kv(js, topology.APIKEYS_BUCKET)
        self.api_keys = ApiKeyStore(kv)

    @property
    def nc(self) -> NATS:
        """The NATS connection :meth:`connect` opened."""
        if self._nc is None:
            raise RuntimeError(f"{self.name}: connect() first")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context of :attr:`nc`."""
        if self._js is None:
            raise RuntimeError(f"{self.name}: connect() first")
        return self._js

    @property
    def reflected_services(self) -> list[str]:
        """Every service this process answers, as gRPC server reflection lists them."""
        return [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]

    def add_servicer(self, service_name: str, registrar: Registrar) -> None:
        self._service_names.append(service_name)
        self._registrars.append(registrar)

    def add_background(self, loop: Background, stop: Callable[[], Awaitable[None]] | None = None) -> None:
        """A coroutine run for the life of the process; ``stop`` is awaited on drain."""
        self._background.append(loop)
        if stop is not None:
            self._stoppers.append(stop)

    def add_cleanup(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Awaited last on shutdown (close pools, channels)."""
        self._cleanups.append(cleanup)

    async def start(self) -> int:
        """Start listening; returns the bound gRPC port."""
        if self.metrics_port is None and self.settings.metrics_port >= 0:
            self.metrics_port = metrics.serve_metrics(self.settings.metrics_port)
        authenticator = Authenticator(self.settings, self.api_keys)
        self._server = grpc.aio.server(
            interceptors=[
                _Interceptor(
                    self.name,
                    authenticator,
                    OwnerRateLimiter(
                        self.settings.owner_rate_limit_per_second, 2 * self.settings.owner_rate_limit_per_second
                    ),
                )
            ],
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
                # Streamed uploads: with BDP probing grpc grows each stream's receive
                # window to tens of MB, so a handler slower than loopback (a store write)
                # lets that much pile up in memory; four 1 GiB uploads grew the registry
                # by 200 MB. The default window keeps it near 30 MB at the same speed.
                ("grpc.http2.bdp_probe", 0),
                # As much header as the gateway lets through (Envoy's 60 KiB default), so
                # an oversized credential is refused by the interceptor with a reason
                # instead of by the transport with a bare RESOURCE_EXHAUSTED.
                ("grpc.max_metadata_size", 64 * 1024),
                ("grpc.absolute_max_metadata_size", 64 * 1024),
            ],
        )
        for registrar in self._registrars:
            registrar(self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(self.reflected_services, self._server)
        self.port = self._server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.grpc_port}")
        await self._server.start()
        for loop in self._background:
            self._tasks.append(asyncio.create_task(self._guard(loop), name=f"{self.name}-bg"))
        for service_name in ["", *self._service_names]:
            await self._health.set(service_name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving gRPC on :%d", self.name, self.port)
        return self.port

    async def _guard(self, loop: Background) -> None:
        # A background loop that dies must not leave a half-working process: log and stop.
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop of %s crashed; stopping the service", self.name)
            metrics.ERRORS.labels(self.name, "BACKGROUND_CRASH").inc()
            self._stopped.set()

    async def stop(self) -> None:
        """Graceful drain: NOT_SERVING, stop loops (workers finish or hand back jobs), close."""
        for service_name in ["", *self._service_names]:
            await self._health.set(service_name, health_pb2.HealthCheckResponse.NOT_SERVING)
        grace = self.settings.shutdown_grace_seconds
        for stop in self._stoppers:
            try:
                await asyncio.wait_for(stop(), timeout=grace)
            except Exception:  # includes TimeoutError
                log.exception("stopping a background loop of %s", self.name)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.stop(grace=min(grace, 5.0))
        nc = self._nc
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), timeout=5.0)
            except Exception:  # includes TimeoutError
                await nc.close()
        for cleanup in self._cleanups:
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup of %s failed", self.name)
        self._stopped.set()

    async def serve_forever(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then drain."""
        await self.start()
        await self.wait_for_signal()

    async def wait_for_signal(self) -> None:
        """Run until SIGTERM or SIGINT (or a crashed background loop), then drain."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopped.set)
        await self._stopped.wait()
        log.info("%s draining", self.name)
        self._stopped.clear()
        await self.stop()
