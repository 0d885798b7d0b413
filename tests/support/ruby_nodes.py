"""The ruby-reference synapse cases as inputs for our node reader, membership and file_output.

`tests/ruby_reference/synapse/NAME.*` (see its README): the config, the znodes that existed
(child names and data, in ZooKeeper's listing order) and the file_output files Ruby wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from support import ruby_reference
from synapse_py.backend import Backend
from synapse_py.config import ServiceConfig, SynapseConfig, load_config
from synapse_py.desired import desired_backends
from synapse_py.discovery.zookeeper_members import ServiceMembers

REFERENCE = ruby_reference.ROOT / "synapse"
CASES = sorted(p.name.removesuffix(".config.json") for p in REFERENCE.glob("s*.config.json"))
# haproxy-only keys of other slices, not needed to compute what file_output writes
HAPROXY_ONLY = ("use_nerve_weights",)


@dataclass(frozen=True)
class Node:
    path: str
    child: str | None  # None: the watched znode itself
    data: str


def nodes(case: str) -> list[Node]:
    raw = json.loads((REFERENCE / f"{case}.nodes.json").read_text())
    return [Node(n["path"], n["child"], n["data"]) for n in raw]


def config(case: str, folder: Path) -> SynapseConfig:
    """The case's config as we load it (a copy without HAPROXY_ONLY keys)."""
    raw = json.loads((REFERENCE / f"{case}.config.json").read_text())
    for key in HAPROXY_ONLY:
        raw.get("haproxy", {}).pop(key, None)
    copy = folder / f"{case}.config.json"
    copy.write_text(json.dumps(raw))
    return load_config(copy)


def ruby_files(case: str) -> dict[str, bytes]:
    """The file_output files Ruby left, by name."""
    folder = REFERENCE / f"{case}.file_output"
    return (
        {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    )


def children(case: str, path: str) -> list[tuple[str, bytes]]:
    """The children of `path`, in the recorded listing order, with their data."""
    return [(n.child, n.data.encode()) for n in nodes(case) if n.path == path and n.child]


def discovered(service: ServiceConfig, listing: list[tuple[str, bytes]]) -> tuple[Backend, ...]:
    """Our node reader and membership over one listing (no ZooKeeper)."""
    data: Mapping[str, bytes] = dict(listing)
    members = ServiceMembers(service)
    found = members.backends(tuple(data), lambda names: [(n, data[n], None) for n in names])
    return desired_backends(service, found, None)


def membership(case: str, cfg: SynapseConfig) -> dict[str, tuple[Backend, ...]]:
    return {s.name: discovered(s, children(case, s.discovery.path)) for s in cfg.services}


# -- documented differences (docs/synapse.md): Ruby's files -> ours --


def _newest_duplicate_wins(files: dict[str, bytes]) -> dict[str, bytes]:
    """s16: dup-a_0000000012 and dup-b_0000000013 register one host:port. Ruby keeps the first
    in ZooKeeper's (arbitrary) order; we keep the newest, in the first one's place."""
    entries = json.loads(files["dec.json"])
    for entry in entries:
        if entry["name"] == "dup":
            entry.update(id=13, weight=9)
    dumped = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode()
    return {**files, "dec.json": dumped}


KNOWN = {
    # Ruby exits (a bug) and writes nothing; we skip the bad child and serve the other
    "s17_invalid_child_data": lambda files: {
        "bad.json": b'[{"name":"i-aaa","host":"10.0.7.1","port":8080,"id":0,"weight":null,'
        b'"haproxy_server_options":null,"labels":null}]'
    },
    "s16_child_decoding": _newest_duplicate_wins,
    # the watched znode's {"haproxy": ...} replaces only the haproxy section (and only with
    # haproxy.trust_registry_config); file_output stays local, so zc gets a file like zc_local's
    "s18_zk_parent_generator_config": lambda files: {**files, "zc.json": files["zc_local.json"]},
}
