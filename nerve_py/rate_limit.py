"""Token bucket for ZooKeeper writes (the Ruby nerve's `rate_limiting`: average_rate, max_burst)."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows `max_burst` writes at once, refilled at `average_rate` per second."""

    def __init__(self, average_rate: float, max_burst: int, clock=time.monotonic):
        self.rate = average_rate
        self.capacity = float(max_burst)
        self.tokens = float(max_burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Unlimited:
    """No rate limit (the default)."""

    def take(self) -> bool:
        return True
