"""The shared check scheduler: rounds at their interval, never two of one job at once."""

from __future__ import annotations

import threading
import time

from nerve_py.scheduler import Scheduler


class Job:
    def __init__(self, interval: float, work: float = 0.0):
        self.interval = interval
        self.work = work
        self.starts: list[float] = []
        self.running = 0
        self.overlapped = False
        self.halt = threading.Event()

    @property
    def stopped(self) -> bool:
        return self.halt.is_set()

    def run_round(self) -> None:
        self.running += 1
        self.overlapped |= self.running > 1
        self.starts.append(time.monotonic())
        time.sleep(self.work)
        self.running -= 1


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_rounds_repeat_at_the_interval_on_a_few_threads():
    scheduler = Scheduler(core_workers=2)
    scheduler.start()
    jobs = [Job(0.1) for _ in range(20)]
    for job in jobs:
        scheduler.add(job)
    wait_until(lambda: all(len(j.starts) >= 3 for j in jobs))
    for job in jobs:
        job.halt.set()
    assert scheduler.alive
    gaps = [b - a for j in jobs for a, b in zip(j.starts, j.starts[1:], strict=False)]
    assert min(gaps) >= 0.1


def test_a_slow_round_is_never_overlapped_and_not_caught_up():
    scheduler = Scheduler(core_workers=4)
    scheduler.start()
    job = Job(0.05, work=0.2)
    scheduler.add(job)
    wait_until(lambda: len(job.starts) >= 4)
    job.halt.set()
    assert not job.overlapped
    gaps = [b - a for a, b in zip(job.starts, job.starts[1:], strict=False)]
    assert min(gaps) >= 0.2  # late: the next round starts when this one is done, only once


def test_a_stopped_job_runs_no_more_rounds():
    scheduler = Scheduler(core_workers=1)
    scheduler.start()
    job = Job(0.05)
    scheduler.add(job)
    wait_until(lambda: len(job.starts) >= 1)
    job.halt.set()
    time.sleep(0.2)
    count = len(job.starts)
    time.sleep(0.2)
    assert len(job.starts) == count


def test_workers_are_added_while_every_one_is_stuck():
    scheduler = Scheduler(core_workers=1, max_workers=3)
    scheduler.start()
    hung = Job(10.0, work=2.0)
    quick = Job(0.1)
    scheduler.add(hung)
    time.sleep(0.05)
    scheduler.add(quick)
    wait_until(lambda: len(quick.starts) >= 3, timeout=1.5)  # before the hung round ends
    hung.halt.set()
    quick.halt.set()
