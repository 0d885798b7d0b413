"""zk_fleet.py's nerve side: a few sessions own the members and join or leave them at a rate.

Members are nerve's nodes: ephemeral sequential `<path>/i-<n>_<seq>` with nerve's JSON. A change
goes to a service with no change in flight (so a host's listing that shows it is unambiguous) and
is done when every host has seen it, or when it is older than the timeout.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

from support.zk import ZooKeeperEnsemble

NERVES = 4  # sessions that own members, as a few service hosts' nerve-pys


@dataclass
class Change:
    """One join or leave of member `prefix` under `path`, and when each host saw it."""

    path: str
    prefix: str  # the member's node name up to its sequence number
    present: bool  # a join (the member must appear) or a leave (it must vanish)
    t0: int  # monotonic ns just before the ZooKeeper request
    timeout_ms: float
    seen: dict[int, int] = field(default_factory=dict)  # host -> monotonic ns of its listing

    def visible(self, names: list[str]) -> bool:
        return any(n.startswith(self.prefix) for n in names) == self.present

    def latencies(self, hosts: int) -> list[float]:
        """ms to each host's listing; a host that never saw it counts as the timeout."""
        seen = [(ns - self.t0) / 1e6 for ns in self.seen.values()]
        return seen + [self.timeout_ms] * self.missed(hosts)

    def missed(self, hosts: int) -> int:
        return hosts - len(self.seen)


class Churn:
    """The members of every service, owned by NERVES sessions, and the changes made to them."""

    def __init__(self, ensemble: ZooKeeperEnsemble, paths: list[str], members: int):
        self.paths, self.members = paths, members
        self.nerves = [ensemble.client(timeout=10) for _ in range(NERVES)]
        self.nodes: dict[str, dict[str, object]] = {p: {} for p in paths}  # prefix -> AsyncResult
        self.rnd = random.Random(15)
        self._next = 0

    def populate(self) -> None:
        for path in self.paths:
            self.nerves[0].ensure_path(path)
        for path in self.paths:
            for _ in range(self.members):
                self._join(path)
        for nodes in self.nodes.values():
            for result in nodes.values():
                result.get(timeout=60)

    def _join(self, path: str) -> str:
        self._next += 1
        prefix = f"i-{self._next}_"
        data = {"host": "127.0.0.1", "port": 20000 + self._next % 40000, "name": f"i-{self._next}"}
        client = self.rnd.choice(self.nerves)
        self.nodes[path][prefix] = client.create_async(
            f"{path}/{prefix}", json.dumps(data).encode(), ephemeral=True, sequence=True
        )
        return prefix

    def change(self, path: str, tally, timeout_ms: float) -> None:
        """A join or a leave, keeping the service between half and 1.5 times its start size;
        put in flight on the tally before the write, so the fastest host finds it."""
        size = len(self.nodes[path])
        join = size <= self.members // 2 or (
            size < self.members * 3 // 2 and self.rnd.random() < 0.5
        )
        if join:
            tally.begin(Change(path, f"i-{self._next + 1}_", True, time.monotonic_ns(), timeout_ms))
            self._join(path)
            return
        prefix = self.rnd.choice(sorted(self.nodes[path]))
        node = self.nodes[path].pop(prefix).get(timeout=10)  # created: its join was seen
        tally.begin(Change(path, prefix, False, time.monotonic_ns(), timeout_ms))
        self.rnd.choice(self.nerves).delete_async(node)

    def run(self, tally, seconds: float, rate: float, timeout: float) -> list[Change]:
        """`rate` changes a second for `seconds` (a slot passes when every service is busy),
        then until every change is seen or timed out; returns the changes, done."""
        tally.done.clear()
        start = time.monotonic()
        for i in range(int(seconds * rate)):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            tally.expire(time.monotonic_ns() - int(timeout * 1e9))
            free = [p for p in self.paths if p not in tally.busy()]
            if free:
                self.change(self.rnd.choice(free), tally, timeout * 1000)
        deadline = time.monotonic() + timeout
        while tally.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        tally.expire(time.monotonic_ns() + 1)
        return list(tally.done)

    def stop(self) -> None:
        for client in self.nerves:
            client.stop()
            client.close()
