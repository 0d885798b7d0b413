"""One shared kazoo client per ZooKeeper ensemble, with a session generation counter.

The state listener only records what happened (kazoo forbids ZooKeeper calls from it); reporters
compare `generation` to notice that their ephemeral nodes died with an expired session.
"""

from __future__ import annotations

import logging
import threading

from kazoo.client import KazooClient, KazooState
from kazoo.protocol.states import KeeperState
from kazoo.retry import KazooRetry

from smartstack_common.zk_security import ZkSecurity

from .zk_security import node_acl

log = logging.getLogger(__name__)


class ZkConnection:
    """A started kazoo client that reconnects forever and counts lost sessions."""

    def __init__(self, hosts: str, session_timeout: float, security: ZkSecurity | None = None):
        self.hosts = hosts
        self.generation = 0  # bumped on every lost (expired) session
        self.auth_failed = False  # ZooKeeper refused zk_auth: kazoo stops reconnecting
        self._stopping = False  # stop() closes the session: the LOST that follows is ours
        security = security or ZkSecurity()
        self.client = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            default_acl=node_acl(security.auth),  # for our nodes and the parents we create
            **security.client_options(),
            connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=5, ignore_expire=False),
            command_retry=KazooRetry(max_tries=2, delay=0.1, max_delay=1),
        )
        self.client.add_listener(self._on_state)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Connect in the background: an unreachable ensemble is retried with backoff."""
        log.info("connecting to ZooKeeper at %s", self.hosts)
        self.client.start_async()

    @property
    def connected(self) -> bool:
        return self.client.connected

    def session_id(self) -> int | None:
        cid = self.client.client_id
        return cid[0] if cid else None

    def _on_state(self, state: str) -> None:
        if self._stopping:
            log.info("ZooKeeper session to %s closed", self.hosts)
        elif state == KazooState.LOST and self.client.client_state == KeeperState.AUTH_FAILED:
            self.auth_failed = True
            log.error("ZooKeeper at %s refused the zk_auth credential", self.hosts)
        elif state == KazooState.LOST:
            with self._lock:
                self.generation += 1
            log.warning("ZooKeeper session to %s lost; nodes will be re-created", self.hosts)
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection to %s suspended; checks go on", self.hosts)
        else:
            log.info("ZooKeeper connection to %s established", self.hosts)

    def stop(self) -> None:
        self._stopping = True
        try:
            self.client.stop()
            self.client.close()
        except Exception:  # noqa: BLE001 - shutting down anyway
            log.debug("error closing ZooKeeper client", exc_info=True)


class ZkPool:
    """Hands out one ZkConnection per ensemble connection string."""

    def __init__(self, session_timeout: float, security: ZkSecurity | None = None):
        self.session_timeout = session_timeout
        self.security = security
        self._conns: dict[str, ZkConnection] = {}
        self._lock = threading.Lock()

    def get(self, hosts: str) -> ZkConnection:
        with self._lock:
            conn = self._conns.get(hosts)
            if conn is None:
                conn = self._conns[hosts] = ZkConnection(hosts, self.session_timeout, self.security)
                conn.start()
            return conn

    def connections(self) -> list[ZkConnection]:
        with self._lock:
            return list(self._conns.values())

    def stop(self) -> None:
        with self._lock:
            for conn in self._conns.values():
                conn.stop()
            self._conns.clear()
