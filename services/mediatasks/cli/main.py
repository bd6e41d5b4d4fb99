"""The ``mediatasks`` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from mediatasks.cli.tasks_commands import add_task_commands
from mediatasks.cli.worker_command import add_worker_command
from mediatasks.core.logs import setup_logging
from mediatasks.core.loop_watch import watch_event_loop
from mediatasks.core.settings import SERVICES, get_settings

# Allocations (less deallocations) between two collections of the young generation;
# Python's default is 700.
GC_YOUNG_THRESHOLD = 10_000


def _run_service(main: Coroutine[Any, Any, None], stall_seconds: float) -> None:
    """Run a service on uvloop: a service is one event loop carrying every call, and in
    ``make bench`` uvloop took 5-10 % off the CPU per job of the registry and the workers
    (fewer system calls per wake-up than the selector loop). A loop that stalls for
    ``stall_seconds`` gets every thread's stack written to the log."""
    import uvloop  # lazy: only the services run on it

    async def watched() -> None:
        watch = asyncio.create_task(watch_event_loop(stall_seconds))
        try:
            await main
        finally:
            watch.cancel()

    _settle_garbage_collector()
    uvloop.run(watched())


def _settle_garbage_collector() -> None:
    """Hide what the service imported from the cyclic garbage collector, and collect
    the young generation less often. The modules (protobuf descriptors, SQLAlchemy,
    grpc) live as long as the process, yet every full collection walked them all; and a
    job's objects (rows, protos, futures) are short-lived and mostly freed by reference
    counting, so a young collection every 700 allocations mostly found nothing to free."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    # lazy: each subcommand loads only the code it runs (here one service's)
    if args.service == "registry":
        from mediatasks.registry.service import serve_registry

        _run_service(serve_registry(settings), settings.loop_stall_report_seconds)
    else:
        from mediatasks.cli.services import media_service
        from mediatasks.media_service import serve_media_service

        _run_service(serve_media_service(media_service(args.service), settings), settings.loop_stall_report_seconds)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from mediatasks.registry import migrate  # lazy: loads Alembic, which only this command needs

    settings = get_settings()
    setup_logging("migrate", level=settings.log_level, json_lines=settings.log_json)
    if args.down_to:
        migrate.downgrade(settings, args.down_to)
    else:
        migrate.upgrade(settings)
    return 0


def _up(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only the code it runs (here the local stack's)
    from mediatasks.cli.demo import run_demo
    from mediatasks.devstack.stack import Stack

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if args.nats_cluster > 1 and settings.nats_url:
        print("--nats-cluster starts embedded NATS nodes: unset MEDIATASKS_NATS_URL to use it", file=sys.stderr)
        return 2
    stack = Stack(
        Path(args.state_dir or settings.state_dir),
        settings=settings,
        http_port=args.http_port,
        nats_nodes=args.nats_cluster,
    )
    started = time.monotonic()
    print("mediatasks: starting NATS, PostgreSQL, registry, image, video, audio, subtitle and Envoy ...")
    stack.start()
    try:
        print(f"mediatasks is up in {time.monotonic() - started:.1f}s")
        print(f"  REST gateway  {stack.http_url}/api/v1/media/...   (Envoy)")
        for process in stack.processes:
            print(f"  gRPC {process.service:<9} {process.address}   metrics :{process.metrics_port}/metrics")
        print(f"  NATS          {stack.nats_url}   ({stack.nats_replicas} replica(s) per stream)")
        print(f"  PostgreSQL    {stack.database_url}")
        if stack.api_key:
            print(f"  API key       {stack.api_key}   (also in {stack.state_dir / 'api-key'})")
        print(f"  logs          {stack.state_dir / 'logs'}")
        if args.demo:
            run_demo(stack.http_url, stack.api_key)
        if args.exit_after_demo:
            return 0
        print("Press Ctrl-C to stop.")
        stop = False

        def on_signal(*_):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not stop:
            for process in stack.processes:
                if not process.child.is_running():
                    print(f"{process.child.name} exited; see {process.child.log_path}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("mediatasks: stopping ...")
        stack.stop()
        print("mediatasks: stopped")


def _apikey(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only the code it runs (here the NATS client)
    from mediatasks.core import topology
    from mediatasks.core.auth import ApiKeyStore
    from mediatasks.core.nats_conn import connect

    settings = get_settings()
    if not settings.nats_url:
        state_key = Path(settings.state_dir) / "nats-url"
        if state_key.exists():
            settings = settings.model_copy(update={"nats_url": state_key.read_text().strip()})

    async def run() -> int:
        nc = await connect(settings, name="mediatasks-cli")
        try:
            store = ApiKeyStore(await topology.ensure_kv(nc.jetstream(), topology.APIKEYS_BUCKET))
            if args.action == "create":
                print(await store.create(args.owner, name=args.name or ""))
                return 0
            return 0 if await store.revoke(args.key) else 1
        finally:
            await nc.close()

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediatasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one service until SIGTERM")
    serve.add_argument("service", choices=SERVICES)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument(
        "--down-to",
        metavar="REVISION",
        help="undo the migrations after REVISION instead (e.g. 0011_outbox_msg_id; base: all), dropping what they added",
    )
    migrate.set_defaults(run=_migrate)

    up = commands.add_parser("up", help="run the whole platform locally (embedded NATS, PostgreSQL, Envoy)")
    up.add_argument("--demo", action="store_true", help="submit a demo job once everything is up")
    up.add_argument("--exit-after-demo", action="store_true", help="stop after the demo (smoke test)")
    up.add_argument("--http-port", type=int, default=None, help="REST port (default 8080, or a free one)")
    up.add_argument("--state-dir", default=None, help="where data and logs go (default .state)")
    up.add_argument(
        "--nats-cluster",
        type=int,
        choices=range(1, 6),
        default=1,
        metavar="N",
        help="run N embedded NATS nodes as one JetStream cluster (3: streams and buckets get three replicas)",
    )
    up.set_defaults(run=_up)

    apikey = commands.add_parser("apikey", help="create or revoke API keys")
    apikey_actions = apikey.add_subparsers(dest="action", required=True)
    create = apikey_actions.add_parser("create")
    create.add_argument("--owner", required=True)
    create.add_argument("--name", default="")
    revoke = apikey_actions.add_parser("revoke")
    revoke.add_argument("key", help="the key, or its SHA-256")
    apikey.set_defaults(run=_apikey)

    # submit, status, list, cancel, retry, logs, result, upload, download (over the SDK)
    add_task_commands(commands)

    add_worker_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
