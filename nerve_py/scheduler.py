"""Every service's check round on one event loop plus a few shared workers, no thread per service.

One loop thread keeps a heap of (due time, job) and a selector. A due job that can run its round
without blocking (`start_fast`: an http check on its kept-alive connection) starts it on the loop:
the request is sent, the socket watched until the response is in or `read_timeout` passes, and the
round ends there, all on this thread. Any other round (a first connection, TLS, tcp, the other
check types, a report that calls ZooKeeper) runs on a pool of workers, as `run_round`. A job is
back on the heap only after its round ended, so one service never runs twice at once. The next
round is due `interval` after the last one started; a late round runs once, it never catches up.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
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


#: what a watched socket's callback returns once its exchange is over: run after unwatching
Finish = Callable[[], None]


class _Watch:
    """One socket the loop waits on until `on_ready` returns a Finish or `deadline` passes."""

    def __init__(self, sock: socket.socket, on_ready: Callable[[], Finish | None],
                 on_timeout: Finish):  # fmt: skip
        self.sock, self.on_ready, self.on_timeout = sock, on_ready, on_timeout
        self.done = False


class _Once:
    """A callable run once on a worker (the blocking end of a round that began on the loop)."""

    interval = 0.0
    stopped = True  # never put back on the heap

    def __init__(self, call: Callable[[], None]):
        self.run_round = call


class Scheduler:
    """Runs each added job every `job.interval` s: on the loop when it can, else on workers."""

    def __init__(self, core_workers: int = CORE_WORKERS, max_workers: int = MAX_WORKERS):
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()  # ties on the due time never compare two jobs
        self._wake = threading.Condition()
        self._ready: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy: dict[int, float] = {}  # worker index -> when its current round started
        self._core, self._max = core_workers, max(core_workers, max_workers)
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._waker, self._wakee = socket.socketpair()
        self._wakee.setblocking(False)
        self._selector.register(self._wakee, selectors.EVENT_READ, None)
        self._deadlines: list[tuple[float, int, _Watch]] = []
        self._loop_thread: int | None = None

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
            head = self._heap[0][2] is job
        if head and threading.get_ident() != self._loop_thread:
            self._waker.send(b"\0")  # the loop may be asleep until a later due time

    @property
    def loop_thread(self) -> int | None:
        """The loop thread's ident (None before start)."""
        return self._loop_thread

    def watch(self, sock: socket.socket, deadline: float, on_ready: Callable[[], Finish | None],
              on_timeout: Finish) -> None:  # fmt: skip
        """(loop thread) Call `on_ready` whenever `sock` is readable until it returns a Finish;
        `on_timeout` instead when `deadline` (monotonic) passes first. Either after unwatching."""
        entry = _Watch(sock, on_ready, on_timeout)
        self._selector.register(sock, selectors.EVENT_READ, entry)
        heapq.heappush(self._deadlines, (deadline, next(self._seq), entry))

    def run_blocking(self, call: Callable[[], None]) -> None:
        """Run `call` once on a worker (it may block: ZooKeeper, a socket read with a timeout)."""
        self._ready.put(_Once(call))

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
        self._loop_thread = threading.get_ident()
        while True:
            self._poll(self._delay())
            self._expire_watches()
            for job in self._take_due():
                start_fast = getattr(job, "start_fast", None)
                if start_fast is None or not _guarded(start_fast, self):
                    self._ready.put(job)
            if not self._ready.empty():
                self._grow_if_stuck()

    def _delay(self) -> float | None:
        """Seconds to the next due round or watch deadline (at most STUCK_AFTER with a backlog)."""
        with self._wake:
            times = [q[0][0] for q in (self._heap, self._deadlines) if q]
        if not self._ready.empty():
            times.append(time.monotonic() + STUCK_AFTER)
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _poll(self, delay: float | None) -> None:
        for key, _ in self._selector.select(delay):
            entry = key.data
            if entry is None:
                self._drain_waker()
                continue
            finish = _guarded(entry.on_ready)
            if finish is not None:
                self._unwatch(entry)
                _guarded(finish)

    def _expire_watches(self) -> None:
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            entry = heapq.heappop(self._deadlines)[2]
            if not entry.done:
                self._unwatch(entry)
                _guarded(entry.on_timeout)

    def _unwatch(self, entry: _Watch) -> None:
        entry.done = True
        with contextlib.suppress(KeyError, ValueError):  # on_ready closed it already
            self._selector.unregister(entry.sock)

    def _drain_waker(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wakee.recv(4096):
                pass

    def _take_due(self) -> list[Job]:
        """Pop the jobs that are due."""
        with self._wake:
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


def _guarded(call, *args):
    """`call(*args)`, a bug in it logged instead of stopping the loop (then None)."""
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - one service's bug must not stop the others
        log.exception("unexpected error in the check loop")
        return None


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
