"""When a call is tried again, and how long the client waits first.

UNAVAILABLE (HTTP 502/503/504, a refused or reset connection) and RESOURCE_EXHAUSTED (429)
are retried; the wait is the server's RetryInfo / Retry-After when it sent one (capped at
``max_delay``), otherwise exponential backoff with full jitter. A create call carries one
Idempotency-Key for all its tries, so a try whose answer was lost never makes a second task.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all (1 = never retry)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)


NO_RETRY = RetryPolicy(attempts=1)
