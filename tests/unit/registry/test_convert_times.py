"""set_time writes the same Timestamp as protobuf's own FromDatetime, for aware values in
any zone, naive values (UTC), before the epoch and at microsecond edges."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from google.protobuf import timestamp_pb2
from mediatasks.registry.convert import set_time, task_to_proto, timestamp

EDGES = [
    dt.datetime(2026, 12, 2, 5, 30, 1, 123456, tzinfo=dt.UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(2026, 6, 1, 12, 0, 0, 5),  # naive: UTC
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
]
RANDOM = [dt.datetime.fromtimestamp(random.Random(7).uniform(-2e9, 4e9) + n, dt.UTC) for n in range(500)]


@pytest.mark.parametrize("value", EDGES + RANDOM[::50])
def test_set_time_matches_from_datetime(value):
    theirs, ours = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    theirs.FromDatetime(value)
    set_time(ours, value)
    assert ours == theirs
    assert timestamp(value) == theirs


def test_a_tasks_times_round_trip_through_its_message():
    created = dt.datetime(2026, 12, 2, 5, 30, 1, 654321, tzinfo=dt.UTC)

    class Row:
        id = "7e0f0c4e-3c5e-4d0e-9a3b-2f1d0c9b8a70"
        task_type, status, progress, stage, priority, owner = "subtitle_generation", "QUEUED", 0, "queued", "high", "o"
        attempt, max_attempts, provider, model, cost_usd, cache_hit = 0, 3, "", "", 0.0, False
        webhook_url, metadata, queued_reason, cancel_confirmed = "", {}, "", False
        input = output = error = b""
        created_at = updated_at = created
        started_at = completed_at = next_attempt_at = None
        expires_at = created + dt.timedelta(days=7)

    task = task_to_proto(Row())
    assert task.created_at.ToDatetime(dt.UTC) == created
    assert task.expires_at.ToDatetime(dt.UTC) == created + dt.timedelta(days=7)
    assert not task.HasField("started_at")
