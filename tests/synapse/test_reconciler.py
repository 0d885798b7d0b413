"""The reconciler in process, with a fake discovery method and a recording generator: it drives
any method through the Protocol alone (no method is named in it)."""

from __future__ import annotations

import queue
import threading
from dataclasses import replace

import pytest

from synapse_py import discovery
from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, ServiceConfig, SynapseConfig
from synapse_py.discovery import Published, Touched
from synapse_py.reconciler import Reconciler, Reconfigure

A, B = Backend("127.0.0.1", 8001, "a"), Backend("127.0.0.1", 8002, "b")


class Fake(Published):
    """Publishes what the test tells it to; records its life."""

    made: list[Fake] = []

    def __init__(self, service, context):
        super().__init__(service, context)
        self.started = self.stopped = False
        Fake.made.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


class Recorder:
    def __init__(self):
        self.applied: list[dict] = []
        self.changed = threading.Event()

    def apply(self, services, membership):
        self.applied.append({name: tuple(b) for name, b in membership.items()})
        self.changed.set()

    def wait(self, expected: dict) -> None:
        for _ in range(100):
            if self.applied and self.applied[-1] == expected:
                return
            self.changed.wait(0.05)
            self.changed.clear()
        raise AssertionError(f"{self.applied[-1:]} != {expected}")


@pytest.fixture
def fake_method(monkeypatch):
    monkeypatch.setitem(discovery.DISCOVERY, "fake", Fake)
    Fake.made = []
    return Fake


def config(*names: str, method: str = "fake") -> SynapseConfig:
    return SynapseConfig(services=tuple(ServiceConfig(n, DiscoveryConfig(method)) for n in names))


@pytest.fixture
def running(fake_method):
    made = []

    def start(conf: SynapseConfig) -> tuple[Reconciler, Recorder]:
        gen = Recorder()
        rec = Reconciler(conf, [gen], queue.Queue())
        rec.start()
        made.append(rec)
        return rec, gen

    yield start
    for rec in made:
        rec.stop()


def test_a_service_is_handed_out_once_its_discovery_is_ready(running):
    rec, gen = running(config("web"))
    assert gen.applied == [{}]  # not ready: nothing known, every output keeps what it has
    [fake] = Fake.made
    assert fake.started
    fake.publish((A, B))
    gen.wait({"web": (A, B)})
    assert rec.discovery_events == {}  # a Membership has no `figure`


def test_an_empty_membership_keeps_the_previous_backends(running):
    _, gen = running(config("web"))
    Fake.made[0].publish((A,))
    gen.wait({"web": (A,)})
    Fake.made[0].publish(())
    gen.wait({"web": (A,)})  # use_previous_backends (default true), the same for every method


def test_a_sighup_replaces_the_discovery_of_a_changed_service_only(running):
    rec, gen = running(config("web", "api"))
    web, api = Fake.made
    web.publish((A,))
    api.publish((B,))
    gen.wait({"web": (A,), "api": (B,)})
    new = config("api", "web2")
    rec.events.put(Reconfigure(new, (gen,)))
    gen.wait({"api": (B,)})
    assert web.stopped and not api.stopped
    assert [f.service.name for f in Fake.made] == ["web", "api", "web2"]


def test_events_of_unknown_services_and_kinds_are_ignored(running):
    rec, gen = running(config("web"))
    rec.events.put(discovery.Membership("gone", (A,)))
    rec.events.put(object())  # no service: every discovery gets it, Published ignores it
    Fake.made[0].publish((B,))
    gen.wait({"web": (B,)})
    assert Fake.made[0].handle(object()) == Touched.NOTHING


def test_stop_stops_every_discovery(running):
    rec, _ = running(config("web", "api"))
    rec.stop()
    assert all(f.stopped for f in Fake.made)


def test_the_first_apply_waits_until_every_service_has_its_first_membership(running):
    _, gen = running(config("web", "api", "db"))
    web, api, db = Fake.made
    web.publish((A,))
    api.publish((B,))
    db.publish((A, B))
    gen.wait({"web": (A,), "api": (B,), "db": (A, B)})
    assert gen.applied == [{}, {"web": (A,), "api": (B,), "db": (A, B)}]  # one, with all of them
    web.publish((B,))
    gen.wait({"web": (B,), "api": (B,), "db": (A, B)})  # after it, each change as it comes


def test_the_startup_hold_is_bounded_and_names_the_services_missing(fake_method, caplog):
    conf = replace(config("web", "api"), wait_startup=0.2)
    gen = Recorder()
    rec = Reconciler(conf, [gen], queue.Queue())
    rec.start()
    try:
        Fake.made[0].publish((A,))
        gen.wait({"web": (A,)})  # api never answers: web is applied once the hold is over
        assert gen.applied == [{}, {"web": (A,)}]
        assert "no first membership from 1 service(s) after 0.2s" in caplog.text
        assert "(api)" in caplog.text
    finally:
        rec.stop()


def test_the_state_files_membership_is_served_at_once_and_kept_during_the_hold(running):
    gen = Recorder()
    rec = Reconciler(config("web", "api"), [gen], queue.Queue())
    rec.start(seed={"web": (A,), "api": (A,)})
    try:
        assert gen.applied == [{"web": (A,), "api": (A,)}]
        Fake.made[0].publish((B,))
        Fake.made[1].publish((A, B))
        gen.wait({"web": (B,), "api": (A, B)})
        assert gen.applied == [{"web": (A,), "api": (A,)}, {"web": (B,), "api": (A, B)}]
    finally:
        rec.stop()


def test_a_startup_wait_of_zero_applies_each_service_as_it_comes(fake_method):
    gen = Recorder()
    rec = Reconciler(replace(config("web", "api"), wait_startup=0), [gen], queue.Queue())
    rec.start()
    try:
        Fake.made[0].publish((A,))
        gen.wait({"web": (A,)})
    finally:
        rec.stop()
