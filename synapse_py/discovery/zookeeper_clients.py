"""The ZooKeeper clients the zookeeper methods share: one per ensemble.

`ZkClients` (the daemon) starts each client in the background and retries forever, publishing
`Connected` on every (re)connect; `BlockingClients` (one-shot CLI reads) connects within a timeout.
"""

from __future__ import annotations

import logging
import queue
from typing import TYPE_CHECKING

from kazoo.client import KazooClient, KazooState
from kazoo.protocol.states import KeeperState
from kazoo.retry import KazooRetry

from smartstack_common.zk_security import ZkSecurity

from .zookeeper_batch import BatchingClient
from .zookeeper_handler import PollingHandler
from .zookeeper_watch import Connected

if TYPE_CHECKING:
    from ..config import SynapseConfig
    from .protocol import DiscoveryContext

log = logging.getLogger(__name__)

RESTART_ONLY = ("zk_session_timeout", "zk_auth", "zk_tls")  # a SIGHUP cannot apply these


def daemon_clients(context: DiscoveryContext) -> ZkClients:
    """The context's clients for the running daemon (made on first use)."""
    config = context.config
    return context.shared(
        ZkClients, lambda: ZkClients(config.zk_session_timeout, context.events, config.zk_security)
    )


def blocking_clients(context: DiscoveryContext) -> BlockingClients:
    """The context's clients for one-shot reads."""
    return context.shared(BlockingClients, lambda: BlockingClients(context.config))


class BlockingClients:
    """One client per ensemble, each started (connected) before it is handed out."""

    def __init__(self, config: SynapseConfig):
        self.config = config
        self._clients: dict[str, KazooClient] = {}

    def get(self, hosts: tuple[str, ...], timeout: float) -> KazooClient:
        key = ",".join(sorted(hosts))
        if key not in self._clients:
            client = BatchingClient(
                hosts=key,
                timeout=self.config.zk_session_timeout,
                handler=PollingHandler(),
                **self.config.zk_security.client_options(),
            )
            self._clients[key] = client
            client.start(timeout=timeout)
        return self._clients[key]

    def stop(self) -> None:
        _close(self._clients)


class ZkClients:
    """One kazoo client per ensemble, started in the background and retried forever."""

    def __init__(
        self, session_timeout: float, events: queue.Queue, security: ZkSecurity | None = None
    ):
        self.session_timeout = session_timeout
        self.events = events
        self.security = security or ZkSecurity()
        self._clients: dict[tuple[str, ...], KazooClient] = {}
        self._stopping = False

    def get(self, hosts: tuple[str, ...]) -> KazooClient:
        key = tuple(sorted(hosts))
        if key not in self._clients:
            client = BatchingClient(
                hosts=",".join(key),
                timeout=self.session_timeout,
                connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=5),
                command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1),
                handler=PollingHandler(),
                **self.security.client_options(),
            )
            client.add_listener(lambda s, h=key: self._on_state(h, s))
            client.start_async()
            self._clients[key] = client
        return self._clients[key]

    def connected(self) -> dict[str, bool]:
        """Ensemble connection string -> connected now (for the metrics)."""
        return {",".join(key): client.connected for key, client in list(self._clients.items())}

    def stop(self) -> None:
        self._stopping = True  # the LOST state the clients report now is ours, not a fault
        _close(self._clients)

    def _on_state(self, hosts: tuple[str, ...], state: str) -> None:
        if state == KazooState.CONNECTED:
            log.info("ZooKeeper %s connected", ",".join(hosts))
            self.events.put(Connected())
        elif self._stopping:
            log.info("ZooKeeper %s: session closed", ",".join(hosts))
        elif getattr(self._clients.get(hosts), "client_state", None) == KeeperState.AUTH_FAILED:
            log.error(
                "ZooKeeper %s refused the zk_auth credential: keeping the last membership",
                ",".join(hosts),
            )
        else:
            log.warning(
                "ZooKeeper %s %s: keeping the last membership", ",".join(hosts), state.lower()
            )

    def restart_only_changes(self, new: SynapseConfig) -> list[str]:
        """The RESTART_ONLY keys whose new value differs from the one the clients use.

        The clients (one per ensemble, also those a reload adds) keep the values they were built
        with, so comparing with them, not with the previous file, says what is really pending.
        """
        running = (self.session_timeout, self.security.auth, self.security.tls)
        wanted = (new.zk_session_timeout, new.zk_security.auth, new.zk_security.tls)
        return [key for key, r, w in zip(RESTART_ONLY, running, wanted, strict=True) if r != w]


def _close(clients: dict) -> None:
    for client in clients.values():
        client.stop()
        client.close()
    clients.clear()
