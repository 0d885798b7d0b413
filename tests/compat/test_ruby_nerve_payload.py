"""nerve-py writes the very znode Ruby nerve 0.9.7 wrote for each ruby-reference/nerve case.

Each case's config goes through our config loader unchanged; the payload must equal Ruby's bytes
(compact JSON, raw UTF-8, Ruby's key order, labels in config order) and the child name must match
the recorded pattern (for path encoding, the base64 of exactly those bytes).
"""

from __future__ import annotations

import re

import pytest
from support.ruby_nerve_ref import nerve_cases

from nerve_py.config import load_config
from nerve_py.registration import registration_for

CASES = nerve_cases()


def child_name(reg) -> str:
    """The name ZooKeeper gives the node: sequence 0 under a fresh zk_path, as recorded."""
    return reg.prefix + ("0000000000" if reg.sequence else "")


def test_every_case_is_covered():
    assert len(CASES) >= 16 and CASES[0].name.startswith("n01")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_payload_bytes_and_child_name_are_rubys(case):
    config = load_config(case.config_path)
    (service,) = config.services
    reg = registration_for(service)
    assert reg.payload == case.data, reg.payload.decode()
    assert re.fullmatch(case.child_name_pattern, child_name(reg)), child_name(reg)
    assert reg.zk_path == case.zk_path
    assert not any("not implemented" in w for w in config.warnings)
