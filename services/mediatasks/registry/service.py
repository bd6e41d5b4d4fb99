"""The task-registry process: migrations, gRPC servicers, the outbox relay, the background loops."""

from __future__ import annotations

import asyncio

from mediatasks.background.facade import BackgroundServicer
from mediatasks.background.settings import background_settings
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.db import create_engine
from mediatasks.core.logs import setup_logging
from mediatasks.core.server import ServiceRuntime
from mediatasks.core.settings import Settings
from mediatasks.dialects.service import add_dialects
from mediatasks.registry import migrate
from mediatasks.registry.artifacts_servicer import ArtifactServicer, UrlSigner, url_signing_key
from mediatasks.registry.housekeeping import Housekeeper
from mediatasks.registry.links import DownloadLinks
from mediatasks.registry.outbox import OutboxRelay
from mediatasks.registry.reconciler import Reconciler
from mediatasks.registry.rollups import RollupLoop
from mediatasks.registry.schedules import DailyScheduler, ScheduleStore
from mediatasks.registry.servicer import TaskRegistryServicer
from mediatasks.registry.store import TaskStore, TaskTypeStore
from mediatasks.registry.uploads import UploadSessions
from mediatasks.registry.webhooks import WebhookDispatcher
from mediatasks.v1 import artifacts_pb2_grpc, background_pb2_grpc, tasks_pb2_grpc


async def start_registry(settings: Settings, *, migrate_first: bool = True) -> ServiceRuntime:
    """Build and start the registry; the caller awaits shutdown (``runtime.stop()``)."""
    if migrate_first:
        await asyncio.to_thread(migrate.upgrade, settings)
    runtime = ServiceRuntime("registry", settings)
    await runtime.connect()
    engine = create_engine(settings)
    store = TaskStore(engine, settings)
    relay = OutboxRelay(
        engine, runtime.nc, poll_seconds=settings.outbox_poll_seconds, on_unpublishable_job=store.fail_unpublishable
    )
    store.hand_off = relay.hand_off
    artifact_store = ArtifactStore(runtime.js, settings)
    signer = UrlSigner(url_signing_key(settings))
    links = DownloadLinks(signer, artifact_store)
    webhooks = WebhookDispatcher(engine, runtime.js, settings, links=links)
    servicer = TaskRegistryServicer(store, relay, settings, runtime.nc, runtime.js, webhooks, artifact_store, links)
    uploads = UploadSessions(engine, artifact_store)
    artifacts = ArtifactServicer(artifact_store, uploads, signer, links)
    housekeeper = Housekeeper(engine, artifact_store, settings, uploads=uploads)
    runtime.add_servicer(
        "mediatasks.v1.TaskRegistry", lambda server: tasks_pb2_grpc.add_TaskRegistryServicer_to_server(servicer, server)
    )
    # Seed 004's /api/background/ surface: registry tasks of the types workers declare.
    background_config = background_settings(settings)
    background = BackgroundServicer(servicer, TaskTypeStore(engine), background_config, ScheduleStore(engine))
    scheduler = DailyScheduler(engine, background.run_schedule, interval=background_config.scheduler_interval_seconds)
    runtime.add_background(scheduler.run, stop=scheduler.stop)
    runtime.add_servicer(
        "mediatasks.v1.BackgroundService",
        lambda server: background_pb2_grpc.add_BackgroundServiceServicer_to_server(background, server),
    )
    # The seeds' own APIs (issue 12): façades over this registry's tasks.
    add_dialects(runtime, servicer, settings, uploads)
    runtime.add_servicer(
        "mediatasks.v1.ArtifactService",
        lambda server: artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(artifacts, server),
    )

    runtime.add_background(relay.run, stop=relay.stop)
    runtime.add_background(housekeeper.run, stop=housekeeper.stop)
    reconciler = Reconciler(store, runtime.js, servicer.workers, relay, settings)
    runtime.add_background(reconciler.run, stop=reconciler.stop)
    roller = RollupLoop(engine, settings)
    runtime.add_background(roller.run, stop=roller.stop)
    runtime.add_background(webhooks.run, stop=webhooks.stop)
    runtime.add_cleanup(store.close)
    runtime.add_cleanup(engine.dispose)
    await runtime.start()
    return runtime


async def serve_registry(settings: Settings) -> None:
    setup_logging("registry", level=settings.log_level, json_lines=settings.log_json)
    runtime = await start_registry(settings)
    await runtime.wait_for_signal()
