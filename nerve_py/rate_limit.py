"""Ruby nerve's `rate_limiting`: a token bucket on a service's reports (registrations, removals).

Ruby nerve 0.9.7 semantics, kept exactly:
- the bucket starts with `average_rate` tokens (not `max_burst`), and gains whole tokens only:
  floor(average_rate * seconds since the last refill), capped at `max_burst`;
- a report takes one token; without one the report is "throttled";
- `shadow_mode` (default true) only logs a throttled report and makes it anyway; with
  `shadow_mode: false` it is deferred to a later check round (the latest state wins).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class TokenBucket:
    """`average_rate` tokens per second on average, at most `max_burst` saved up."""

    def __init__(
        self, average_rate: float, max_burst: float, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = float(average_rate)
        self.capacity = float(max_burst)
        self.tokens = self.rate
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Consume a token if one is there."""
        self._refill()
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def _refill(self) -> None:
        now = self._clock()
        gained = math.floor(self.rate * (now - self._last))
        if gained >= 1:
            self.tokens = min(self.tokens + gained, self.capacity)
            self._last = now


class ReportLimiter:
    """Decides whether one report may go ahead now; logs every throttled one."""

    def __init__(self, name: str, bucket: TokenBucket, shadow_mode: bool = True):
        self.name = name
        self.bucket = bucket
        self.shadow_mode = shadow_mode
        self.throttled = 0  # reports that found no token (made anyway in shadow mode)

    def allow(self) -> bool:
        if self.bucket.take():
            return True
        self.throttled += 1
        log.warning(
            "%s: report throttled by rate_limiting (shadow_mode: %s)%s",
            self.name,
            str(self.shadow_mode).lower(),
            "; reporting anyway" if self.shadow_mode else "; deferred to a later round",
        )
        return self.shadow_mode
