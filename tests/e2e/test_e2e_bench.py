"""``make bench``'s throughput phase on the stack it builds: every job is followed to its
end, and the report says what each job asked of PostgreSQL and NATS besides its CPU."""

from __future__ import annotations

import argparse
import asyncio

from mediatasks import bench


def test_the_throughput_phase_counts_each_jobs_operations():
    args = argparse.Namespace(job="subtitle", worker_concurrency=8, nats_nodes=1)
    stack = bench.build_stack(args, 1, 1)
    stack.start()
    try:
        report = asyncio.run(bench._throughput(stack, 20, "subtitle", timeout=120.0))
    finally:
        stack.stop()
    assert report["completed"] == 20, report
    operations = report["operations_per_job"]
    # A job's task goes in, and is written again when the job ends (a quick job's start
    # rides on its completion), with its log lines and outbox rows; its job, events and
    # output cross NATS. A burst shares transactions (a fraction of one a job).
    assert 0 < operations["write_transactions"] <= 4, operations
    assert operations["wal_bytes"] > 500, operations
    assert operations["nats_messages_in"] >= 4, operations
    assert operations["nats_messages_out"] >= 4, operations
    assert set(report["cpu_ms_per_job"]) >= {"registry", "worker", "nats", "postgres", "envoy"}
