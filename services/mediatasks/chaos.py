"""``make chaos``: run real jobs while the platform's processes and servers fail, then
count what a client would see. Prints one JSON object.

Scenario ``restarts`` (default): ``--jobs`` subtitle jobs are submitted over gRPC, each with
its own idempotency key, retried on the errors a client is told to retry (UNAVAILABLE,
DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED), while the harness SIGKILLs and restarts
workers ``--worker-kills`` times, SIGKILLs a registry replica (and starts it again),
restarts NATS and restarts PostgreSQL. Then it waits for every accepted task to end.

Scenario ``stale``: slow slideshow jobs on two video workers; one worker is frozen
(SIGSTOP) for longer than AckWait while it runs jobs, so JetStream hands them to the other
worker (a newer attempt); it is thawed, and the other worker is SIGKILLed mid-job and
started again. A stale attempt must not strand the job of the newer one.

Scenario ``cluster``: the ``restarts`` load on a three-node JetStream cluster (every
stream, bucket and object store with three replicas; services given every node's URL)
while the harness SIGKILLs one NATS node and brings it back, SIGKILLs the JetStream meta
leader and brings it back, and partitions one node (SIGSTOP, longer than the leader
election timeout, then SIGCONT). After each fault it measures how long the cluster took
to elect a new leader and how long the returning node took to hold current copies of the
streams again; at the end, that the registry's outbox drained.

The figures: ``accepted`` (submits answered with a task), ``lost`` (accepted but not ended,
or missing), ``completed_twice`` (more than one ``task.completed`` event), ``failed``
(ended FAILED), ``client_errors`` (submits that got an error a client does not retry).
Everything runs on this machine on its own embedded NATS and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import nats.errors
from nats.js import JetStreamContext
from sqlalchemy import create_engine, text

from mediatasks.core import topology
from mediatasks.core.clients import channel_target
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import Settings
from mediatasks.devstack.nats_cluster import NatsCluster, wait_current
from mediatasks.devstack.stack import ServiceProcess, Stack
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc, tasks_pb2, video_pb2, video_pb2_grpc

log = logging.getLogger(__name__)

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}
_BALANCED = [("grpc.lb_policy_name", "round_robin")]
_TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass
class Tally:
    """What the clients saw."""

    accepted: dict[int, str] = field(default_factory=dict)  # job index -> task id
    client_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    retries: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class FaultLog:
    """What the harness did, with seconds since the run began."""

    began: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)

    def note(self, fault: str, **detail: Any) -> None:
        self.events.append({"at_s": round(time.monotonic() - self.began, 2), "fault": fault, **detail})

    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(event["fault"] for event in self.events))


async def submit_with_retries(call: Callable[[], Any], tally: Tally, index: int, *, budget_seconds: float) -> None:
    """Submit one job as a careful client would: same idempotency key on every try,
    retry only what the API says is retryable, give up after ``budget_seconds``."""
    deadline = time.monotonic() + budget_seconds
    delay = 0.1
    while True:
        try:
            task = await call()
            tally.accepted[index] = task.task_id
            return
        except grpc.aio.AioRpcError as error:
            if error.code() in RETRYABLE and time.monotonic() < deadline:
                tally.retries[error.code().name] += 1
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
                continue
            detail = (error.details() or "")[:120]
            tally.client_errors[f"{error.code().name}: {detail}"] += 1
            return


async def _paced(count: int, rate: float, one: Callable[[int], Any], concurrency: int = 64) -> None:
    gate = asyncio.Semaphore(concurrency)
    start = time.monotonic()

    async def run(index: int) -> None:
        async with gate:
            await one(index)

    pending = []
    for index in range(count):
        due = start + index / rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(run(index)))
    await asyncio.gather(*pending)


def _kill(process: ServiceProcess, faults: FaultLog, what: str) -> None:
    pid = process.child.pid
    if pid is not None and process.child.is_running():
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.child.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        faults.note(what, process=process.child.name)


def _restart(stack: Stack, process: ServiceProcess) -> None:
    stack.restart(process)


def restarts_plan(stack: Stack, worker_kills: int) -> list[tuple[str, Callable[[FaultLog], None]]]:
    """The faults of the ``restarts`` scenario, in order, spread over the run."""
    workers = [p for p in stack.processes if p.service != "registry"]
    registries = [p for p in stack.processes if p.service == "registry"]

    def kill_worker(number: int) -> Callable[[FaultLog], None]:
        def fault(faults: FaultLog) -> None:
            victim = workers[number % len(workers)]
            _kill(victim, faults, "worker_sigkill")
            _restart(stack, victim)

        return fault

    def kill_registry(faults: FaultLog) -> None:
        victim = registries[-1]
        _kill(victim, faults, "registry_sigkill")
        time.sleep(2.0)
        _restart(stack, victim)

    def restart_nats(faults: FaultLog) -> None:
        assert stack.nats is not None
        faults.note("nats_restart")
        stack.nats.restart()

    def restart_postgres(faults: FaultLog) -> None:
        assert stack.postgres is not None
        faults.note("postgres_restart")
        stack.postgres.stop()
        time.sleep(1.0)
        stack.postgres.start()

    plan: list[tuple[str, Callable[[FaultLog], None]]] = [(f"worker-{n}", kill_worker(n)) for n in range(worker_kills)]
    # The infrastructure faults land among the worker kills, not all at the end.
    for position, (name, fault) in zip(
        (len(plan) // 4, len(plan) // 2, (3 * len(plan)) // 4),
        (("registry", kill_registry), ("nats", restart_nats), ("postgres", restart_postgres)),
        strict=True,
    ):
        plan.insert(position, (name, fault))
    return plan


async def run_faults(plan: list[tuple[str, Callable[[FaultLog], None]]], faults: FaultLog, interval: float) -> None:
    for _name, fault in plan:
        await asyncio.sleep(interval)
        await asyncio.to_thread(fault, faults)


# Why the tasks of the last final_states that ended FAILED did (reason: message), counted.
failure_reasons: collections.Counter[str] = collections.Counter()


def final_states(database_url: str, task_ids: list[str], timeout: float) -> dict[str, str]:
    """Each task's status once all have ended or ``timeout`` passed (and, in
    :data:`failure_reasons`, why the failed ones failed)."""
    engine = create_engine(database_url, pool_pre_ping=True)
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    try:
        while True:
            try:
                with engine.connect() as conn:
                    rows = conn.execute(
                        text(
                            "SELECT CAST(id AS text), status, coalesce(error->>'reason', '') || ': '"
                            " || coalesce(error->>'message', '') FROM tasks WHERE CAST(id AS text) = ANY(:ids)"
                        ),
                        {"ids": task_ids},
                    ).all()
                states = {task_id: status for task_id, status, _ in rows}
                failure_reasons.clear()
                failure_reasons.update(why[:300] for _, status, why in rows if status == "FAILED")
            except Exception:  # the database is still coming back: ask again
                states = states or {}
            ended = sum(1 for s in states.values() if s in _TERMINAL)
            if ended == len(task_ids) or time.monotonic() > deadline:
                return states
            time.sleep(1.0)
    finally:
        engine.dispose()


async def completions(nats_url: str, timeout: float = 120.0) -> collections.Counter[str]:
    """How many ``task.completed`` events each task has in MEDIATASKS_EVENTS. A cluster
    that has just lost and regained nodes may still answer 503 (its JetStream is
    electing) or time out for a while: the count starts over until ``timeout``."""
    nc = await connect(Settings(nats_url=nats_url), name="mediatasks-chaos")
    deadline = time.monotonic() + timeout
    try:
        js = nc.jetstream()
        while True:
            try:
                return await _count_completions(js)
            except (nats.errors.Error, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("reading the events stream failed (%s); reading it again", exc)
                await asyncio.sleep(1.0)
    finally:
        await nc.close()


async def _count_completions(js: JetStreamContext) -> collections.Counter[str]:
    total = (await js.stream_info("MEDIATASKS_EVENTS")).state.messages
    sub = await js.subscribe("mediatasks.events.>", ordered_consumer=True)
    try:
        counts: collections.Counter[str] = collections.Counter()
        for _ in range(total):
            event = tasks_pb2.TaskEvent.FromString((await sub.next_msg(timeout=10)).data)
            if event.event_type == "task.completed":
                counts[event.task_id] += 1
        return counts
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def outbox_rows(database_url: str, timeout: float) -> dict[str, int]:
    """The registry's outbox once it has drained (or ``timeout`` passed): rows still to
    publish and rows parked as unpublishable. Both 0 means every job reached JetStream."""
    engine = create_engine(database_url, pool_pre_ping=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                pending, parked = conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at IS NOT NULL) FROM outbox"
                    )
                ).one()
            if pending == 0 or time.monotonic() > deadline:
                return {"pending": int(pending), "parked": int(parked)}
            time.sleep(0.5)
    finally:
        engine.dispose()


def summarize(tally: Tally, states: dict[str, str], completed: collections.Counter[str], jobs: int) -> dict[str, Any]:
    task_ids = list(tally.accepted.values())
    statuses = collections.Counter(states.get(t, "MISSING") for t in task_ids)
    return {
        "jobs": jobs,
        "accepted": len(set(task_ids)),
        "lost": sum(1 for t in task_ids if states.get(t) not in _TERMINAL),
        "completed_twice": sum(1 for t in task_ids if completed[t] > 1),
        "failed": statuses.get("FAILED", 0),
        "failure_reasons": dict(failure_reasons.most_common(5)),
        "client_errors": sum(tally.client_errors.values()),
        "statuses": dict(statuses),
        "client_error_kinds": dict(tally.client_errors.most_common(10)),
        "client_retries": dict(tally.retries),
    }


async def outcome(
    stack: Stack, args: argparse.Namespace, tally: Tally, faults: FaultLog, scenario: str, began: float
) -> dict[str, Any]:
    """Wait for every accepted task to end, then the figures of the run."""
    states = await asyncio.to_thread(
        final_states, stack.database_url, list(tally.accepted.values()), args.settle_timeout
    )
    result = summarize(tally, states, await completions(stack.nats_url), args.jobs)
    result["outbox"] = await asyncio.to_thread(outbox_rows, stack.database_url, args.settle_timeout)
    result.update(
        scenario=scenario,
        faults=faults.counts(),
        fault_log=faults.events,
        elapsed_seconds=round(time.monotonic() - began, 1),
    )
    return result


# --- scenarios ------------------------------------------------------------------------


async def subtitle_load(
    stack: Stack, args: argparse.Namespace, faults: FaultLog, run_faults_now: Callable[[], Any], scenario: str
) -> dict[str, Any]:
    """``--jobs`` subtitle submits at ``--rate`` while ``run_faults_now()`` (a coroutine)
    injects the scenario's faults; then the outcome."""
    channel = grpc.aio.insecure_channel(channel_target(stack.replica_addresses("subtitle")), options=_BALANCED)
    stub = subtitle_pb2_grpc.SubtitleServiceStub(channel)
    tally = Tally()
    run_id = os.urandom(4).hex()

    async def one(index: int) -> None:
        metadata = (("x-api-key", stack.api_key), ("idempotency-key", f"chaos-{run_id}-{index}"))
        request = subtitle_pb2.GenerateSubtitlesRequest(text=f"Chaos job {index}. It must end once.", no_cache=True)
        await submit_with_retries(
            lambda: stub.GenerateSubtitles(request, metadata=metadata, timeout=15),
            tally,
            index,
            budget_seconds=args.client_budget,
        )

    began = time.monotonic()
    fault_task = asyncio.create_task(run_faults_now())
    await _paced(args.jobs, args.rate, one)
    await fault_task
    submitted = time.monotonic() - began
    await channel.close()
    result = await outcome(stack, args, tally, faults, scenario, began)
    result["submit_seconds"] = round(submitted, 1)
    return result


async def restarts_scenario(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    faults = FaultLog()
    plan = restarts_plan(stack, args.worker_kills)
    return await subtitle_load(stack, args, faults, lambda: run_faults(plan, faults, args.fault_interval), "restarts")


# --- the cluster scenario -------------------------------------------------------------

CLUSTER_FAULTS = ("node", "leader", "partition")
# The streams whose copies a node returning from a fault must catch up on.
_REPLICATED = [topology.JOBS_STREAM, topology.EVENTS_STREAM, topology.HOOKS_STREAM]


async def _bring_back(cluster: NatsCluster, js: Any, index: int, faults: FaultLog) -> None:
    """Restart node ``index`` and note how long until it held current copies again."""
    began = time.monotonic()
    await asyncio.to_thread(cluster.restart, index)
    await wait_current(js, _REPLICATED, cluster.node_name(index), timeout=120)
    faults.note("nats_node_caught_up", node=cluster.node_name(index), seconds=round(time.monotonic() - began, 2))


async def _stream_leader(cluster: NatsCluster, js: Any) -> int:
    """The node leading the jobs stream (its raft group, not the meta group)."""
    for _ in range(100):
        try:
            leader = (await js.stream_info(topology.JOBS_STREAM)).cluster.leader
        except Exception:  # noqa: BLE001 - an election under way: ask again
            leader = None
        names = [cluster.node_name(index) for index in range(cluster.size)]
        if leader in names:
            return names.index(leader)
        await asyncio.sleep(0.2)
    raise RuntimeError("the jobs stream has no leader")


async def cluster_faults(stack: Stack, args: argparse.Namespace, faults: FaultLog) -> None:
    """SIGKILL a NATS node and bring it back; SIGKILL the meta leader and bring it back;
    partition (SIGSTOP) the jobs stream's leader past the election timeout."""
    cluster = stack.nats_cluster
    if cluster is None:
        raise RuntimeError("the cluster scenario needs a stack with nats_nodes=3")
    nc = await connect(Settings(nats_url=stack.nats_url), name="mediatasks-chaos-faults")
    js = nc.jetstream(timeout=5)
    try:
        for fault in args.cluster_faults.split(","):
            await asyncio.sleep(args.fault_interval)
            leader = await asyncio.to_thread(cluster.meta_leader)
            if fault == "node":
                victim = (leader + 1) % cluster.size  # a follower: the leader has its own fault
                await asyncio.to_thread(cluster.kill, victim)
                faults.note("nats_node_sigkill", node=cluster.node_name(victim))
                await asyncio.sleep(args.node_down_seconds)
                await _bring_back(cluster, js, victim, faults)
            elif fault == "leader":
                began = time.monotonic()
                await asyncio.to_thread(cluster.kill, leader)
                faults.note("nats_meta_leader_sigkill", node=cluster.node_name(leader))
                others = [index for index in range(cluster.size) if index != leader]
                elected = await asyncio.to_thread(cluster.meta_leader, 60.0, others)
                faults.note(
                    "nats_meta_leader_elected",
                    node=cluster.node_name(elected),
                    seconds=round(time.monotonic() - began, 2),
                )
                await asyncio.sleep(args.node_down_seconds)
                await _bring_back(cluster, js, leader, faults)
            elif fault == "partition":
                victim = await _stream_leader(cluster, js)
                await asyncio.to_thread(cluster.freeze, victim)
                faults.note("nats_node_partitioned", node=cluster.node_name(victim), seconds=args.partition_seconds)
                await asyncio.sleep(args.partition_seconds)
                began = time.monotonic()
                cluster.thaw(victim)
                await wait_current(js, _REPLICATED, cluster.node_name(victim), timeout=120)
                faults.note(
                    "nats_node_caught_up", node=cluster.node_name(victim), seconds=round(time.monotonic() - began, 2)
                )
            else:
                raise ValueError(f"unknown cluster fault {fault!r} (one of {', '.join(CLUSTER_FAULTS)})")
    finally:
        await nc.close()


async def cluster_scenario(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    faults = FaultLog()
    result = await subtitle_load(stack, args, faults, lambda: cluster_faults(stack, args, faults), "cluster")
    result["nats"] = {"nodes": stack.nats_nodes, "replicas": stack.nats_replicas}
    return result


def _png(width: int, height: int) -> bytes:
    from PIL import Image  # lazy: only the stale scenario makes an image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


async def stale_scenario(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}) as client:
        answer = await client.post("/api/v1/media/uploads", content=_png(64, 48), headers={"content-type": "image/png"})
        answer.raise_for_status()
        image_id = answer.json()["artifact_id"]
    channel = grpc.aio.insecure_channel(channel_target(stack.replica_addresses("video")), options=_BALANCED)
    stub = video_pb2_grpc.VideoServiceStub(channel)
    tally, faults = Tally(), FaultLog()
    run_id = os.urandom(4).hex()

    async def one(index: int) -> None:
        metadata = (("x-api-key", stack.api_key), ("idempotency-key", f"stale-{run_id}-{index}"))
        request = video_pb2.ImagesToVideoRequest(
            images=[video_pb2.SlideImage(id="a", image_url=image_id, duration=args.slide_seconds)],
            width=320,
            height=240,
            fps=25,
            no_cache=True,
        )
        await submit_with_retries(
            lambda: stub.ImagesToVideo(request, metadata=metadata, timeout=15),
            tally,
            index,
            budget_seconds=args.client_budget,
        )

    began = time.monotonic()
    await _paced(args.jobs, args.rate, one)
    frozen, other = [p for p in stack.processes if p.service == "video"][:2]
    ack_wait = float(stack.env.get("MEDIATASKS_ACK_WAIT_SECONDS", "3"))
    engine = create_engine(stack.database_url)

    def claimed_by(process: ServiceProcess) -> set[str]:
        """Tasks running an attempt of ``process`` (claims are ``<host>-<pid>-…/<n>``)."""
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT CAST(id AS text) FROM tasks WHERE status = 'PROCESSING' AND claim LIKE :pattern"),
                {"pattern": f"%-{process.child.pid}-%"},
            ).all()
        return {row[0] for row in rows}

    def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"stale scenario: {what} did not happen within {timeout:.0f}s")
            time.sleep(0.1)

    def freeze_thaw_kill() -> None:
        wait_for("a job starting on the first worker", lambda: bool(claimed_by(frozen)), 60)
        assert frozen.child.pid is not None
        os.kill(frozen.child.pid, signal.SIGSTOP)
        held = claimed_by(frozen)
        faults.note("worker_sigstop", process=frozen.child.name, jobs=len(held))
        # Its heartbeats stop: after AckWait JetStream hands those jobs to the other worker,
        # which starts newer attempts of them.
        wait_for(
            "the frozen worker's jobs restarting elsewhere",
            lambda: bool(held & claimed_by(other)),
            # The other worker takes them once a slot of its own is free: after AckWait,
            # and after the jobs it was running (their length varies with the machine).
            max(90.0, ack_wait * 6),
        )
        os.kill(frozen.child.pid, signal.SIGCONT)
        faults.note("worker_sigcont", process=frozen.child.name, taken_over=len(held & claimed_by(other)))
        time.sleep(max(1.5, ack_wait / 2))  # the thawed worker meets its stale attempts
        _kill(other, faults, "worker_sigkill")  # mid-job: the newer attempts vanish
        _restart(stack, other)

    try:
        await asyncio.to_thread(freeze_thaw_kill)
    finally:
        engine.dispose()
    await channel.close()
    return await outcome(stack, args, tally, faults, "stale", began)


def build_stack(state_dir: Path, args: argparse.Namespace) -> Stack:
    service = "video" if args.scenario == "stale" else "subtitle"
    return Stack(
        state_dir,
        settings=Settings(),
        nats_nodes=3 if args.scenario == "cluster" else 1,
        media_services=(service,),
        replicas={"registry": args.registries, service: args.workers},
        rate_limit_per_second=100000,
        env={
            "MEDIATASKS_ACK_WAIT_SECONDS": str(args.ack_wait),
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "1000000",
            "MEDIATASKS_OWNER_RATE_LIMIT_PER_SECOND": "0",
            "MEDIATASKS_QUEUE_BOUND": "1000000",
            "MEDIATASKS_CAPACITY_PER_TYPE": "1000000",
            "MEDIATASKS_WORKER_CONCURRENCY": str(args.worker_concurrency),
            # Compressed like the faults, but spanning them: an attempt that meets the
            # cluster scenario's partition (12 s, plus the seconds a client needs to give up
            # on the frozen node) fails retryably, and its retries must outlast it, as the
            # default schedule (30 s, 5 min, 30 min) outlasts any of these faults.
            "MEDIATASKS_RETRY_SCHEDULE_SECONDS": "2,5,10" if args.scenario == "cluster" else "0.5,1,2",
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "2",
            "MEDIATASKS_LOG_LEVEL": "WARNING",
            # Stranded tasks are looked at after a few AckWaits, not the default two minutes.
            "MEDIATASKS_RECONCILE_AFTER_SECONDS": str(args.ack_wait * 4),
            "MEDIATASKS_RECONCILE_INTERVAL_SECONDS": str(args.ack_wait),
        },
    )


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="mediatasks-chaos", description=__doc__)
    parse.add_argument("--scenario", choices=("restarts", "stale", "cluster"), default="restarts")
    parse.add_argument("--jobs", type=int, default=2000)
    parse.add_argument(
        "--rate", type=float, default=25.0, help="offered submits per second (the faults take about a minute)"
    )
    parse.add_argument("--worker-kills", type=int, default=20)
    parse.add_argument("--fault-interval", type=float, default=1.0, help="seconds between faults")
    parse.add_argument("--registries", type=int, default=2)
    parse.add_argument("--workers", type=int, default=3, help="worker processes of the scenario's service")
    parse.add_argument("--worker-concurrency", type=int, default=16)
    parse.add_argument("--ack-wait", type=float, default=3.0)
    parse.add_argument(
        "--slide-seconds",
        type=float,
        default=1200.0,
        help="stale scenario: length of each (still) video; 10 to 40 s of work, by machine",
    )
    parse.add_argument(
        "--cluster-faults",
        default=",".join(CLUSTER_FAULTS),
        help="cluster scenario: the faults, in order (node: SIGKILL a follower node; leader: SIGKILL the meta "
        "leader; partition: SIGSTOP the jobs stream's leader)",
    )
    parse.add_argument(
        "--node-down-seconds", type=float, default=3.0, help="cluster scenario: how long a killed node stays down"
    )
    parse.add_argument(
        "--partition-seconds",
        type=float,
        default=12.0,
        help="cluster scenario: how long a node stays cut off (longer than the 9 s maximum election timeout)",
    )
    parse.add_argument("--client-budget", type=float, default=120.0, help="seconds a client keeps retrying a submit")
    parse.add_argument("--settle-timeout", type=float, default=300.0, help="seconds to wait for every task to end")
    return parse


def run(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix=f"mediatasks-chaos-{args.scenario}-"))
    stack = build_stack(state, args)
    stack.start()
    try:
        scenarios = {"stale": stale_scenario, "restarts": restarts_scenario, "cluster": cluster_scenario}
        scenario = scenarios[args.scenario]
        result = asyncio.run(scenario(stack, args))
    finally:
        stack.stop()
    result["state_dir"] = str(state)
    return result


def main(argv: list[str] | None = None) -> int:
    result = run(parser().parse_args(argv))
    json.dump(result, sys.stdout, indent=2)
    print()
    bad = result["lost"] + result["completed_twice"] + result["failed"] + result["client_errors"]
    bad += result["outbox"]["pending"] + result["outbox"]["parked"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
