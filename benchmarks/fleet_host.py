"""One simulated consumer host of zk_fleet.py: a kazoo session watching (or polling) its services.

Watch mode does what synapse_py's zookeeper method does per service: a data watch on the path,
the children listed asynchronously with a children watch (one listing in flight; a watch that
fires meanwhile asks for one more), every new child read once with a data watch. Poll mode does
what zookeeper_poll does: per service, at a random phase, every interval: the path's data, the
children and every child read again, no watch. Callbacks only count and publish to the Tally.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass

from fleet_churn import Change
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, WatchedEvent


@dataclass
class Counts:
    notifications: int = 0  # watch events delivered to the hosts
    requests: int = 0  # lists and reads the hosts sent
    listings: int = 0  # listings answered (in poll mode: polls done)


class Tally:
    """What every host reports, behind one lock: counts, the sync, and the changes in flight."""

    def __init__(self, hosts: int):
        self.hosts = hosts
        self._lock = threading.Lock()
        self._counts = Counts()
        self._synced = 0  # (host, service) pairs listed once and their children read
        self.pending: dict[str, Change] = {}  # service path -> its one change in flight
        self.done: list[Change] = []

    def counts(self) -> Counts:
        with self._lock:
            c = self._counts
            return Counts(c.notifications, c.requests, c.listings)

    def notified(self) -> None:
        with self._lock:
            self._counts.notifications += 1

    def sent(self, requests: int) -> None:
        with self._lock:
            self._counts.requests += requests

    def synced(self) -> None:
        """One host has listed one service and read its children for the first time."""
        with self._lock:
            self._synced += 1

    def listed(self, host: int, path: str, names: list[str]) -> None:
        """A host's listing of `path` answered: the first one counts to the sync; the change in
        flight there, if this listing shows it, is seen by this host now."""
        now = time.monotonic_ns()
        with self._lock:
            self._counts.listings += 1
            change = self.pending.get(path)
            if change is None or host in change.seen or not change.visible(names):
                return
            change.seen[host] = now
            if len(change.seen) == self.hosts:
                self.done.append(self.pending.pop(path))

    def begin(self, change: Change) -> None:
        with self._lock:
            self.pending[change.path] = change

    def busy(self) -> set[str]:
        with self._lock:
            return set(self.pending)

    def expire(self, older_than_ns: int) -> None:
        """Changes in flight since before `older_than_ns` are done; their missing hosts missed."""
        with self._lock:
            for path, change in list(self.pending.items()):
                if change.t0 < older_than_ns:
                    self.done.append(self.pending.pop(path))

    def wait_synced(self, pairs: int, timeout: float) -> None:
        """Until `pairs` (host, service) pairs have synced."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._synced >= pairs:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the fleet did not sync within {timeout}s")


class Host:
    """One kazoo session (already started) and its services."""

    def __init__(self, ident, client: KazooClient, paths, tally: Tally, mode, poll_s, rnd):
        self.ident, self.client, self.paths, self.tally = ident, client, paths, tally
        self.watches = mode == "watch"
        self.poll_s = poll_s
        self.phases = [rnd.uniform(0, poll_s) for _ in paths]  # poll mode's first polls
        self.known: dict[str, set[str] | None] = dict.fromkeys(paths)  # None: never listed
        self._listing: dict[str, bool] = dict.fromkeys(paths, False)
        self._again: dict[str, bool] = dict.fromkeys(paths, False)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> Host:
        if self.watches:
            for path in self.paths:
                self.tally.sent(1)
                self.client.get_async(path, watch=self._on_watch)
                self._list(path)
        else:
            threading.Thread(target=self._poll_loop, daemon=True).start()
        return self

    def halt(self) -> None:
        """Send nothing more (callbacks of answers still coming are ignored)."""
        self._stop.set()

    def stop(self) -> None:
        self.halt()
        self.client.stop()
        self.client.close()

    def _on_watch(self, event: WatchedEvent) -> None:
        """A children watch, the path's data watch or a child's data watch fired."""
        if self._stop.is_set() or event.type == EventType.NONE:
            return
        self.tally.notified()
        if event.type == EventType.CHILD:
            self._list(event.path)

    def _list(self, path: str) -> None:
        with self._lock:
            if self._listing[path]:
                self._again[path] = True
                return
            self._listing[path], self._again[path] = True, False
        self.tally.sent(1)
        watch = self._on_watch if self.watches else None
        result = self.client.get_children_async(path, watch=watch)
        result.rawlink(lambda r: self._on_listing(path, r))

    def _on_listing(self, path: str, result) -> None:
        with self._lock:
            self._listing[path], again = False, self._again[path]
        if self._stop.is_set() or not result.successful():
            return
        names = result.value
        self.tally.listed(self.ident, path, names)
        known, self.known[path] = self.known[path], set(names)
        # watch mode reads a child once (its data watch tells of a change); poll mode every time
        self._read(path, set(names) - (known or set()) if self.watches else set(names), known)
        if again:
            self._list(path)

    def _read(self, path: str, names: set[str], known: set[str] | None) -> None:
        """Read `names`; after the first listing, the last answer syncs this service."""
        self.tally.sent(len(names))
        first = known is None
        if first and not names:
            self.tally.synced()
        left = [len(names)]

        def answered(_result) -> None:
            left[0] -= 1  # answers come on the one connection thread, in order
            if first and left[0] == 0:
                self.tally.synced()

        watch = self._on_watch if self.watches else None
        for name in names:
            self.client.get_async(f"{path}/{name}", watch=watch).rawlink(answered)

    def _poll_loop(self) -> None:
        """Each service every poll_s from its own random phase: its data, then its listing."""
        start = time.monotonic()
        due = [(start + phase, i) for i, phase in enumerate(self.phases)]
        heapq.heapify(due)
        while due and not self._stop.wait(max(0.0, due[0][0] - time.monotonic())):
            at, i = heapq.heappop(due)
            path = self.paths[i]
            self.tally.sent(1)
            self.client.get_async(path)
            self._list(path)
            heapq.heappush(due, (at + self.poll_s, i))


def stop_all(hosts: list[Host], timeout: float = 60) -> None:
    """Close every session at once (one by one, each waits behind its own backlog)."""
    for host in hosts:
        host.halt()
    threads = [threading.Thread(target=h.stop, daemon=True) for h in hosts]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
