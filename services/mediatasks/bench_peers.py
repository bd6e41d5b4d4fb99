"""The peers of ``make bench`` on the same box, the same day: Celery 5 + Redis (prefork,
two processes) and Dramatiq + Redis (two processes of 8 threads, its CLI's default on
two cores), running the same no-op job (it counts itself done in Redis) in the same
burst and at the same offered enqueue rate. Redis is the OS package's ``redis-server``,
started on a free port in a temporary directory, never the machine's 6379; each peer gets
a fresh one. Dev-only: celery, dramatiq and redis come with the ``dev`` extra.

``python -m mediatasks.bench_peers`` prints the peers' figures as JSON; ``python -m
mediatasks.bench --peers`` prints them beside mediatasks' own and as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

DONE_KEY = "bench:done"
PEERS = ("celery", "dramatiq")
_WORKER_PROCESSES = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1, no persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: install the redis-server OS package (deploy/scripts/system-deps.sh)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="mediatasks-peers-redis-"))
        self.port = _free_port()
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.dir), "--protected-mode", "yes"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the peers' workers (run as ``python -m mediatasks.bench_peers worker <peer> <url>``) ----


def _celery_app(url: str):
    from celery import Celery

    app = Celery("mediatasks_bench", broker=url)
    app.conf.update(worker_hijack_root_logger=False, task_ignore_result=True, worker_prefetch_multiplier=4)
    # One Redis client per worker process, made in the (forked) child on its first job.
    clients: dict[int, Any] = {}

    @app.task(name="bench.noop")
    def noop(payload: str) -> None:
        import redis

        client = clients.get(os.getpid()) or clients.setdefault(os.getpid(), redis.Redis.from_url(url))
        client.incr(DONE_KEY)

    return app, noop


def _dramatiq_actor(url: str):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    clients: dict[str, Any] = {}

    @dramatiq.actor(actor_name="bench_noop", max_retries=0)
    def noop(payload: str) -> None:
        import redis

        client = clients.get("redis") or clients.setdefault("redis", redis.Redis.from_url(url))
        client.incr(DONE_KEY)

    return broker, noop


def run_worker(peer: str, url: str) -> None:
    if peer == "celery":
        app, _noop = _celery_app(url)
        argv = [
            "worker",
            "--pool",
            "prefork",
            "-c",
            str(_WORKER_PROCESSES),
            "--loglevel",
            "WARNING",
            "--without-gossip",
        ]
        app.worker_main([*argv, "--without-mingle", "--without-heartbeat"])
        return
    import signal
    import threading

    import dramatiq

    broker, _noop = _dramatiq_actor(url)
    worker = dramatiq.Worker(broker, worker_threads=8)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    worker.stop()


# --- the load generator ---------------------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}


def _enqueuer(peer: str, url: str):
    if peer == "celery":
        _app, noop = _celery_app(url)
        return lambda: noop.delay(uuid.uuid4().hex)
    _broker, actor = _dramatiq_actor(url)
    return lambda: actor.send(uuid.uuid4().hex)


def _start_workers(peer: str, url: str) -> list[subprocess.Popen]:
    argv = [sys.executable, "-m", "mediatasks.bench_peers", "worker", peer, url]
    count = 1 if peer == "celery" else _WORKER_PROCESSES  # Celery's prefork forks its own children
    return [subprocess.Popen(argv, stdout=subprocess.DEVNULL) for _ in range(count)]  # noqa: S603


def _wait_done(client, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = int(client.get(DONE_KEY) or 0)
        if done >= expected:
            break
        time.sleep(0.005)
    return done


def measure_peer(peer: str, jobs: int, rate: float, seconds: float, timeout: float = 300.0) -> dict:
    """Enqueue latency at ``rate``/s for ``seconds``, then a burst of ``jobs`` end to end,
    with the CPU per job of Redis, the workers and this load generator."""
    import redis

    from mediatasks.bench import cpu_by_kind

    server = RedisServer()
    workers = _start_workers(peer, server.url)
    try:
        client = redis.Redis.from_url(server.url)
        enqueue = _enqueuer(peer, server.url)
        enqueue()  # warm-up: the producer's connection, the workers' start
        if _wait_done(client, 1, 60.0) < 1:
            raise RuntimeError(f"{peer} workers did not run the warm-up job within 60 s")
        latencies = []
        total = int(rate * seconds)
        start = time.perf_counter()
        for index in range(total):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            enqueue()
            latencies.append(time.perf_counter() - began)
        _wait_done(client, 1 + total, 60.0)
        client.set(DONE_KEY, 0)
        kinds = {"redis": [server.process.pid], "worker": [w.pid for w in workers], "load_generator": [os.getpid()]}
        cpu_before = cpu_by_kind(kinds)
        began = time.perf_counter()
        for _ in range(jobs):
            enqueue()
        submitted = time.perf_counter() - began
        completed = _wait_done(client, jobs, timeout)
        elapsed = time.perf_counter() - began
        cpu_after = cpu_by_kind(kinds)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        server.stop()
    return {
        "peer": peer,
        "enqueue": {**_percentiles(latencies), "count": len(latencies), "offered_rate_per_s": rate},
        "end_to_end": {
            "jobs": jobs,
            "completed": completed,
            "submit_seconds": round(submitted, 3),
            "elapsed_seconds": round(elapsed, 3),
            "throughput_jobs_per_s": round(completed / elapsed, 1),
            "cpu_ms_per_job": {
                kind: round((cpu_after[kind] - cpu_before[kind]) / max(completed, 1) * 1000, 3) for kind in cpu_after
            },
        },
    }


def measure_peers(jobs: int, rate: float, seconds: float) -> dict[str, dict]:
    return {peer: measure_peer(peer, jobs, rate, seconds) for peer in PEERS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediatasks-bench-peers", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker", help="(internal) run one peer's worker")
    worker.add_argument("peer", choices=PEERS)
    worker.add_argument("url")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.command == "worker":
        run_worker(args.peer, args.url)
        return 0
    json.dump(measure_peers(args.jobs, args.rate, args.seconds), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
