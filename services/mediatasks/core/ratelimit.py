"""Per-owner request rate limiting inside every service (the gateway limits per credential
too, but gRPC clients can reach a service without passing through Envoy)."""

from __future__ import annotations

import time
from collections import OrderedDict

import grpc

from mediatasks.core.errors import MediaTasksError

_MAX_OWNERS = 100_000


class OwnerRateLimiter:
    """A token bucket per owner: ``rate`` requests per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # owner -> (tokens, last refill); least recently seen owners are forgotten first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, owner: str) -> None:
        """Take one token for ``owner`` or raise 429 ``RATE_LIMITED``."""
        if self.rate <= 0:
            return
        now = self._clock()
        tokens, last = self._buckets.pop(owner, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[owner] = (tokens, now)
            retry_after = (1.0 - tokens) / self.rate
            raise MediaTasksError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "RATE_LIMITED",
                f"more than {self.rate:g} requests per second for this owner; retry in {retry_after:.2f}s",
                metadata={"retry_after_seconds": f"{retry_after:.2f}"},
            )
        self._buckets[owner] = (tokens - 1.0, now)
        while len(self._buckets) > _MAX_OWNERS:
            self._buckets.popitem(last=False)
