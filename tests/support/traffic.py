"""A bounded stream of HTTP requests through a proxy, in a background thread."""

from __future__ import annotations

import threading
import time
from collections import Counter

from .haproxy import get


class Traffic:
    """GETs `host:port` every `interval` until stopped, `max_requests` or `max_seconds` is hit.

    `answers` counts the body of each answer (the backend's name); None counts failures.
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        interval: float = 0.02,
        max_requests: int = 5000,
        max_seconds: float = 90.0,
    ):
        self.port, self.host, self.interval = port, host, interval
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.answers: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> Counter:
        self._stop.set()
        self._thread.join(5)
        return self.answers

    @property
    def failures(self) -> int:
        return self.answers[None]

    @property
    def served(self) -> int:
        return sum(n for body, n in self.answers.items() if body is not None)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            self.answers[get(self.port, timeout=2.0, host=self.host)] += 1
            self._stop.wait(self.interval)
