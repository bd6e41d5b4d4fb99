"""``mediatasks worker --app myapp:tasks --queues critical,high --concurrency 20``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mediatasks.core import topology
from mediatasks.core.logs import setup_logging
from mediatasks.core.settings import Settings, get_settings


def add_worker_command(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run the task types of an app (mediatasks.worker) until SIGTERM")
    worker.add_argument(
        "--app",
        required=True,
        help="module:attribute of a mediatasks.worker.TaskApp (or a module using @background_task); "
        "mediatasks.background.builtin:tasks runs the built-in types",
    )
    worker.add_argument(
        "--queues",
        default="",
        help="priorities to take jobs from, e.g. critical,high (also queue:critical); default all",
    )
    worker.add_argument("--concurrency", type=int, default=None, help="jobs run at once (default worker_concurrency)")
    worker.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (default metrics_port)")
    worker.add_argument("--grpc-port", type=int, default=0, help="health-check port (default: a free one)")
    worker.set_defaults(run=run_worker_command)


def _beside_local_stack(settings: Settings) -> Settings:
    """Without a NATS URL of its own, a worker joins the stack ``mediatasks up`` runs in
    ``state_dir`` (it leaves ``worker.env`` there: NATS, registry address, internal token)."""
    state = Path(settings.state_dir) / "worker.env"
    if settings.nats_url or not state.is_file():
        return settings
    values = {}
    for line in state.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("MEDIATASKS_") and value:
            values[key.removeprefix("MEDIATASKS_").lower()] = value
    return Settings(**{**settings.model_dump(), **values})


def run_worker_command(args: argparse.Namespace) -> int:
    # lazy: only this command loads the SDK and the user's app
    from mediatasks.worker.runner import load_app, start_worker

    settings = _beside_local_stack(get_settings())
    overrides: dict[str, object] = {"grpc_port": args.grpc_port}
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    settings = settings.model_copy(update=overrides)
    setup_logging("worker", level=settings.log_level, json_lines=settings.log_json)
    try:
        priorities = topology.queue_priorities(args.queues)
    except ValueError as exc:
        print(f"mediatasks worker: {exc}", file=sys.stderr)
        return 2
    if args.concurrency is not None and args.concurrency < 1:
        print("mediatasks worker: --concurrency must be at least 1", file=sys.stderr)
        return 2
    # The app's module is found like `python -m` finds one: from the working directory.
    sys.path.insert(0, os.getcwd())
    try:
        app = load_app(args.app)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"mediatasks worker: cannot load {args.app}: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        runtime = await start_worker(app, settings, priorities=priorities, concurrency=args.concurrency)
        await runtime.wait_for_signal()

    asyncio.run(serve())
    return 0
