"""Running a :class:`~mediatasks.worker.app.TaskApp`: declare its types, then serve their
jobs on the platform's worker runtime (the body of ``mediatasks worker``)."""

from __future__ import annotations

import importlib
import logging

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.clients import RegistryClient
from mediatasks.core.server import ServiceRuntime
from mediatasks.core.settings import Settings
from mediatasks.core.worker import Worker
from mediatasks.v1 import background_pb2, background_pb2_grpc
from mediatasks.worker.app import TaskApp, default_app

log = logging.getLogger(__name__)


def load_app(reference: str) -> TaskApp:
    """``"package.module:attribute"`` (a TaskApp), or ``"package.module"`` whose
    ``@background_task`` functions filled the default app."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute) if attribute else default_app
    if callable(app) and not isinstance(app, TaskApp):
        app = app()  # a factory
    if not isinstance(app, TaskApp):
        raise TypeError(f"{reference} is a {type(app).__name__}, not a mediatasks.worker.TaskApp")
    if not app.definitions:
        raise ValueError(f"{reference} declares no task types")
    return app


async def declare(registry: RegistryClient, app: TaskApp, settings: Settings) -> None:
    """Tell the registry which types this worker runs (their schemas and policies), so
    clients can submit them and the registry retries them on their own schedule."""
    stub = background_pb2_grpc.BackgroundServiceStub(registry.channel)
    request = background_pb2.RegisterTaskTypesRequest(
        task_types=[definition.spec() for definition in app.definitions.values()]
    )
    await registry.call(stub.RegisterTaskTypes, request, retry_for=settings.registry_retry_seconds)


async def start_worker(
    app: TaskApp, settings: Settings, *, priorities: tuple[str, ...], concurrency: int | None = None
) -> ServiceRuntime:
    """Connect, declare the app's types and start serving their jobs; the caller stops
    it with ``runtime.stop()`` (running jobs finish within the grace period or go back)."""
    runtime = ServiceRuntime("worker", settings)
    await runtime.connect()
    registry = RegistryClient(settings)
    try:
        await declare(registry, app, settings)
    except BaseException:
        await registry.close()
        await runtime.stop()
        raise
    artifacts = ArtifactStore(runtime.js, settings)
    worker = Worker(
        settings,
        runtime.nc,
        runtime.js,
        registry,
        artifacts,
        app.job_handlers(),
        concurrency=concurrency,
        priorities=priorities,
        quick_jobs=app.quick_jobs(),
    )
    runtime.add_background(worker.run, stop=worker.stop)
    runtime.add_cleanup(registry.close)
    await runtime.start()
    log.info("worker runs %s from queues %s", ", ".join(app.definitions), ", ".join(priorities))
    return runtime
