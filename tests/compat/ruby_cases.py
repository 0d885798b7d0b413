"""The Ruby synapse 0.18.9 reference cases (ruby-reference/synapse), set up for our daemon.

A case is NAME.config.json (paths rewritten into a temp folder, ZooKeeper hosts and paths
pointing at the test's server and root), NAME.nodes.json (created in their order, persistent,
with exactly these names: ZooKeeper then lists them in Ruby's order) and NAME.haproxy.cfg, what
Ruby wrote. `compare` holds our haproxy.cfg against Ruby's, section by section, modulo the
differences each test names (see DIFFERENCES).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from support import ruby_reference

RECORDED_ROOT = "/srv/smartstack-ref"


REFERENCE = ruby_reference.ROOT

# What may differ between Ruby's haproxy.cfg and ours, by name (docs/synapse.md explains each).
DIFFERENCES = {
    "section-order": "services come in name order, not config order",
    "prefix-quirk": "listen lines HAProxy refuses (prefix or case matches) are dropped",
}


@dataclass
class Case:
    """One recorded case: its config, its znodes and what Ruby wrote."""

    name: str
    config: dict
    nodes: list[dict]
    haproxy_cfg: str

    @classmethod
    def load(cls, name: str) -> Case:
        base = REFERENCE / "synapse" / name
        config = json.loads(Path(f"{base}.config.json").read_text())
        nodes = json.loads(Path(f"{base}.nodes.json").read_text())
        cfg = Path(f"{base}.haproxy.cfg")
        return cls(name, config, nodes, cfg.read_text() if cfg.exists() else "")

    def write_config(self, folder: Path, zk_hosts: str, zk_root: str, **haproxy) -> Path:
        """The config with its paths in `folder` and ZooKeeper at `zk_hosts` under `zk_root`
        (Ruby's haproxy.cfg is moved to `folder` too)."""
        recorded = f"{RECORDED_ROOT}/{self.name}"
        self.haproxy_cfg = self.haproxy_cfg.replace(recorded, str(folder))
        text = json.dumps(self.config).replace(recorded, str(folder))
        config = json.loads(text)
        for svc in config["services"].values():
            svc["discovery"]["hosts"] = zk_hosts.split(",")
            svc["discovery"]["path"] = zk_root + svc["discovery"]["path"]
        config["haproxy"].update(haproxy)
        path = folder / "synapse.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def create_nodes(self, zk, zk_root: str) -> None:
        """The znodes, in the recorded order (persistent, exact names)."""
        for node in self.nodes:
            path = zk_root + node["path"]
            zk.ensure_path(path)
            if node["child"] is None:
                zk.set(path, node["data"].encode())
            else:
                zk.create(f"{path}/{node['child']}", node["data"].encode())


@dataclass
class Section:
    """A haproxy.cfg section: its other lines in order, and its servers."""

    lines: list[str]
    servers: list[tuple[str, str, tuple[str, ...]]]  # (name, address, options), in file order


def parse(text: str, indent: str) -> dict[str, Section]:
    """Sections by header; body lines lose one `indent` (Ruby: a tab, ours: two spaces)."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), Section([], []))
            continue
        body = line[len(indent) :] if line.startswith(indent) else line.lstrip()
        if current is not None and body.split()[:1] == ["server"]:
            tokens = body.split()
            current.servers.append((tokens[1], tokens[2], tuple(tokens[3:])))
        elif current is not None:
            current.lines.append(body)
    return sections


def ruby_sections(case: Case) -> dict[str, Section]:
    """Ruby's sections: servers with their names, ids and cookies, compared exactly."""
    return parse(case.haproxy_cfg, "\t")


def our_sections(text: str) -> dict[str, Section]:
    """Our sections, without our `stats socket` line."""
    found = parse(text, "  ")
    for section in found.values():
        section.lines = [x for x in section.lines if not x.startswith("stats socket ")]
    return found


def compare(case: Case, ours: str, differences: set[str]) -> list[str]:
    """What differs from Ruby beyond `differences` (DIFFERENCES keys); empty when equivalent."""
    theirs, mine = ruby_sections(case), our_sections(ours)
    problems = []
    if set(theirs) != set(mine):
        problems.append(f"sections: ruby {sorted(theirs)} ours {sorted(mine)}")
    for header in sorted(set(theirs) & set(mine)):
        problems += _compare_section(header, theirs[header], mine[header])
    if "section-order" not in differences and list(theirs) != list(mine):
        problems.append(f"section order: ruby {list(theirs)} ours {list(mine)}")
    return problems


def _compare_section(header: str, theirs: Section, mine: Section) -> list[str]:
    problems = []
    if theirs.lines != mine.lines:
        problems.append(f"{header}: lines: ruby {theirs.lines} ours {mine.lines}")
    expected = theirs.servers
    if Counter(expected) != Counter(mine.servers):
        problems.append(f"{header}: servers: ruby {sorted(expected)} ours {sorted(mine.servers)}")
    return problems


def server_order(text: str, indent: str) -> dict[str, list[str]]:
    """The addresses of each backend's server lines, in file order."""
    return {
        h: [a for _, a, _ in s.servers]
        for h, s in parse(text, indent).items()
        if h.startswith("backend ")
    }


def haproxy_check(path: Path) -> subprocess.CompletedProcess:
    """Real `haproxy -c` on a rendered file."""
    return subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )


def warnings_of(check: subprocess.CompletedProcess) -> list[str]:
    return re.findall(r"\[WARNING\].*", check.stdout + check.stderr)


def raw_membership(case: Case) -> dict[str, tuple]:
    """The case's nodes as Backends holding exactly the registered values (a missing name is
    ""; a weight "7" stays "7"), in ZooKeeper's order: the generator alone, without the reader."""
    from synapse_py.backend import Backend

    by_path = {s["discovery"]["path"]: name for name, s in case.config["services"].items()}
    found: dict[str, list] = {name: [] for name in case.config["services"]}
    for node in case.nodes:
        if node["child"] is None:
            continue
        d = json.loads(node["data"])
        backend = Backend(
            d["host"], d["port"], d.get("name") or "", d.get("weight"),
            d.get("haproxy_server_options"),
        )  # fmt: skip
        found[by_path[node["path"]]].append(backend)
    return {name: tuple(backends) for name, backends in found.items()}
