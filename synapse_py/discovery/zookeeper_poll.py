"""`zookeeper_poll`: the children of `path`, listed and read every `polling_interval_sec`.

Ruby's ZookeeperPollWatcher: no watch of any kind is set (a loaded ensemble keeps no watch per
consumer); each poll lists the children, reads the path's data (generator config) and reads every
child again, so a join, a leave and a data change are all seen within one interval. The first
poll comes at a random point of the first interval (Ruby: it spreads the polls of many synapses);
a poll the connection failed is retried once connected. Polls are checked every half second at
most (Ruby's loop sleeps 0.5 s), so an interval of 0 polls twice a second.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .protocol import DiscoveryContext, Touched, register
from .zookeeper import ZOOKEEPER_KEYS, ZookeeperDiscovery
from .zookeeper_watch import Children, Connected

if TYPE_CHECKING:
    from ..config import ServiceConfig

MIN_PERIOD = 0.5  # seconds between polls at most this often (Ruby's loop sleep)
POLL_KEYS: Mapping[str, Any] = {
    "polling_interval_sec": {"type": "number", "minimum": 0},  # required, as in Ruby
}


@dataclass(frozen=True)
class PollSettings:
    polling_interval_sec: float


@register("zookeeper_poll")
class ZookeeperPollDiscovery(ZookeeperDiscovery):
    """As `zookeeper`, but polled on a timer instead of watched."""

    keys: ClassVar[Mapping[str, Any]] = {**ZOOKEEPER_KEYS, **POLL_KEYS}
    required: ClassVar[tuple[str, ...]] = ("hosts", "path", "polling_interval_sec")
    watches: ClassVar[bool] = False

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        super().__init__(service, context)
        settings: PollSettings = service.discovery.settings
        self.interval = max(MIN_PERIOD, settings.polling_interval_sec)
        self._stop = threading.Event()
        self._missed = False  # the last poll found no connection
        self._thread = threading.Thread(target=self._run, name=f"poll-{service.name}", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    def _run(self) -> None:
        wait = random.uniform(0, self.interval)  # noqa: S311 - load spreading, not secrecy
        while not self._stop.wait(wait):
            self.poll()
            wait = self.interval

    def poll(self) -> None:
        """List and read once (from the poll thread; no watch is set)."""
        self._missed = not self.watcher.client.connected
        if not self._missed:
            self.watcher.poll()

    def handle(self, event: object) -> Touched:
        if isinstance(event, Children):
            self._listed = True
            self.members.set_names(event.names or ())
            self.members.expire()  # no data watch: every child is read again
            self.members.take_retries()
            self._read(self.members.wanted())
            return self._listing_change()
        if isinstance(event, Connected) and self._missed:
            self.poll()  # the last poll found no connection: do not wait a whole interval
        return super().handle(event)

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        return PollSettings(float(raw["polling_interval_sec"]))
