"""The Ruby nerve 0.9.7 golden reference (tests/ruby_reference/nerve): configs and the znodes.

Each case NAME has NAME.config.json (a whole nerve config with one service, NAME) and
NAME.expected.json: the exact data bytes Ruby nerve wrote (`data_b64`) and a regex for the child
name (`child_name_pattern`, the sequence written `\\d{10}`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import ruby_reference

ROOT = ruby_reference.ROOT
RUBY_ZK = "127.0.0.1:22181"  # the ZooKeeper and the endpoint the cases were recorded with
RUBY_ENDPOINT_PORT = 28080


@dataclass(frozen=True)
class NerveCase:
    name: str
    config_path: Path
    data: bytes
    child_name_pattern: str
    zk_path: str

    @property
    def config(self) -> dict:
        return json.loads(self.config_path.read_text(encoding="utf-8"))


def nerve_cases() -> list[NerveCase]:
    folder = ROOT / "nerve"
    if not folder.is_dir():
        pytest.fail(f"the Ruby reference is missing: {folder} (set RUBY_REFERENCE)", pytrace=False)
    return [_case(p) for p in sorted(folder.glob("*.expected.json"))]


def _case(expected_path: Path) -> NerveCase:
    name = expected_path.name.removesuffix(".expected.json")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    return NerveCase(
        name=name,
        config_path=expected_path.with_name(f"{name}.config.json"),
        data=base64.b64decode(expected["data_b64"]),
        child_name_pattern=expected["child_name_pattern"],
        zk_path=expected["zk_path"],
    )
