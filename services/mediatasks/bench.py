"""``make bench``: submit latency over gRPC and REST at a fixed offered rate, then
end-to-end throughput and submit→start latency of the cheapest real job (subtitles from a
short text) with one worker process, and the CPU each process spent per job. Prints one
JSON object.

CPU per job is read from ``/proc/<pid>/stat`` (user + system time of the process, of its
reaped children such as ffmpeg, and of its live descendants such as PostgreSQL's
backends) over the throughput phase, for every registry, worker, PostgreSQL, NATS and
Envoy process. Unlike jobs/s it barely depends on what else runs on the machine, so it is
the figure the scaling model in README ("Scaling and clustering") is built from: a core
carries ``1 / cpu_seconds_per_job`` jobs/s of that process.

``--compare`` runs the throughput phase on fresh stacks of 1 registry + 1 worker,
2 registries + 1 worker and 1 registry + 2 workers; with ``--pin`` every process is pinned
to one core (``sched_setaffinity`` on each of its threads), one core per process while
cores last, then round-robin; the assignment is reported. ``--job caption`` measures
burning an SRT into a 2-second 320x240 video (ffmpeg) instead of the subtitle job.

Everything runs on this machine (embedded NATS, PostgreSQL and Envoy, each service its own
process), so the load generator shares the CPU with the system under test: the report
includes the load average before and after, to judge how quiet the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import grpc

from mediatasks.bench_operations import read_counters
from mediatasks.core.clients import channel_target
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import Settings
from mediatasks.devstack.servers import free_port
from mediatasks.devstack.stack import Stack
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc, tasks_pb2, tasks_pb2_grpc

_BALANCED = [("grpc.lb_policy_name", "round_robin")]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The cores this benchmark may use, read before it pins anything (itself included).
USABLE_CORES = sorted(os.sched_getaffinity(0))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields after it follow the last ")".
    return text[text.rfind(")") + 2 :].split()


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def cpu_seconds(pid: int, children: dict[int, list[int]] | None = None, *, family: bool = True) -> float:
    """CPU time of ``pid``: its own (user + system) and, with ``family``, its reaped
    children's and that of its live descendants (PostgreSQL's backends, a running ffmpeg)."""
    if not family:
        fields = _stat_fields(pid)
        return sum(int(value) for value in fields[11:13]) / _CLOCK_TICKS if fields else 0.0
    children = _children_of() if children is None else children
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        fields = _stat_fields(current)
        if fields is None:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), here from field 3 on.
        total += sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
        pending.extend(children.get(current, []))
    return total


def stack_processes(stack: Stack) -> dict[str, list[int]]:
    """The pids of each kind of process of ``stack`` (the load generator is this one)."""
    kinds: dict[str, list[int]] = {"registry": [], "worker": []}
    for process in stack.processes:
        if process.child.pid is not None:
            kinds["registry" if process.service == "registry" else "worker"].append(process.child.pid)
    nats = [stack.nats] if stack.nats else list(stack.nats_cluster.nodes) if stack.nats_cluster else []
    kinds["nats"] = [node.pid for node in nats if node.pid is not None]
    kinds["postgres"] = [stack.postgres.pid] if stack.postgres and stack.postgres.pid else []
    kinds["envoy"] = [stack.envoy.pid] if stack.envoy and stack.envoy.pid else []
    kinds["load_generator"] = [os.getpid()]
    return kinds


def cpu_by_kind(kinds: dict[str, list[int]]) -> dict[str, float]:
    children = _children_of()
    # Every server is a child of the load generator: count only its own time.
    return {
        kind: sum(cpu_seconds(pid, children, family=kind != "load_generator") for pid in pids)
        for kind, pids in kinds.items()
    }


def _threads(pid: int) -> list[int]:
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def pin(kinds: dict[str, list[int]]) -> dict[str, list[int]]:
    """Pin each process (every thread of it, and of its live descendants) to one core:
    registries, then workers, then PostgreSQL, NATS, Envoy and the load generator, one
    core each while cores last, then round-robin. Returns the core of each pid."""
    cores = USABLE_CORES
    children = _children_of()
    assignment: dict[str, list[int]] = {}
    order = ("registry", "worker", "postgres", "nats", "envoy", "load_generator")
    position = 0
    for kind in order:
        for pid in kinds.get(kind, []):
            core = cores[position % len(cores)]
            position += 1
            family, pending = [], [pid]
            while pending:
                current = pending.pop()
                family.append(current)
                pending.extend(children.get(current, []))
            for member in family:
                for thread in _threads(member):
                    try:
                        os.sched_setaffinity(thread, {core})
                    except OSError:
                        pass  # a thread that ended meanwhile
            assignment.setdefault(kind, []).append(core)
    return assignment


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "count": len(ordered),
    }


def _text() -> str:
    return f"Benchmark line {uuid.uuid4().hex}. A second sentence follows it."


async def _open_loop(rate: float, seconds: float, call) -> tuple[list[float], int]:
    """Fire ``call()`` at a fixed rate regardless of answers (open loop); latencies in s."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one() -> None:
        nonlocal errors
        began = time.perf_counter()
        try:
            await call()
            latencies.append(time.perf_counter() - began)
        except Exception:
            errors += 1

    pending = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one()))
    await asyncio.gather(*pending)
    return latencies, errors


async def _grpc_submit(stack: Stack, rate: float, seconds: float) -> dict:
    channel = grpc.aio.insecure_channel(channel_target(stack.replica_addresses("subtitle")), options=_BALANCED)
    stub = subtitle_pb2_grpc.SubtitleServiceStub(channel)
    metadata = (("x-api-key", stack.api_key),)

    async def call() -> None:
        await stub.GenerateSubtitles(
            subtitle_pb2.GenerateSubtitlesRequest(text=_text(), no_cache=True), metadata=metadata, timeout=10
        )

    await _open_loop(50, 1, call)  # warm-up
    latencies, errors = await _open_loop(rate, seconds, call)
    await channel.close()
    return {**_percentiles(latencies), "errors": errors, "offered_rate_per_s": rate}


def _http_session(stack: Stack) -> aiohttp.ClientSession:
    """The load generator's HTTP client: aiohttp, whose CPU per request measured about a
    third of httpx's here. The load generator shares the cores with the system under
    test, so what it spends is taken from what it measures."""
    connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60)
    return aiohttp.ClientSession(
        base_url=stack.http_url,
        headers={"X-API-Key": stack.api_key},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def _rest_submit(stack: Stack, rate: float, seconds: float) -> dict:
    async with _http_session(stack) as client:

        async def call() -> None:
            body = {"text": _text(), "no_cache": True}
            async with client.post("/api/v1/media/subtitles/generate", json=body) as response:
                response.raise_for_status()
                await response.read()

        await _open_loop(50, 1, call)
        latencies, errors = await _open_loop(rate, seconds, call)
    return {**_percentiles(latencies), "errors": errors, "offered_rate_per_s": rate}


async def _drain(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until the latency phases' jobs are done, so they do not count as throughput."""
    async with _http_session(stack) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats, _ = await _get_json(client, "/api/v1/media/statistics")
            active = int(stats["by_status"].get("QUEUED", 0)) + int(stats["by_status"].get("PROCESSING", 0))
            if active == 0:
                return
            await asyncio.sleep(0.5)


def _caption_inputs(work: Path) -> tuple[bytes, str]:
    """A 2-second 320x240 H.264 test video and the SRT to burn into it."""
    import subprocess

    import imageio_ffmpeg  # lazy: only the caption job needs ffmpeg here

    video = work / "bench-input.mp4"
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi"]
    argv += ["-i", "testsrc2=size=320x240:rate=25:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(video)]
    subprocess.run(argv, check=True, timeout=60)  # noqa: S603 - our own ffmpeg, fixed arguments
    srt = "1\n00:00:00,000 --> 00:00:01,500\nBenchmark caption\n\n2\n00:00:01,500 --> 00:00:02,000\nThe end\n"
    return video.read_bytes(), srt


RETRIED_STATUSES = (429, 503)
retried_submits = 0


async def _post(client: aiohttp.ClientSession, path: str, body: dict, budget_seconds: float = 60.0) -> str:
    """Submit as a client does: 429 and 503 (retryable) are tried again after a pause."""
    global retried_submits
    deadline = time.monotonic() + budget_seconds
    while True:
        async with client.post(path, json=body) as response:
            answer = await response.read()
            if response.status in RETRIED_STATUSES and time.monotonic() < deadline:
                retried_submits += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "0.2") or 0.2))
                continue
            if response.status >= 400:
                raise RuntimeError(f"{path} answered {response.status}: {answer[:300]!r}")
            return str(json.loads(answer)["task_id"])


async def _submitter(stack: Stack, job: str):
    """A coroutine function submitting one job of kind ``job`` through the REST gateway;
    and the client to close afterwards."""
    client = _http_session(stack)
    if job == "caption":
        video, srt = await asyncio.to_thread(_caption_inputs, stack.state_dir)
        headers = {"content-type": "video/mp4"}
        async with client.post("/api/v1/media/uploads", data=video, headers=headers) as answer:
            answer.raise_for_status()
            video_id = (await answer.json())["artifact_id"]

        async def submit() -> str:
            body = {"url_video": video_id, "subtitles": srt, "no_cache": True}
            return await _post(client, "/api/v1/media/videos/caption", body)

    else:

        async def submit() -> str:
            return await _post(client, "/api/v1/media/subtitles/generate", {"text": _text(), "no_cache": True})

    return submit, client


async def _throughput(
    stack: Stack, jobs: int, job: str = "subtitle", timeout: float = 300.0, rate: float | None = None
) -> dict:
    """Submit ``jobs`` (all at once, 64 in flight; or paced at ``rate`` a second) and
    follow them to their end through the events stream."""
    nc = await connect(Settings(nats_url=stack.nats_url), name="mediatasks-bench")
    created: dict[str, float] = {}
    starts: list[float] = []
    done = asyncio.Event()
    completed = 0
    failed = 0

    async def on_event(msg) -> None:
        nonlocal completed, failed
        event = tasks_pb2.TaskEvent.FromString(msg.data)
        if event.task_id not in created:
            return
        if event.event_type == "task.started":
            task = event.task
            starts.append(task.started_at.ToNanoseconds() / 1e9 - task.created_at.ToNanoseconds() / 1e9)
        elif event.event_type in ("task.completed", "task.failed"):
            completed += event.event_type == "task.completed"
            failed += event.event_type == "task.failed"
            if completed + failed >= jobs:
                done.set()

    sub = await nc.subscribe("mediatasks.events.>", cb=on_event)
    submit_one, client = await _submitter(stack, job)
    semaphore = asyncio.Semaphore(64)

    async def submit(index: int) -> None:
        if rate:
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
        async with semaphore:
            created[await submit_one()] = time.perf_counter()

    kinds = stack_processes(stack)
    retried_before = retried_submits
    counters_before = await read_counters(stack)
    cpu_before = cpu_by_kind(kinds)
    began = time.perf_counter()
    await asyncio.gather(*(submit(index) for index in range(jobs)))
    submitted = time.perf_counter() - began
    settled = asyncio.Event()

    async def watch_registry() -> None:
        """The registry's own count, every 2 s: this subscriber can miss events (a
        reconnect under load), and the run then ends when nothing is left unfinished."""
        while True:
            await asyncio.sleep(2.0)
            async with client.get("/api/v1/media/statistics", params={"window_seconds": 3600}) as answer:
                by_status = (await answer.json()).get("by_status", {}) if answer.status == 200 else None
            if by_status is not None:
                if not int(by_status.get("QUEUED", 0)) + int(by_status.get("PROCESSING", 0)):
                    settled.set()
                    return

    watcher = asyncio.create_task(watch_registry())
    waits = [asyncio.create_task(done.wait()), asyncio.create_task(settled.wait())]
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    elapsed = time.perf_counter() - began
    cpu_after = cpu_by_kind(kinds)
    counters_after = await read_counters(stack)
    for pending in (watcher, *waits):
        pending.cancel()
    await sub.unsubscribe()
    await nc.close()
    await client.close()
    # Every job ended (the registry says so) though some end events never arrived here.
    events_missed = jobs - completed - failed if settled.is_set() and not done.is_set() else 0
    completed += events_missed
    per_job = {kind: round((cpu_after[kind] - cpu_before[kind]) / max(completed, 1) * 1000, 3) for kind in cpu_after}
    return {
        "job": job,
        "jobs": jobs,
        "completed": completed,
        "failed": failed,
        "submit_seconds": round(submitted, 3),
        "elapsed_seconds": round(elapsed, 3),
        "throughput_jobs_per_s": round(completed / elapsed, 1),
        "submit_to_start": _percentiles([max(0.0, s) for s in starts]) if starts else {},
        "retried_submits": retried_submits - retried_before,
        # Ends the registry reports that this subscriber's events missed (counted as completed).
        "events_missed": events_missed,
        "cpu_ms_per_job": per_job,
        # Why: PostgreSQL's write transactions and WAL, NATS messages (see bench_operations).
        "operations_per_job": counters_after.per_job(counters_before, completed),
        "processes": {kind: len(pids) for kind, pids in kinds.items()},
        # What one core of each kind would carry if it did nothing else.
        "jobs_per_s_per_core": {
            kind: round(1000 / ms, 1) for kind, ms in per_job.items() if ms > 0 and kind != "load_generator"
        },
    }


_START_RATE = 100.0


async def _run(args: argparse.Namespace, stack: Stack) -> dict:
    load_before = _load_average()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before},
        "processes": {"registry": args.registries, "workers": args.workers},
        "pinned_cores": pin(stack_processes(stack)) if args.pin else None,
        "grpc_submit": await _grpc_submit(stack, args.rate, args.seconds),
        "rest_submit": await _rest_submit(stack, args.rate, args.seconds),
    }
    await _drain(stack)
    # Submit -> worker start at a steady 100 jobs a second (the burst below queues them).
    paced = await _throughput(stack, int(_START_RATE * args.seconds), args.job, rate=_START_RATE)
    result["start_latency_at_rate"] = {"offered_rate_per_s": _START_RATE, **paced["submit_to_start"]}
    await _drain(stack)
    result["end_to_end"] = await _throughput(stack, args.jobs, args.job)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    result["targets"] = {
        "throughput_jobs_per_s": 2000,
        "grpc_submit_p99_ms": 5,
        "rest_submit_p99_ms": 8,
        "submit_to_start_p50_ms_at_100_per_s": 3,
    }
    return result


# Fills the tasks table (for the owner ``demo``, the stack's API key) with SQL, in one
# statement: finished tasks over the last ~6 days (one in 50 failed, one in 10 a
# transcription), then ``queued`` subtitle tasks at known queue positions, oldest first.
_FILL_COLUMNS = (
    "id, task_type, status, progress, stage, priority, priority_rank, owner, input, attempt, max_attempts,"
    " provider, model, cost_usd, cache_hit, cancel_confirmed, webhook_url, webhook_secret, webhook_events,"
    " metadata, queued_reason, claim, created_at, started_at, updated_at, completed_at, expires_at"
)
_FILL_FINISHED = f"""
INSERT INTO tasks ({_FILL_COLUMNS})
SELECT gen_random_uuid(),
       CASE WHEN g %% 10 = 0 THEN 'audio_transcription' ELSE 'subtitle_generation' END,
       CASE WHEN g %% 50 = 0 THEN 'FAILED' ELSE 'COMPLETED' END, 100, 'completed', 'medium', 2, %(owner)s,
       ''::bytea, 1, 3, 'local', '', 0.001, false, false, '', '', '[]', '{{}}', '', '',
       now() - g * interval '500 ms', now() - g * interval '500 ms' + interval '100 ms',
       now() - g * interval '500 ms' + interval '1 s', now() - g * interval '500 ms' + interval '1 s',
       now() + interval '6 days'
FROM generate_series(1, %(count)s) AS g
"""
_FILL_QUEUED = f"""
INSERT INTO tasks ({_FILL_COLUMNS})
SELECT gen_random_uuid(), 'image_transform', 'QUEUED', 0, 'queued', 'medium', 2, %(owner)s, ''::bytea, 0, 3, '', '',
       0, false, false, '', '', '[]', '{{}}', '', '', now() - (%(count)s - g) * interval '1 ms', NULL,
       now(), NULL, now() + interval '6 days'
FROM generate_series(1, %(count)s) AS g
RETURNING id, created_at
"""


def fill_tasks(database_url: str, finished: int, queued: int, owner: str = "demo") -> list[str]:
    """Insert ``finished`` + ``queued`` tasks of ``owner``; the queued ids, first in line first."""
    import psycopg  # lazy: only this mode talks to PostgreSQL itself

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_FILL_FINISHED, {"count": finished, "owner": owner})
        rows = conn.execute(_FILL_QUEUED, {"count": queued, "owner": owner}).fetchall()
        conn.execute("ANALYZE tasks")
    return [str(row[0]) for row in sorted(rows, key=lambda row: row[1])]


async def _timed_gets(client: aiohttp.ClientSession, paths: list[str]) -> dict:
    latencies = []
    for path in paths:
        began = time.perf_counter()
        async with client.get(path) as response:
            await response.read()
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()
    return _percentiles(latencies)


async def _timed_grpc_gets(stack: Stack, task_ids: list[str]) -> dict:
    """GetTask over gRPC straight to the registry, one call at a time, after 20 untimed
    calls (the channel's connection)."""
    async with grpc.aio.insecure_channel(channel_target(stack.replica_addresses("registry"))) as channel:
        stub = tasks_pb2_grpc.TaskRegistryStub(channel)
        metadata = (("x-api-key", stack.api_key),)
        latencies = []
        for index, task_id in enumerate([*task_ids[:20], *task_ids]):
            began = time.perf_counter()
            await stub.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), metadata=metadata, timeout=10)
            if index >= 20:
                latencies.append(time.perf_counter() - began)
    return _percentiles(latencies)


async def _get_json(client: aiohttp.ClientSession, path: str, **params: Any) -> tuple[Any, Any]:
    async with client.get(path, params=params or None) as response:
        response.raise_for_status()
        return await response.json(), response.headers


async def _at_scale(stack: Stack, args: argparse.Namespace) -> dict:
    """GetTask, filtered ListTasks pages and /statistics through Envoy with the table full."""

    def rollups_caught_up(filled_since: Any) -> float:
        """The fill writes finished tasks behind the statistics rollups' watermark, where
        the registry's roll loop never looks: start the rollups over as
        ``mediatasks.registry.rollups.rebuild`` does (the bench may not import the
        registry), then wait for the loop to fold the table in up to the fill's start."""
        import psycopg

        url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
        began = time.perf_counter()
        with psycopg.connect(url) as conn:
            with conn.transaction():
                conn.execute("SELECT id FROM rollup_watermark WHERE id = 1 FOR UPDATE")
                conn.execute("DELETE FROM task_rollups")
                conn.execute("UPDATE rollup_watermark SET watermark = '1970-01-01 00:00:00+00' WHERE id = 1")
            deadline = time.monotonic() + 600
            while conn.execute("SELECT watermark FROM rollup_watermark").fetchall()[0][0] < filled_since:
                conn.rollback()
                if time.monotonic() > deadline:
                    raise TimeoutError("the registry's roll loop did not catch up in 600 s")
                time.sleep(0.2)
        return time.perf_counter() - began

    def database_now() -> Any:
        import psycopg

        with psycopg.connect(stack.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            return conn.execute("SELECT now()").fetchall()[0][0]

    filled_since = await asyncio.to_thread(database_now)
    began = time.perf_counter()
    queued = await asyncio.to_thread(fill_tasks, stack.database_url, args.fill, 1000)
    fill_seconds = time.perf_counter() - began
    rollup_seconds = await asyncio.to_thread(rollups_caught_up, filled_since)
    samples = args.samples
    async with _http_session(stack) as client:
        gets = [f"/api/v1/media/tasks/{queued[index % len(queued)]}" for index in range(samples)]
        await _timed_gets(client, gets[:20])  # warm-up: connections, plans, caches
        await _timed_gets(client, ["/api/v1/media/statistics"] * 5)  # its statements prepared
        positions = {}
        for rank in (1, 500, 1000):
            task, _ = await _get_json(client, f"/api/v1/media/tasks/{queued[rank - 1]}")
            positions[rank] = int(task["queue_position"])
        listing, headers = await _get_json(client, "/api/v1/media/tasks", status="failed", limit=50)
        return {
            "tasks_in_table": args.fill + len(queued),
            "fill_seconds": round(fill_seconds, 1),
            # The floor of this machine in the same run: a call through Envoy, the registry
            # and a PostgreSQL ping that reads no task (GET /health).
            "health_floor": await _timed_gets(client, ["/api/v1/media/health"] * samples),
            "get_task": await _timed_gets(client, gets),
            # The same calls over gRPC (the target names the RPC): no Envoy, no JSON.
            "get_task_grpc": await _timed_grpc_gets(stack, [queued[index % len(queued)] for index in range(samples)]),
            "list_tasks_filtered_first_page": await _timed_gets(
                client, ["/api/v1/media/tasks?status=failed&limit=50"] * samples
            ),
            "list_tasks_by_type_first_page": await _timed_gets(
                client, ["/api/v1/media/tasks?task_type=audio_transcription&limit=50"] * samples
            ),
            "list_total": {
                "total": int(listing["total"]),
                "capped_header": headers.get("x-total-capped", ""),
            },
            "statistics": await _timed_gets(client, ["/api/v1/media/statistics"] * max(10, samples // 10)),
            "statistics_rollups": {
                "brought_up_by": "the registry's roll loop, after a rebuild (the fill writes behind the watermark)",
                "caught_up_seconds": round(rollup_seconds, 1),
            },
            # Each queued task's position is its place in line: 1, 500, 1000.
            "queue_positions": {"expected": [1, 500, 1000], "reported": list(positions.values())},
            "targets": {"get_task_p99_ms": 5, "list_tasks_p99_ms": 20, "statistics_p99_ms": 100},
        }


def at_scale(args: argparse.Namespace) -> dict:
    stack = build_stack(args, 1, 1)
    stack.start()
    try:
        return {
            "machine": {"cpus": os.cpu_count(), "load_average": _load_average()},
            **asyncio.run(_at_scale(stack, args)),
        }
    finally:
        stack.stop()


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def with_peers(result: dict, args: argparse.Namespace) -> dict:
    """The peers measured right after mediatasks (same burst, same offered rate), and each
    figure of ours as a ratio to theirs: throughput above 1 is faster than the peer,
    latency and CPU above 1 are slower or costlier."""
    from mediatasks.bench_peers import measure_peers  # dev-only dependencies

    peers = measure_peers(args.jobs, args.rate, args.seconds)
    ours = result["end_to_end"]
    our_cpu = sum(ms for kind, ms in ours["cpu_ms_per_job"].items() if kind != "load_generator")
    for figures in peers.values():
        theirs = figures["end_to_end"]
        their_cpu = sum(ms for kind, ms in theirs["cpu_ms_per_job"].items() if kind != "load_generator")
        figures["mediatasks_ratio"] = {
            "throughput": _ratio(ours["throughput_jobs_per_s"], theirs["throughput_jobs_per_s"]),
            "server_cpu_per_job": _ratio(our_cpu, their_cpu),
            "grpc_submit_p50": _ratio(result["grpc_submit"]["p50_ms"], figures["enqueue"]["p50_ms"]),
            "grpc_submit_p99": _ratio(result["grpc_submit"]["p99_ms"], figures["enqueue"]["p99_ms"]),
            "rest_submit_p50": _ratio(result["rest_submit"]["p50_ms"], figures["enqueue"]["p50_ms"]),
        }
        figures["end_to_end"]["server_cpu_ms_per_job"] = round(their_cpu, 3)
    ours["server_cpu_ms_per_job"] = round(our_cpu, 3)
    return peers


def build_stack(args: argparse.Namespace, registries: int, workers: int) -> Stack:
    service = "video" if args.job == "caption" else "subtitle"
    state = Path(tempfile.mkdtemp(prefix="mediatasks-bench-"))
    return Stack(
        state,
        # Never 8080: another stack on this machine may hold it (Envoy binds it with
        # SO_REUSEPORT, so the two would share the port and its requests).
        http_port=free_port(),
        settings=Settings(),
        media_services=(service,),
        replicas={service: workers, "registry": registries},
        rate_limit_per_second=100000,
        nats_nodes=args.nats_nodes,
        env={
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "1000000",
            "MEDIATASKS_OWNER_RATE_LIMIT_PER_SECOND": "0",
            "MEDIATASKS_QUEUE_BOUND": "1000000",
            "MEDIATASKS_CAPACITY_PER_TYPE": "1000000",
            "MEDIATASKS_WORKER_CONCURRENCY": str(args.worker_concurrency),
            "MEDIATASKS_LOG_LEVEL": "WARNING",
        },
    )


async def _one_configuration(args: argparse.Namespace, stack: Stack, registries: int, workers: int) -> dict:
    pinned = pin(stack_processes(stack)) if args.pin else None
    load = _load_average()
    warm = await _throughput(stack, min(50, args.jobs), args.job)  # connections, caches, JIT-free warm-up
    figures = await _throughput(stack, args.jobs, args.job)
    figures.update(
        registries=registries,
        workers=workers,
        pinned_cores=pinned,
        warm_up_completed=warm["completed"],
        load_average_before=load,
        load_average_after=_load_average(),
    )
    return figures


def compare(args: argparse.Namespace) -> dict:
    """Throughput and CPU per job of 1+1, 2+1 and 1+2 (registries + workers), each on a fresh stack."""
    runs = []
    for registries, workers in ((1, 1), (2, 1), (1, 2)):
        stack = build_stack(args, registries, workers)
        stack.start()
        try:
            runs.append(asyncio.run(_one_configuration(args, stack, registries, workers)))
        finally:
            stack.stop()
            os.sched_setaffinity(0, USABLE_CORES)  # the next stack's processes inherit this one's mask
    base = runs[0]["throughput_jobs_per_s"] or 1.0
    return {
        "machine": {"cpus": os.cpu_count(), "usable_cores": len(USABLE_CORES)},
        "job": args.job,
        "nats_nodes": args.nats_nodes,
        "runs": runs,
        "speedup": {
            "two_registries": round(runs[1]["throughput_jobs_per_s"] / base, 2),
            "two_workers": round(runs[2]["throughput_jobs_per_s"] / base, 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediatasks-bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="offered submit rate per second")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each latency phase")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the throughput phase")
    parser.add_argument("--worker-concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--registries", type=int, default=1, help="registry processes")
    parser.add_argument("--job", choices=("subtitle", "caption"), default="subtitle", help="the job measured")
    parser.add_argument("--pin", action="store_true", help="pin every process to one core (see above)")
    parser.add_argument("--compare", action="store_true", help="1 vs 2 registries and 1 vs 2 workers")
    parser.add_argument("--nats-nodes", type=int, default=1, help="3: a JetStream cluster with R3 streams")
    parser.add_argument(
        "--at-scale",
        action="store_true",
        help="fill the table with --fill tasks (SQL) and time GetTask, ListTasks and /statistics",
    )
    parser.add_argument("--fill", type=int, default=1_000_000, help="tasks --at-scale inserts")
    parser.add_argument("--samples", type=int, default=200, help="calls timed per figure with --at-scale")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run Celery + Redis and Dramatiq + Redis on the same box (dev extra; redis-server)",
    )
    args = parser.parse_args(argv)
    if args.at_scale:
        result = at_scale(args)
    elif args.compare:
        result = compare(args)
    else:
        stack = build_stack(args, args.registries, args.workers)
        stack.start()
        try:
            result = asyncio.run(_run(args, stack))
        finally:
            stack.stop()
        if args.peers:
            result["peers"] = with_peers(result, args)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
