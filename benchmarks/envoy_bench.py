"""Envoy convergence: until Envoy's admin /clusters shows the change (needs the envoy generator)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kazoo.client import KazooClient


def unavailable() -> str | None:
    """Why Envoy cannot be measured here, or None."""
    if importlib.util.find_spec("synapse_py.generators.envoy") is None:
        return "synapse_py has no envoy generator yet"
    return "not measured yet"


def run(client: KazooClient, hosts: str, workdir: Path, changes: int) -> dict:
    reason = unavailable()
    if reason:
        return {"p50": None, "p99": None, "n": 0, "reason": reason}
    return {"p50": None, "p99": None, "n": 0, "reason": "not measured"}
