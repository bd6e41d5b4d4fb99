"""Bootstrap shared by the four media services: a servicer for submits, a worker for jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.catalog import check_handlers
from mediatasks.core.clients import RegistryClient
from mediatasks.core.logs import setup_logging
from mediatasks.core.server import ServiceRuntime
from mediatasks.core.settings import Settings
from mediatasks.core.submit import Submitter
from mediatasks.core.worker import JobHandler, QuickJob, Worker
from mediatasks.media import ffmpeg
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.status import ProviderStatusPublisher
from mediatasks.providers.vendors import default_providers


@dataclass
class MediaParts:
    """What a media service's servicer and handlers are built from."""

    settings: Settings
    runtime: ServiceRuntime
    registry: RegistryClient
    artifacts: ArtifactStore
    submitter: Submitter
    providers: ProviderRouter


@dataclass
class MediaService:
    """How one media service plugs into the runtime."""

    name: str  # "image", "video", "audio" or "subtitle"
    grpc_service: str  # full proto service name, for health checks
    add_to_server: Callable[[object, grpc.aio.Server], None]
    make_servicer: Callable[[MediaParts], object]
    make_handlers: Callable[[MediaParts], dict[str, JobHandler]]
    # Per task type: which of its jobs are quick and local (see Worker's quick_jobs).
    quick_jobs: dict[str, QuickJob] = field(default_factory=dict)


async def start_media_service(
    service: MediaService, settings: Settings, *, run_workers: bool = True
) -> tuple[ServiceRuntime, MediaParts]:
    """Connect, build and start a media service (listening, workers running);
    the caller stops it with ``runtime.stop()``."""
    runtime = ServiceRuntime(service.name, settings)
    await runtime.connect()
    ffmpeg.configure_limits(memory_bytes=settings.ffmpeg_max_memory_bytes)
    registry = RegistryClient(settings)
    artifacts = ArtifactStore(runtime.js, settings)
    providers = ProviderRouter(settings, default_providers(settings))
    parts = MediaParts(settings, runtime, registry, artifacts, Submitter(settings, registry, artifacts), providers)
    handlers = service.make_handlers(parts)
    try:
        check_handlers(service.name, handlers)
    except RuntimeError:
        await runtime.stop()
        raise
    servicer = service.make_servicer(parts)
    runtime.add_servicer(service.grpc_service, lambda server: service.add_to_server(servicer, server))
    if run_workers:
        worker = Worker(settings, runtime.nc, runtime.js, registry, artifacts, handlers, quick_jobs=service.quick_jobs)
        runtime.add_background(worker.run, stop=worker.stop)
        # Only processes that run jobs have provider statistics worth showing.
        publisher = ProviderStatusPublisher(runtime.js, providers, service.name)
        runtime.add_background(publisher.run, stop=publisher.stop)
    runtime.add_cleanup(registry.close)
    runtime.add_cleanup(providers.aclose)
    await runtime.start()
    return runtime, parts


async def serve_media_service(service: MediaService, settings: Settings) -> None:
    """Run a media service until SIGTERM (the body of ``mediatasks serve <name>``)."""
    setup_logging(service.name, level=settings.log_level, json_lines=settings.log_json)
    runtime, _parts = await start_media_service(service, settings)
    await runtime.wait_for_signal()
