"""The `multi` method: its resolvers on small fake watchers, the multi in a reconciler with fake
child methods (their events tagged and routed back to the right watcher), and its config (both
Ruby spellings, every refusal naming its key path)."""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from synapse_py import discovery
from synapse_py.backend import Backend
from synapse_py.cli import main
from synapse_py.config import (
    ConfigError,
    DiscoveryConfig,
    ServiceConfig,
    SynapseConfig,
    load_config,
)
from synapse_py.discovery import Published, ServiceData
from synapse_py.discovery.multi import MultiDiscovery, MultiSettings, sequential, union
from synapse_py.reconciler import Reconciler

A, B, C = (Backend("127.0.0.1", 8000 + i, n) for i, n in enumerate("abc", 1))
ZK = {"method": "zookeeper", "hosts": ["127.0.0.1:2181"], "path": "/web"}


@dataclass
class Watcher:
    """What a resolver reads of a watcher."""

    found: tuple[Backend, ...] = ()
    up: bool = True
    answered: bool = True

    def healthy(self) -> bool:
        return self.up

    def ready(self) -> bool:
        return self.answered

    def backends(self) -> tuple[Backend, ...]:
        return self.found


# --- the resolvers -----------------------------------------------------------------------------


def test_union_merges_every_watcher_in_order():
    assert union([Watcher((A,)), Watcher((B, C))]) == (A, B, C)
    assert union([Watcher((A,)), Watcher((A,))]) == (A, A)  # duplicates: the generators' rule


def test_union_waits_for_every_healthy_watcher_and_keeps_a_down_ones_last_answer():
    assert union([Watcher((A,)), Watcher((B,), answered=False)]) is None
    assert union([Watcher((A,)), Watcher((B,), up=False)]) == (A, B)
    assert union([Watcher((A,)), Watcher(up=False, answered=False)]) == (A,)
    assert union([Watcher(up=False, answered=False)] * 2) is None  # nothing answered yet


def test_sequential_takes_the_first_healthy_watcher_with_backends():
    assert sequential([Watcher((A,)), Watcher((B,))]) == (A,)
    assert sequential([Watcher(()), Watcher((B,))]) == (B,)
    assert sequential([Watcher((A,), up=False), Watcher((B,))]) == (B,)  # Ruby: ping? first
    assert sequential([Watcher(()), Watcher(())]) == ()


def test_sequential_readiness_follows_the_order():
    assert sequential([Watcher((A,)), Watcher(answered=False)]) == (A,)  # the first decides
    assert sequential([Watcher(answered=False), Watcher((B,))]) is None  # it may have some
    assert sequential([Watcher(up=False, answered=False), Watcher((B,))]) == (B,)
    assert sequential([Watcher(up=False)] * 2) is None  # every source down: keep what we serve


# --- in a reconciler, with fake child methods ---------------------------------------------------


class Child(Published):
    """A watcher's method that publishes what the test tells it to."""

    made: dict[str, Child] = {}
    up = True

    def __init__(self, service, context):
        super().__init__(service, context)
        Child.made[service.discovery.path] = self

    def healthy(self) -> bool:
        return self.up


class Recorder:
    def __init__(self):
        self.applied: queue.Queue = queue.Queue()

    def apply(self, services, membership):
        self.applied.put(dict(membership))

    def wait(self, expected: dict) -> None:
        last = None
        for _ in range(50):
            try:
                last = self.applied.get(timeout=0.1)
            except queue.Empty:
                continue
            if last == expected:
                return
        raise AssertionError(f"{last} != {expected}")


def multi_service(resolver: str, label_filters: tuple = ()) -> ServiceConfig:
    watchers = (
        ("first", DiscoveryConfig("child", path="/1", label_filters=label_filters)),
        ("second", DiscoveryConfig("child", path="/2")),
    )
    settings = MultiSettings(resolver, ("first", "second"), watchers)
    return ServiceConfig("web", DiscoveryConfig("multi", settings=settings))


@pytest.fixture
def reconciled(monkeypatch):
    monkeypatch.setitem(discovery.DISCOVERY, "child", Child)
    Child.made = {}
    made = []

    def start(svc: ServiceConfig) -> tuple[Reconciler, Recorder]:
        gen = Recorder()
        rec = Reconciler(SynapseConfig(services=(svc,)), [gen], queue.Queue())
        rec.start()
        made.append(rec)
        gen.wait({})
        return rec, gen

    yield start
    for rec in made:
        rec.stop()


def test_a_union_follows_each_watcher_through_its_own_events(reconciled):
    _, gen = reconciled(multi_service("union"))
    first, second = Child.made["/1"], Child.made["/2"]
    first.publish((A,))  # the second has not answered yet: not ready
    second.publish((B,))
    gen.wait({"web": (A, B)})
    second.publish((B, C))  # a join
    gen.wait({"web": (A, B, C)})
    first.publish(())  # a leave
    gen.wait({"web": (B, C)})


def test_a_sequential_falls_back_when_the_first_watcher_is_empty(reconciled):
    _, gen = reconciled(multi_service("sequential"))
    first, second = Child.made["/1"], Child.made["/2"]
    first.publish((A,))
    gen.wait({"web": (A,)})
    second.publish((B,))
    first.publish(())
    gen.wait({"web": (B,)})
    first.publish((C,))
    gen.wait({"web": (C,)})


def test_a_watchers_label_filters_apply_to_its_backends(reconciled):
    zone = Backend("127.0.0.1", 8009, "z", labels={"az": "1"})
    only_az1 = ({"label": "az", "value": "1", "condition": "equals"},)
    _, gen = reconciled(multi_service("union", only_az1))
    Child.made["/1"].publish((A, zone))
    Child.made["/2"].publish((B,))
    gen.wait({"web": (zone, B)})


def test_health_is_any_watchers_and_counters_are_summed(monkeypatch):
    monkeypatch.setitem(discovery.DISCOVERY, "child", Child)
    multi = MultiDiscovery(multi_service("union"), discovery.DiscoveryContext(
        SynapseConfig(services=()), queue.Queue()))  # fmt: skip
    first, second = multi.children.values()
    first.invalid, second.invalid = 1, 2
    assert multi.invalid == 3 and multi.healthy()
    monkeypatch.setattr(Child, "up", False)
    assert not multi.healthy()


def test_the_first_watchers_registry_data_is_the_services(monkeypatch):
    monkeypatch.setitem(discovery.DISCOVERY, "child", Child)
    events: queue.Queue = queue.Queue()
    multi = MultiDiscovery(multi_service("sequential"), discovery.DiscoveryContext(
        SynapseConfig(services=()), events))  # fmt: skip
    child_events = [multi.children["second"].context.events, multi.children["first"].context.events]
    child_events[0].put(ServiceData("web", b"second"))
    tagged = events.get_nowait()
    assert (tagged.child, tagged.event) == ("second", ServiceData("web", b"second"))
    multi.handle(tagged)
    assert events.get_nowait() == ServiceData("web", b"second")
    child_events[1].put(ServiceData("web", b"first"))
    multi.handle(events.get_nowait())
    assert events.get_nowait() == ServiceData("web", b"first")  # first in order wins


# --- config ------------------------------------------------------------------------------------


def write(tmp_path: Path, service: dict) -> Path:
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps({"services": {"web": service}}))
    return path


def multi_section(resolver: dict, **watchers: dict) -> dict:
    return {"method": "multi", "resolver": resolver, "watchers": watchers}


def error(tmp_path: Path, service: dict) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, service))
    return str(e.value)


def test_a_multi_discovery_is_its_watchers_configs(tmp_path):
    section = multi_section({"method": "sequential", "sequential_order": ["b", "a"]},
                            a=ZK, b={**ZK, "path": "/other/"})  # fmt: skip
    loaded = load_config(write(tmp_path, {"discovery": section}))
    settings = loaded.service("web").discovery.settings
    assert settings.resolver == "sequential" and settings.order == ("b", "a")
    assert [(n, d.method, d.path) for n, d in settings.watchers] == [
        ("a", "zookeeper", "/web"), ("b", "zookeeper", "/other")]  # fmt: skip


def test_rubys_discovery_multi_makes_the_discovery_its_primary_watcher(tmp_path):
    secondary = {**ZK, "path": "/secondary", "discovery_jitter": 5}
    service = {"discovery": ZK, "discovery_multi": {
        "resolver": {"method": "union"}, "watchers": {"secondary": secondary}}}  # fmt: skip
    loaded = load_config(write(tmp_path, service))
    d = loaded.service("web").discovery
    assert d.method == "multi" and d.settings.order == ("secondary", "primary")
    assert [w.path for _, w in d.settings.watchers] == ["/secondary", "/web"]
    assert any("discovery_multi.watchers.secondary.discovery_jitter" in w for w in loaded.warnings)


def test_a_primary_in_discovery_multi_is_ignored_with_a_warning_as_ruby(tmp_path):
    service = {"discovery": ZK, "discovery_multi": {
        "resolver": {"method": "union"}, "watchers": {"primary": {"method": "base"}}}}  # fmt: skip
    loaded = load_config(write(tmp_path, service))
    assert [w.path for _, w in loaded.service("web").discovery.settings.watchers] == ["/web"]
    assert any("discovery_multi.watchers.primary: ignored" in w for w in loaded.warnings)


@pytest.mark.parametrize(
    ("service", "key", "problem"),
    [
        ({"discovery": multi_section({"method": "fallback"}, a=ZK)},
         "discovery.resolver.method", "resolver 'fallback' does not exist"),
        ({"discovery": multi_section({"method": "s3_toggle", "s3_url": "s3://b/k"}, a=ZK)},
         "discovery.resolver.method", "resolver 's3_toggle' is not supported: it picks"),
        ({"discovery": ZK, "discovery_multi": {"resolver": {"method": "fallback"}}},
         "discovery_multi.resolver.method", "resolver 'fallback' does not exist"),
        ({"discovery": multi_section({"method": "sequential"}, a=ZK)},
         "discovery.resolver.sequential_order", "required by the sequential resolver"),
        ({"discovery": multi_section({"method": "sequential", "sequential_order": ["a", "x"]},
                                     a=ZK, b=ZK)},
         "discovery.resolver.sequential_order", "names 'x', which is not a watcher"),
        ({"discovery": ZK, "discovery_multi": {"resolver": {
            "method": "sequential", "sequential_order": ["secondary"]},
            "watchers": {"secondary": ZK}}},
         "discovery_multi.resolver.sequential_order", "does not name the watcher 'primary'"),
        ({"discovery": multi_section({"method": "union", "sequential_order": []}, a=ZK)},
         "discovery.resolver.sequential_order", "unknown key for the union resolver"),
        ({"discovery": multi_section({"method": "union"}, primary={**ZK, "path": "x"})},
         "discovery.watchers.primary.path", "must be absolute"),
        ({"discovery": multi_section({"method": "union"}, primary={"method": "zookeeper"})},
         "discovery.watchers.primary", "'hosts' is a required property"),
        ({"discovery": multi_section({"method": "union"}, a={"method": "docker"})},
         "discovery.watchers.a.method", "discovery method 'docker' is not implemented"),
        ({"discovery": multi_section({"method": "union"}, a=multi_section(
            {"method": "union"}, b=ZK))},
         "discovery.watchers.a.method", "a 'multi' discovery cannot be a watcher"),
        ({"discovery": ZK, "discovery_multi": {"resolver": {"method": "union"},
                                                "watchers": {"b": {"method": "marathon"}}}},
         "discovery_multi.watchers.b.method", "discovery method 'marathon' is not implemented"),
        ({"discovery": multi_section({"method": "union"})},
         "discovery.watchers", "should be non-empty"),
        ({"discovery": multi_section({"method": "union"}, a=ZK), "discovery_multi": {
            "resolver": {"method": "union"}}},
         "discovery_multi", "primary watcher, cannot be a multi discovery"),
        ({"discovery": {**multi_section({"method": "union"}, a=ZK), "hosts": ["z:1"]}},
         "discovery.hosts", "unknown key"),
    ],
)  # fmt: skip
def test_bad_multi_configs_are_refused_naming_the_key_path(tmp_path, service, key, problem):
    message = error(tmp_path, service)
    assert f"synapse.json: services.web.{key}: " in message
    assert problem in message


@pytest.mark.parametrize("method", ["docker", "ec2tag", "marathon", "nosuch"])
@pytest.mark.parametrize("where", ["discovery", "discovery.watchers.a"])
def test_validate_refuses_a_method_that_would_route_elsewhere_naming_it(tmp_path, method, where):
    """Ruby's docker, ec2tag and marathon (and any unknown method) are never run as `base`."""
    section = {"method": method, "servers": [{"host": "10.0.0.1", "port": 80}]}
    if where != "discovery":
        section = multi_section({"method": "union"}, a=section)
    r = CliRunner().invoke(main, ["validate", "-c", str(write(tmp_path, {"discovery": section}))])
    assert r.exit_code == 2, r.output
    assert f"services.web.{where}.method: discovery method {method!r} is not implemented" in (
        r.output
    )
