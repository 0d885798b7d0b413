"""Scale convergence (issue 15): one change's latency at a small and a large N, in the same run.

For each N: N services x MEMBERS members (scale.populate), one synapse-py + HAProxy with backends
only (as in scale.py), and
- `initial_sync_s`: synapse-py's start until HAProxy shows all N x MEMBERS servers ready;
- single changes: a join or leave in a random service, one every SPACING s (or, when a change
  takes longer, as soon as it is visible), each timed from just before the ZooKeeper write until
  `show servers state <that backend>` on the admin socket shows it (one backend per poll, so the
  poller's cost does not grow with N);
- a burst: BURST_RATE changes a second for a bounded time, several in flight at once, each in a
  service with no change in flight; one poller thread asks about the pending backends in turn
  (a round's length, the resolution, grows with the changes in flight, i.e. with the latency
  itself: about BURST_RATE x one query's cost as a share of it);
- synapse-py's CPU (percent of one core, psutil) over each change phase, apart from its finished
  children's (the `haproxy -c` checks of candidate configs), and its peak RSS.
The floor is a bare kazoo ChildrenWatch on every service path (floor_watch.py, another process)
seeing the very same changes at the same time: ms from the same clock start to its callback with
the new child count. An observation that times out counts as TIMEOUT.
"""

from __future__ import annotations

import argparse
import functools
import json
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run alone (`--sync-only`): the imports run.py's path gives
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests")]

from common import HERE, CpuWindow, Synapse, register, stop_by_stdin, summary
from convergence import poll
from kazoo.client import KazooClient
from scale import MEMBERS, populate
from support.zk import ZooKeeperEnsemble

from synapse_py.proxy.haproxy_socket import HaproxySocketError

SPACING = 0.3  # seconds between single changes
BURST_RATE = 50  # changes a second in the burst
TIMEOUT = 10.0  # seconds an observation may take; a timed-out one counts as this
MIN_MEMBERS, MAX_MEMBERS = MEMBERS // 2, MEMBERS * 3 // 2  # a service's random walk stays inside
FIRST_JOIN_PORT = 30000  # joiners' ports (never connected to): unique, so a join is unambiguous
ROOT = "/bench/scale-convergence"
QUIET_CPU = 10.0  # percent of a core: synapse-py is idle after the sync


@dataclass
class Change:
    """One join or leave: where, what the observers must see, and when it was seen."""

    service: str
    port: int
    present: bool  # a join (the port must become ready) or a leave (it must stop being ready)
    children: int  # the service's member count after it: what the floor watcher must report
    t0: int  # monotonic ns just before the ZooKeeper request
    seen: int | None = None  # monotonic ns HAProxy showed it; None: timed out

    def ms(self, seen: int | None) -> float | None:
        """Milliseconds from the clock start to `seen`; None for an observation that timed out."""
        return None if seen is None else (seen - self.t0) / 1e6


class Members:
    """The members of every service, and the random joins and leaves made to them."""

    def __init__(self, client: KazooClient, root: str, nodes: dict[str, dict[int, str]]):
        self.client, self.root = client, root
        self.nodes = {path.rsplit("/", 1)[1]: members for path, members in nodes.items()}
        self.rnd = random.Random(15)
        self.next_port = FIRST_JOIN_PORT

    def path(self, service: str) -> str:
        return f"{self.root}/{service}"

    def change(self, service: str) -> Change:
        members = self.nodes[service]
        join = len(members) <= MIN_MEMBERS or (
            len(members) < MAX_MEMBERS and self.rnd.random() < 0.5
        )
        t0 = time.monotonic_ns()
        if join:
            port, self.next_port = self.next_port, self.next_port + 1
            members[port] = register(self.client, self.path(service), port)
        else:
            port = self.rnd.choice(sorted(members))
            self.client.delete(members.pop(port))
        return Change(service, port, join, len(members), t0)

    def random_service(self, busy: set[str] | frozenset[str] = frozenset()) -> str | None:
        free = [s for s in self.nodes if s not in busy]
        return self.rnd.choice(free) if free else None

    def clear(self) -> None:
        """Delete every member (all in flight at once): the next N starts from a quiet ensemble."""
        pending = [self.client.delete_async(n) for m in self.nodes.values() for n in m.values()]
        for p in pending:
            p.get(timeout=60)
        self.nodes = {s: {} for s in self.nodes}


class Floor:
    """floor_watch.py watching every service path; its callbacks kept per path with their stamps."""

    def __init__(self, hosts: str, paths: list[str]):
        self.lines: dict[str, list[tuple[int, int]]] = {p: [] for p in paths}
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "floor_watch.py"), hosts, *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp, children, path = line.split()
            with self._lock:
                self.lines[path].append((int(stamp), int(children)))

    def wait_watching(self, timeout: float) -> None:
        """Until every path has had its first callback."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.lines.values()):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the floor watcher did not report every path within {timeout}s")

    def ms(self, change: Change, path: str) -> float | None:
        """Until the first callback after the change's clock start showing its child count."""
        with self._lock:
            lines = list(self.lines[path])
        seen = next((s for s, c in lines if s >= change.t0 and c == change.children), None)
        return change.ms(seen)

    def stop(self) -> None:
        stop_by_stdin(self.proc)


def visible(synapse: Synapse, change: Change) -> bool:
    """HAProxy's runtime state of the change's one backend shows it (False between workers)."""
    try:
        return synapse.serving(change.service, change.port) == change.present
    except HaproxySocketError:
        return False


def run(
    client: KazooClient,
    hosts: str,
    workdir: Path,
    services: tuple[int, ...],
    singles: int,
    burst_seconds: float,
) -> dict:
    """Every N in `services` in turn; the figures per N, and the targets' ratios small to large."""
    results = {
        str(n): run_one(client, hosts, workdir / str(n), n, singles, burst_seconds)
        for n in services
    }
    small, large = results[str(min(services))], results[str(max(services))]
    ratio = None
    if small["single_p50_ms"] and large["single_p50_ms"] is not None:
        ratio = round(large["single_p50_ms"] / small["single_p50_ms"], 2)
    over = None
    if large["single_p99_ms"] is not None and large["floor_p99_ms"] is not None:
        over = round(large["single_p99_ms"] - large["floor_p99_ms"], 1)
    return {
        **results,
        "ratio_p50": ratio,
        "floor_p99_ms": large["floor_p99_ms"],
        "p99_over_floor_ms": over,
    }


def run_one(
    client: KazooClient, hosts: str, workdir: Path, n: int, singles: int, burst_seconds: float
) -> dict:
    root = f"{ROOT}/{n}"
    names = [f"sc{i}" for i in range(n)]
    members = Members(client, root, populate(client, [f"{root}/{s}" for s in names]))
    floor = Floor(hosts, [members.path(s) for s in names])
    synapse = Synapse(workdir, hosts, {s: {"path": members.path(s)} for s in names})
    try:
        floor.wait_watching(timeout=120)
        sync_s = initial_sync(synapse, n)
        window = CpuWindow(synapse.process).start()
        single = _singles(members, synapse, singles, window)
        single_cpu = window.cpu_percent(), window.child_cpu_percent()
        window.start()
        burst = _burst(members, synapse, burst_seconds, window)
        burst_cpu = window.cpu_percent(), window.child_cpu_percent()
        return {
            "services": n,
            "backends": n * MEMBERS,
            "initial_sync_s": round(sync_s, 2),
            **_figures("single", [c.ms(c.seen) for c in single]),
            **_figures("floor", [floor.ms(c, members.path(c.service)) for c in single]),
            **_figures("burst", [c.ms(c.seen) for c in burst]),
            **_figures("burst_floor", [floor.ms(c, members.path(c.service)) for c in burst]),
            "single_cpu_percent": single_cpu[0],
            "single_child_cpu_percent": single_cpu[1],
            "burst_cpu_percent": burst_cpu[0],
            "burst_child_cpu_percent": burst_cpu[1],
            "synapse_rss_mb": window.rss_mb(),
        }
    finally:
        synapse.stop()
        floor.stop()
        members.clear()


def initial_sync(
    synapse: Synapse, n: int, on_start: Callable[[int], object] = lambda pid: None
) -> float:
    """Seconds from synapse-py's start until HAProxy shows all n x MEMBERS servers ready; then
    until synapse-py is quiet. `on_start` gets its pid (a profiler attaches there)."""
    started = time.monotonic()
    synapse.start()
    on_start(synapse.process.pid)
    synapse.wait_ready_servers(n * MEMBERS, timeout=900)
    sync_s = time.monotonic() - started
    _wait_quiet(synapse)
    return sync_s


def sync_only(services: int, runs: int, profile: Path | None) -> dict:
    """The initial sync alone (`--sync-only`): its own ZooKeeper, `runs` syncs of the same
    `services` x MEMBERS members, each by a fresh synapse-py; optionally profiled by py-spy."""
    with tempfile.TemporaryDirectory(prefix="smartstack-sync-") as tmp:
        zk = ZooKeeperEnsemble(Path(tmp) / "zk")
        zk.start()
        client = zk.client(timeout=10)
        try:
            root = f"{ROOT}/sync"
            paths = {f"sc{i}": f"{root}/sc{i}" for i in range(services)}
            members = Members(client, root, populate(client, list(paths.values())))
            try:
                times = [
                    _one_sync(zk.hosts, Path(tmp) / f"run{i}", paths, profile if i == 0 else None)
                    for i in range(runs)
                ]
            finally:
                members.clear()
        finally:
            client.stop()
            client.close()
            zk.stop()
    return {"services": services, "backends": services * MEMBERS, "initial_sync_s": times}


def _one_sync(hosts: str, workdir: Path, paths: dict[str, str], profile: Path | None) -> float:
    synapse = Synapse(workdir, hosts, {s: {"path": p} for s, p in paths.items()})
    spy: list[subprocess.Popen] = []

    def attach(pid: int) -> None:
        if profile is not None:
            spy_bin = Path(sys.executable).parent / "py-spy"
            cmd = [str(spy_bin), "record", "-f", "raw", "-d", "20", "-o", str(profile)]
            spy.append(subprocess.Popen([*cmd, "--pid", str(pid)], stdout=subprocess.DEVNULL))

    try:
        return round(initial_sync(synapse, len(paths), attach), 2)
    finally:
        for proc in spy:
            proc.wait(60)
        synapse.stop()


def _wait_quiet(synapse: Synapse, timeout: float = 60.0) -> None:
    """Until synapse-py uses under QUIET_CPU of a core over half a second (the sync's background
    work, such as installing the config file, is done), at most `timeout`, at least a second."""
    time.sleep(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        window = CpuWindow(synapse.process).start()
        time.sleep(0.5)
        if window.cpu_percent() < QUIET_CPU:
            return
    print(f"# scale_convergence: synapse-py still busy {timeout}s after the sync", file=sys.stderr)


def _figures(prefix: str, ms: list[float | None]) -> dict:
    """p50/p99 in ms and the count of one observer's changes, and how many timed out."""
    missed = sum(m is None for m in ms)
    s = summary([TIMEOUT * 1000 if m is None else m for m in ms])
    return {
        f"{prefix}_p50_ms": s["p50"],
        f"{prefix}_p99_ms": s["p99"],
        f"{prefix}_n": s["n"],
        f"{prefix}_timeouts": missed,
    }


def _singles(members: Members, synapse: Synapse, count: int, window: CpuWindow) -> list[Change]:
    """One change at a time, SPACING s apart, each waited for until HAProxy shows it."""
    changes: list[Change] = []
    for _ in range(count):
        if changes:
            time.sleep(max(0.0, changes[-1].t0 / 1e9 + SPACING - time.monotonic()))
        service = members.random_service()
        assert service is not None  # nothing is busy
        change = members.change(service)
        change.seen = poll(functools.partial(visible, synapse, change), TIMEOUT)
        changes.append(change)
        window.sample()
    return changes


def _burst(members: Members, synapse: Synapse, seconds: float, window: CpuWindow) -> list[Change]:
    """BURST_RATE changes a second for `seconds`, then until the last is seen (or timed out)."""
    new: queue.Queue[Change | None] = queue.Queue()
    busy: set[str] = set()
    lock = threading.Lock()
    done: list[Change] = []
    poller = threading.Thread(target=_poll_pending, args=(synapse, new, busy, lock, done))
    poller.start()
    start = time.monotonic()
    try:
        for i in range(int(seconds * BURST_RATE)):
            time.sleep(max(0.0, start + i / BURST_RATE - time.monotonic()))
            with lock:
                service = members.random_service(busy)
                if service is not None:
                    busy.add(service)
            if service is None:
                continue  # every service has a change in flight: this slot passes
            new.put(members.change(service))
            if i % BURST_RATE == 0:
                window.sample()
    finally:
        new.put(None)
        poller.join(TIMEOUT + 30)
    window.sample()
    return done


def _poll_pending(
    synapse: Synapse, new: queue.Queue, busy: set[str], lock: threading.Lock, done: list[Change]
) -> None:
    """Ask about every pending change's backend in turn, 1 ms between rounds, until None arrives
    and nothing is pending; a change pending longer than TIMEOUT is given up (seen None)."""
    pending: list[Change] = []
    closed = False
    while not closed or pending:
        while True:
            try:
                item = new.get_nowait()
            except queue.Empty:
                break
            if item is None:
                closed = True
            else:
                pending.append(item)
        still = []
        for change in pending:
            if visible(synapse, change):
                change.seen = time.monotonic_ns()
            elif time.monotonic_ns() - change.t0 < TIMEOUT * 1e9:
                still.append(change)
                continue
            done.append(change)
            with lock:
                busy.discard(change.service)
        pending = still
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description="scale_convergence's initial sync alone")
    parser.add_argument("--sync-only", action="store_true", required=True)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="py-spy raw output of the first sync")
    args = parser.parse_args()
    print(json.dumps(sync_only(args.services, args.runs, args.profile)))


if __name__ == "__main__":
    main()
