"""The background installer: the newest submission wins, failed writes are retried, flush/stop."""

from __future__ import annotations

import threading

from synapse_py.generators.haproxy.installer import BackgroundInstaller


def test_installs_the_newest_and_flushes():
    done, gate = [], threading.Event()

    def install(item):
        gate.wait(5)
        done.append(item)

    inst = BackgroundInstaller(install)
    inst.submit(1)
    inst.submit(2)
    inst.submit(3)  # 2 is replaced before it starts
    gate.set()
    assert inst.flush(5)
    assert done[-1] == 3 and 2 not in done
    inst.stop()


def test_failed_write_is_retried_until_it_succeeds(caplog):
    attempts = []

    def install(item):
        attempts.append(item)
        if len(attempts) < 3:
            raise OSError(28, "No space left on device")

    inst = BackgroundInstaller(install, retry=0.01)
    inst.submit("cfg")
    assert inst.flush(5)
    assert attempts == ["cfg", "cfg", "cfg"]
    assert "2 failed writes so far" in caplog.text
    inst.stop()


def test_stop_installs_what_is_pending():
    done = []
    inst = BackgroundInstaller(done.append)
    inst.submit("last")
    inst.stop()
    assert done == ["last"]
