"""Bounded hostname resolution that survives a DNS outage (HAProxy 2.6 and EDS take addresses only).

A host seen for the first time is looked up at once (in parallel, bounded by `timeout`). After
that `resolve_all` answers from memory, and a background thread re-resolves the hosts in use
every `refresh` seconds: a lookup that fails keeps the host's last address; a host that never
resolved is left out and retried at each refresh. When a refresh changes an address, or a host
resolves for the first time, `on_change()` is called so the generator can apply again. Each
failure is logged once per host, and so is its recovery (the memory is `LastAnswers`, shared with
the dns discovery methods).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ..backend import is_ip_literal
from ..last_answers import LastAnswers

log = logging.getLogger(__name__)

RETAIN_INTERVAL = 30.0  # the generators' seconds between clean-ups of hosts no longer served


class HostResolver:
    """Resolves hostnames in parallel and keeps each host's last address (see the module)."""

    def __init__(
        self,
        timeout: float,
        workers: int = 4,
        lookup: Callable[[str], str] | None = None,
        refresh: float = 5.0,
        on_change: Callable[[], None] | None = None,
        retain_interval: float = 0.0,
    ):
        """`lookup(host)` returns one address or raises (default: getaddrinfo's first);
        `retain` walks the hosts it is given at most every `retain_interval` seconds."""
        self.timeout = timeout
        self.refresh = refresh
        self.retain_interval = retain_interval
        self._retained_at: float | None = None
        self.on_change = on_change
        self._lookup = lookup or _first_address
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resolve")
        self._lock = threading.Lock()
        self._answers = LastAnswers("backend host", log)  # host -> (its last address,)
        self._in_use: set[str] = set()
        self._running: dict[str, Future] = {}  # a stuck lookup is not started twice
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def resolve_all(self, hosts: Iterable[str]) -> dict[str, str | None]:
        """Map each host to an IP address, or None when it has never resolved."""
        result: dict[str, str | None] = {}
        new = []
        with self._lock:
            for host in hosts:
                if is_ip_literal(host):
                    result[host] = host
                elif self._answers.seen(host):
                    result[host] = self._address(host)
                else:
                    new.append(host)
                self._in_use.add(host)
        if new:
            self._merge(self._lookup_all(new))
            with self._lock:
                result.update({host: self._address(host) for host in new})
        self._start()
        return result

    def retain(self, hosts: Iterable[str]) -> None:
        """Keep refreshing only `hosts` (the ones the generator routes to now); forget the rest.

        Within `retain_interval` of the last clean-up `hosts` is not even walked (pass a lazy
        iterable: with a thousand services it is every backend), so a host no longer served is
        forgotten that much later."""
        now = time.monotonic()
        if self._retained_at is not None and now - self._retained_at < self.retain_interval:
            return
        self._retained_at = now
        keep = {h for h in hosts if not is_ip_literal(h)}
        with self._lock:
            self._in_use &= keep
            self._answers.retain(keep)

    @property
    def failures(self) -> int:
        """Lookups that failed, counted once per host and outage."""
        return self._answers.failures

    def _address(self, host: str) -> str | None:
        last = self._answers.last(host)
        return last[0] if last else None

    def close(self) -> None:
        """Stop refreshing (a stuck getaddrinfo is abandoned, not waited for)."""
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and self._in_use and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="resolve-refresh")
                self._thread.daemon = True
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.refresh):
            with self._lock:
                hosts = sorted(h for h in self._in_use if not is_ip_literal(h))
            if hosts and self._merge(self._lookup_all(hosts)) and not self._stopped.is_set():
                self._changed()

    def _changed(self) -> None:
        try:
            if self.on_change:
                self.on_change()
        except Exception:  # noqa: BLE001 - a failing callback must not end the refresh thread
            log.exception("applying a changed backend address failed")

    def _lookup_all(self, names: list[str]) -> dict[str, str | None]:
        try:
            futures = {name: self._submit(name) for name in names}
        except RuntimeError:  # closed
            return {}
        wait(futures.values(), timeout=self.timeout)
        return {
            name: f.result() if f.done() and not f.cancelled() and not f.exception() else None
            for name, f in futures.items()
        }

    def _submit(self, name: str) -> Future:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._running[name] = self._pool.submit(self._lookup, name)
            return running

    def _merge(self, found: dict[str, str | None]) -> bool:
        """Record lookups; True if a host in use got a new address (or its first one)."""
        changed = False
        with self._lock:
            for host, address in found.items():
                if host not in self._in_use:
                    continue
                if address is None:
                    self._failed(host)
                else:
                    changed |= self._resolved(host, address)
        return changed

    def _failed(self, host: str) -> None:
        retry = f"retried every {self.refresh:g}s"
        self._answers.failed(host, f"not within {self.timeout:.1f}s", retry)

    def _resolved(self, host: str, address: str) -> bool:
        return self._answers.answered(host, (address,))


def _first_address(host: str) -> str:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])
