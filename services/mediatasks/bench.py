"""``make bench``: submit latency over gRPC and REST at a fixed offered rate, then
end-to-end throughput and submit→start latency of the cheapest real job (subtitles from a
short text) with one worker process. Prints one JSON object.

Everything runs on this machine (embedded NATS, PostgreSQL and Envoy, each service its own
process), so the load generator shares the CPU with the system under test.
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

import grpc
import httpx
import nats

from mediatasks.core.clients import channel_target
from mediatasks.core.settings import Settings
from mediatasks.devstack.stack import Stack
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc, tasks_pb2

_BALANCED = [("grpc.lb_policy_name", "round_robin")]


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


async def _rest_submit(stack: Stack, rate: float, seconds: float) -> dict:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, limits=limits, timeout=10
    ) as client:

        async def call() -> None:
            response = await client.post("/api/v1/media/subtitles/generate", json={"text": _text(), "no_cache": True})
            response.raise_for_status()

        await _open_loop(50, 1, call)
        latencies, errors = await _open_loop(rate, seconds, call)
    return {**_percentiles(latencies), "errors": errors, "offered_rate_per_s": rate}


async def _drain(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until the latency phases' jobs are done, so they do not count as throughput."""
    async with httpx.AsyncClient(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = (await client.get("/api/v1/media/statistics")).json()
            active = int(stats["by_status"].get("QUEUED", 0)) + int(stats["by_status"].get("PROCESSING", 0))
            if active == 0:
                return
            await asyncio.sleep(0.5)


async def _throughput(stack: Stack, jobs: int) -> dict:
    nc = await nats.connect(stack.nats_url)
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
    channel = grpc.aio.insecure_channel(channel_target(stack.replica_addresses("subtitle")), options=_BALANCED)
    stub = subtitle_pb2_grpc.SubtitleServiceStub(channel)
    metadata = (("x-api-key", stack.api_key),)
    semaphore = asyncio.Semaphore(64)

    async def submit() -> None:
        async with semaphore:
            task = await stub.GenerateSubtitles(
                subtitle_pb2.GenerateSubtitlesRequest(text=_text(), no_cache=True), metadata=metadata, timeout=30
            )
            created[task.task_id] = time.perf_counter()

    began = time.perf_counter()
    await asyncio.gather(*(submit() for _ in range(jobs)))
    submitted = time.perf_counter() - began
    try:
        await asyncio.wait_for(done.wait(), timeout=90)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - began
    await sub.unsubscribe()
    await nc.close()
    await channel.close()
    return {
        "jobs": jobs,
        "completed": completed,
        "failed": failed,
        "submit_seconds": round(submitted, 3),
        "elapsed_seconds": round(elapsed, 3),
        "throughput_jobs_per_s": round(completed / elapsed, 1),
        "submit_to_start": _percentiles([max(0.0, s) for s in starts]) if starts else {},
    }


async def _run(args: argparse.Namespace, stack: Stack) -> dict:
    result = {
        "machine": {"cpus": os.cpu_count()},
        "processes": {"registry": args.registries, "subtitle_workers": args.workers},
        "grpc_submit": await _grpc_submit(stack, args.rate, args.seconds),
        "rest_submit": await _rest_submit(stack, args.rate, args.seconds),
    }
    await _drain(stack)
    result["end_to_end"] = await _throughput(stack, args.jobs)
    result["targets"] = {
        "throughput_jobs_per_s": 2000,
        "grpc_submit_p99_ms": 5,
        "rest_submit_p99_ms": 8,
        "submit_to_start_p50_ms": 3,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediatasks-bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="offered submit rate per second")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each latency phase")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the throughput phase")
    parser.add_argument("--worker-concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="subtitle worker processes")
    parser.add_argument("--registries", type=int, default=1, help="registry processes")
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="mediatasks-bench-"))
    stack = Stack(
        state,
        settings=Settings(),
        media_services=("subtitle",),
        replicas={"subtitle": args.workers, "registry": args.registries},
        rate_limit_per_second=100000,
        env={
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "1000000",
            "MEDIATASKS_OWNER_RATE_LIMIT_PER_SECOND": "0",
            "MEDIATASKS_QUEUE_BOUND": "1000000",
            "MEDIATASKS_CAPACITY_PER_TYPE": "1000000",
            "MEDIATASKS_WORKER_CONCURRENCY": str(args.worker_concurrency),
            "MEDIATASKS_LOG_LEVEL": "WARNING",
        },
    )
    stack.start()
    try:
        result = asyncio.run(_run(args, stack))
    finally:
        stack.stop()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
