"""synapse_py.kept: which served backends are kept rather than live, why, and since when."""

from __future__ import annotations

import time

from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, ServiceConfig
from synapse_py.kept import KeptBackends

A, B, C = (Backend(f"10.0.0.{i}", 8000 + i, f"i-{i}") for i in (1, 2, 3))


def svc(**kw) -> ServiceConfig:
    return ServiceConfig(name="web", discovery=DiscoveryConfig("zookeeper", ("z:1",), "/s"), **kw)


def reasons(kept: KeptBackends) -> dict[str, str]:
    return {k.key: k.reason for k in kept.snapshot()[1].get("web", ())}


def test_seeded_backends_are_kept_until_discovery_lists_them():
    kept = KeptBackends()
    kept.seeded({"web": [A, B]}, saved_at=1000.0)
    assert reasons(kept) == {A.key: "state_file", B.key: "state_file"}
    assert {k.since for k in kept.snapshot()[1]["web"]} == {1000.0}
    kept.update(svc(), (A, B), (A, B), None)
    assert kept.snapshot()[1] == {}


def test_an_empty_read_keeps_the_previous_since_the_last_listing():
    kept = KeptBackends()
    before = time.time()
    kept.update(svc(), (A, B), (A, B), None)
    kept.update(svc(), (), (A, B), None)
    found = kept.snapshot()[1]["web"]
    assert {k.reason for k in found} == {"use_previous_backends"}
    assert all(k.since >= before for k in found)
    first = {k.key: k.since for k in found}
    kept.update(svc(), (), (A, B), None)  # read again, still empty: the age keeps counting
    assert {k.key: k.since for k in kept.snapshot()[1]["web"]} == first


def test_a_seed_kept_by_an_empty_read_keeps_its_age():
    kept = KeptBackends()
    kept.seeded({"web": [A]}, saved_at=1000.0)
    kept.update(svc(), (), (A,), None)
    (k,) = kept.snapshot()[1]["web"]
    assert (k.reason, k.since) == ("use_previous_backends", 1000.0)


def test_a_mass_expiry_hold_marks_only_the_vanished():
    kept = KeptBackends()
    kept.update(svc(), (A,), (A, B, C), hold_began=2000.0)
    assert reasons(kept) == {B.key: "mass_expiry", C.key: "mass_expiry"}
    version = kept.snapshot()[0]
    kept.update(svc(), (A,), (A, B, C), hold_began=2000.0)
    assert kept.snapshot()[0] == version  # no change, no rewrite of the status file


def test_default_servers_and_an_empty_result_are_not_kept():
    kept = KeptBackends()
    kept.update(svc(default_servers=(C,)), (), (C,), None)
    kept.update(svc(use_previous_backends=False), (), (), None)
    assert kept.snapshot()[1] == {}


def test_a_removed_service_is_forgotten():
    kept = KeptBackends()
    kept.seeded({"web": [A]}, saved_at=1.0)
    kept.retain(["api"])
    assert kept.snapshot()[1] == {}
