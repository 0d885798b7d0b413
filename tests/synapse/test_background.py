"""background.LatestOnly: the newest submission wins, failed items are retried, flush/stop."""

from __future__ import annotations

import threading

from synapse_py.background import LatestOnly


def test_handles_the_newest_and_flushes():
    done, gate = [], threading.Event()

    def handle(item):
        gate.wait(5)
        done.append(item)

    worker = LatestOnly("test", handle)
    worker.submit(1)
    worker.submit(2)
    worker.submit(3)  # 2 is replaced before it starts
    gate.set()
    assert worker.flush(5)
    assert done[-1] == 3 and 2 not in done
    worker.stop()


def test_a_failed_item_is_retried_until_it_succeeds(caplog):
    attempts = []

    def handle(item):
        attempts.append(item)
        if len(attempts) < 3:
            raise OSError(28, "No space left on device")

    worker = LatestOnly("test", handle, retry=0.01)
    worker.submit("cfg")
    assert worker.flush(5)
    assert attempts == ["cfg", "cfg", "cfg"] and worker.failures == 2
    assert "2 failed writes in a row" in caplog.text
    worker.stop()


def test_stop_handles_what_is_pending():
    done: list[str] = []
    worker = LatestOnly("test", done.append)
    worker.submit("last")
    worker.stop()
    assert done == ["last"]
