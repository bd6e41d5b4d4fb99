"""The rollups' arithmetic: the p95 estimate stays within the histogram's bins, bucket
boundaries."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from mediatasks.registry import rollups


def _bins_around_p95(durations: list[float]) -> tuple[float, float]:
    rank = 0.95 * (len(durations) - 1)
    low = rollups.bin_range(rollups.duration_bin(durations[math.floor(rank)]))[0]
    high_bin = rollups.duration_bin(durations[math.ceil(rank)])
    high = rollups.bin_range(high_bin)[1] if high_bin < len(rollups.DURATION_BOUNDS) else math.inf
    return low, high


def test_p95_from_the_histogram_stays_within_the_bins_of_the_exact_one():
    rng = random.Random(5)
    for size in (1, 2, 3, 19, 20, 21, 500, 5000):
        durations = sorted(math.exp(rng.uniform(math.log(0.001), math.log(2e5))) for _ in range(size))
        histogram: list[int] = []
        for duration in durations:
            rollups.add_histogram(histogram, [0] * rollups.duration_bin(duration) + [1])
        low, high = _bins_around_p95(durations)
        assert low <= rollups.percentile(histogram, 0.95) <= high
    assert rollups.percentile([], 0.95) == 0.0


def test_bins_are_width_bucket_over_the_bounds():
    bounds = rollups.DURATION_BOUNDS
    assert rollups.duration_bin(0.0) == 0 and rollups.duration_bin(bounds[0]) == 1
    assert rollups.duration_bin(1e9) == len(bounds)
    assert bounds[1] / bounds[0] == pytest.approx(10 ** (1 / 20))
    for bin_ in range(1, len(bounds)):
        low, high = rollups.bin_range(bin_)
        assert rollups.duration_bin(low) == bin_ and rollups.duration_bin(math.nextafter(high, 0)) == bin_


def test_bucket_ceiling_is_the_next_whole_five_minutes():
    origin = rollups.ORIGIN
    assert rollups.bucket_ceiling(origin + dt.timedelta(minutes=10)) == origin + dt.timedelta(minutes=10)
    assert rollups.bucket_ceiling(origin + dt.timedelta(minutes=10, microseconds=1)) == origin + dt.timedelta(
        minutes=15
    )
    moment = dt.datetime(2026, 12, 1, 17, 42, 13, 5, tzinfo=dt.UTC)
    assert rollups.bucket_ceiling(moment) == dt.datetime(2026, 12, 1, 17, 45, tzinfo=dt.UTC)
