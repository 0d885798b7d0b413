"""Every service's check round on a few shared threads instead of one thread per service.

One timer thread keeps a heap of (due time, job) and hands due jobs to a pool of workers. A job is
back on the heap only after its round returned, so one service never runs twice at once. The next
round is due `interval` after the last one started; a late round runs once, it never catches up.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

#: workers started up front; more are added while every one is stuck (hung checks), up to the cap
CORE_WORKERS = min(8, max(4, 2 * (os.cpu_count() or 1)))
MAX_WORKERS = 64
#: seconds every worker must have spent in its current round before another worker is added
STUCK_AFTER = 0.5


class Job(Protocol):
    """What the scheduler runs: one round of one service."""

    @property
    def interval(self) -> float:
        """Seconds from the end of one round to the start of the next."""

    @property
    def stopped(self) -> bool: ...

    def run_round(self) -> None:
        """One round; must not raise."""


class Scheduler:
    """Runs each added job every `job.interval` seconds on a shared worker pool."""

    def __init__(self, core_workers: int = CORE_WORKERS, max_workers: int = MAX_WORKERS):
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()  # ties on the due time never compare two jobs
        self._wake = threading.Condition()
        self._ready: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy: dict[int, float] = {}  # worker index -> when its current round started
        self._core, self._max = core_workers, max(core_workers, max_workers)
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._spawn("nerve-timer", self._timer)
            for _ in range(self._core):
                self._spawn_worker()

    def add(self, job: Job, due: float | None = None) -> None:
        """Schedule `job` at `due` (monotonic; now by default)."""
        due = time.monotonic() if due is None else due
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._seq), job))
            if self._heap[0][2] is job:
                self._wake.notify()

    @property
    def alive(self) -> bool:
        """Every thread is running (none of them returns while the process lives)."""
        with self._lock:
            return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def _spawn(self, name: str, target) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _spawn_worker(self) -> None:
        index = len(self._threads)
        self._spawn(f"nerve-worker-{index}", lambda: self._worker(index))

    def _timer(self) -> None:
        while True:
            for job in self._take_due():
                self._ready.put(job)
            if not self._ready.empty():
                self._grow_if_stuck()

    def _take_due(self) -> list[Job]:
        """Wait until a job is due (or, with a backlog, at most STUCK_AFTER); pop the due ones."""
        with self._wake:
            delay = self._heap[0][0] - time.monotonic() if self._heap else None
            if not self._ready.empty():
                delay = STUCK_AFTER if delay is None else min(delay, STUCK_AFTER)
            if delay is None or delay > 0:
                self._wake.wait(delay)
            due = []
            while self._heap and self._heap[0][0] <= time.monotonic():
                due.append(heapq.heappop(self._heap)[2])
            return [job for job in due if not job.stopped]

    def _grow_if_stuck(self) -> None:
        with self._lock:
            if self._all_stuck() and len(self._threads) - 1 < self._max:
                log.info("every check worker is in a slow round; adding one")
                self._spawn_worker()

    def _all_stuck(self) -> bool:
        workers = len(self._threads) - 1
        if not self._busy or len(self._busy) < workers:
            return False
        return time.monotonic() - max(self._busy.values()) > STUCK_AFTER

    def _worker(self, index: int) -> None:
        while True:
            job = self._ready.get()
            started = time.monotonic()
            with self._lock:
                self._busy[index] = started
            try:
                job.run_round()
            except Exception:  # noqa: BLE001 - one service's bug must not stop the others
                log.exception("unexpected error in a check round")
            with self._lock:
                del self._busy[index]
            if not job.stopped:
                self.add(job, started + job.interval)


_shared: Scheduler | None = None
_shared_lock = threading.Lock()


def shared_scheduler() -> Scheduler:
    """The process's scheduler, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Scheduler()
            _shared.start()
        return _shared
