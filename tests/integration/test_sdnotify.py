"""Both daemons speak systemd's notify protocol to a real unix datagram socket."""

from __future__ import annotations

import signal

import pytest
from support.notify import NotifyListener

pytestmark = pytest.mark.integration

WATCHDOG_USEC = 1_000_000  # pings expected every 0.5 s


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def listener(request):
    lst = NotifyListener(abstract=request.param)
    yield lst
    lst.close()


def _lifecycle(proc, listener: NotifyListener) -> None:
    """READY, watchdog pings, RELOADING/READY around SIGHUP, STOPPING on SIGTERM, exit 0."""
    ready = listener.wait_for("READY", 20)
    assert listener.messages[ready]["STATUS"].startswith("running 1 service")
    first_ping = listener.wait_for("WATCHDOG", 5, after=ready + 1)
    listener.wait_for("WATCHDOG", 5, after=first_ping + 1)

    proc.signal(signal.SIGHUP)
    reloading = listener.wait_for("RELOADING", 10)
    assert int(listener.messages[reloading]["MONOTONIC_USEC"]) > 0
    listener.wait_for("READY", 20, after=reloading + 1)

    proc.signal(signal.SIGTERM)
    listener.wait_for("STOPPING", 20)
    assert proc.wait(20) == 0
    assert all(m.get("WATCHDOG", "1") == "1" for m in listener.messages)


def test_nerve_notifies_systemd(nerve, http_backend, listener):
    nerve.write(nerve.service("web", http_backend().port))
    proc = nerve.start(env=listener.env(WATCHDOG_USEC))
    _lifecycle(proc, listener)


def test_synapse_notifies_systemd(synapse, listener):
    synapse.add_service("web")
    proc = synapse.start(env=listener.env(WATCHDOG_USEC))
    _lifecycle(proc, listener)


def test_no_watchdog_pings_without_watchdog_usec(nerve, http_backend, listener):
    nerve.write(nerve.service("web", http_backend().port))
    proc = nerve.start(env=listener.env())
    listener.wait_for("READY", 20)
    proc.signal(signal.SIGTERM)
    listener.wait_for("STOPPING", 20)
    assert proc.wait(20) == 0
    assert listener.count("WATCHDOG") == 0
