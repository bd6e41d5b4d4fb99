"""What a benchmark phase asked of PostgreSQL and NATS, per job: transactions that wrote
(or locked) rows, bytes of write-ahead log, and messages through NATS.

CPU per job says what a job costs; these say why. On these machines a statement or a
message costs its fixed price far more than its size (a PostgreSQL round trip ~0.2 ms of
the registry's CPU, a JetStream publish with its acknowledgement ~0.1 ms), so at a steady
rate, where nothing is batched, a job's CPU follows these counts, and in a burst they
show how much grouping took off.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass

from mediatasks.devstack.stack import Stack

# Exact counters, read without adding to them: the next transaction id (one is given to
# every transaction that writes or locks a row, an autocommit statement included) and the
# write-ahead log's position. (pg_stat_database's counts were no use: a backend sends
# them up to ten seconds late.)
_PG_COUNTERS = (
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"
)
_NAMES = ("write_transactions", "wal_bytes", "nats_messages_in", "nats_messages_out")


@dataclass(frozen=True)
class Counters:
    # None: not known (NATS run by someone else, whose monitoring port the stack lacks).
    values: tuple[int | None, ...]

    def per_job(self, earlier: Counters, jobs: int) -> dict[str, float | None]:
        return {
            name: None if now is None or then is None else round((now - then) / max(jobs, 1), 2)
            for name, now, then in zip(_NAMES, self.values, earlier.values, strict=True)
        }


def _monitor_urls(stack: Stack) -> list[str]:
    nodes = [stack.nats] if stack.nats else list(stack.nats_cluster.nodes) if stack.nats_cluster else []
    return [node.monitor_url for node in nodes]


def _read(stack: Stack) -> Counters:
    import psycopg  # lazy: the other phases never talk to PostgreSQL themselves

    url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(_PG_COUNTERS).fetchone()
    database = tuple(int(value) for value in row) if row else (0, 0)
    monitors = _monitor_urls(stack)
    if not monitors:
        return Counters((*database, None, None))
    messages_in = messages_out = 0
    for monitor in monitors:  # a cluster's nodes together (routes included)
        with urllib.request.urlopen(f"{monitor}/varz", timeout=10) as answer:  # noqa: S310 (loopback)
            varz = json.load(answer)
        messages_in += int(varz["in_msgs"])
        messages_out += int(varz["out_msgs"])
    return Counters((*database, messages_in, messages_out))


async def read_counters(stack: Stack) -> Counters:
    """The counters now."""
    return await asyncio.to_thread(_read, stack)
