"""Keeps one service's znode in ZooKeeper in line with its health.

`sync(up)` is called by the service's watcher thread on every tick. It writes only on a transition,
re-creates the node after a lost session or when an exists watch says it was deleted, checks every
`reconcile_interval` that the node still exists (a missed event), and replaces a leftover node of
our own from an earlier process. `touch()` rewrites a persistent node's data (Ruby nerve's
`ttl_seconds` renewal), from another scheduler thread: a lock keeps it apart from `sync`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable

from kazoo.exceptions import KazooException, NoAuthError, NodeExistsError, NoNodeError

from .config import ServiceConfig
from .rate_limit import ReportLimiter, TokenBucket
from .registration import EPHEMERAL, Registration, registration_for
from .zk import ZkConnection

log = logging.getLogger(__name__)


class Reporter:
    """Registers and deregisters one service's node."""

    def __init__(
        self, service: ServiceConfig, conn: ZkConnection, reconcile_interval: float = 30.0
    ):
        self.service = service
        self.conn = conn
        self.reg: Registration = registration_for(service)
        self.node: str | None = None
        self._czxid = 0
        self.failures = 0  # consecutive failed reports (Ruby: rounds whose ping or report failed)
        self.failures_total = 0
        self.touches = 0
        self._lock = threading.Lock()
        self.registrations = 0
        self._generation = conn.generation
        self._reconcile_interval = reconcile_interval
        self._last_reconcile = -math.inf  # due at once (monotonic time may be small after boot)
        self._deleted: str | None = (
            None  # set by the exists watch (kazoo's thread): that path is gone
        )
        rl = service.rate_limiting
        bucket = TokenBucket(rl.average_rate, rl.max_burst)
        self.limiter = ReportLimiter(service.name, bucket, rl.shadow_mode)

    def sync(self, up: bool) -> None:
        """Make ZooKeeper match `up`; a failure is counted and retried on the next call.

        As Ruby nerve counts a round whose ping fails, a round while disconnected is a failure.
        """
        with self._lock:
            try:
                if not self.conn.connected:
                    raise KazooException("not connected to ZooKeeper")
                self._sync(up)
                self.failures = 0
            except KazooException as e:
                self.failures += 1
                self.failures_total += 1
                _log_failure(self.service, e, self.failures)

    def quiet(self, up: bool) -> bool:
        """`sync(up)` would change nothing and call no ZooKeeper now, so the round may skip it.

        Read without the lock (from the check loop): a stale answer costs one round's delay."""
        conn, node = self.conn, self.node
        if self.failures or not conn.connected or self._generation != conn.generation:
            return False
        if not up:
            return node is None
        due = time.monotonic() - self._last_reconcile >= self._reconcile_interval
        return node is not None and self._deleted != node and not due

    def _sync(self, up: bool) -> None:
        if self._generation != self.conn.generation:
            self._generation = self.conn.generation
            self.node = None  # our ephemeral node died with the session
        if self.node is not None and self._deleted == self.node:
            log.warning("%s: node %s was deleted; re-creating", self.service.name, self.node)
            self.node = None
        if up and self.node is not None:
            self._reconcile(self.node)
        if up and self.node is None and self.limiter.allow():
            self._register()
        elif not up and self.node is not None and self.limiter.allow():
            self._deregister(self.node)

    def touch(self) -> None:
        """Rewrite a persistent node's data so its mtime advances (Ruby's `ttl_seconds` renewal)."""
        with self._lock:
            node = self.node
            if node is None or self.reg.ephemeral or not self.conn.connected:
                return
            try:
                self.conn.client.set(node, self.reg.payload)
                self.touches += 1
                log.debug("%s: ttl renew: touched %s", self.service.name, node)
            except KazooException as e:  # NoNodeError too: the next round re-creates it
                log.info("%s: ttl renew: could not touch %s: %s", self.service.name, node, e)

    def _reconcile(self, node: str) -> None:
        now = time.monotonic()
        if now - self._last_reconcile < self._reconcile_interval:
            return
        self._last_reconcile = now
        if self._watch(node) is None:
            log.warning("%s: node %s vanished; re-creating", self.service.name, node)
            self.node = None

    def _watch(self, path: str):
        """`exists` with a one-shot watch that records the path's deletion (no ZooKeeper calls)."""
        return self.conn.client.exists(path, watch=self._on_node_event)

    def _on_node_event(self, event) -> None:
        if event.type == "DELETED":
            self._deleted = event.path

    def _register(self) -> None:
        self._remove_leftovers()
        try:
            path, stat = self._create(self.reg.path_prefix)
        except NodeExistsError:
            path, stat = self._replace_existing(self.reg.path_prefix)
        self.node, self._czxid = path, stat.czxid
        self._deleted = None
        self._watch(path)
        self._last_reconcile = time.monotonic()
        self.registrations += 1
        log.info("%s: registered %s", self.service.name, path)

    def _create(self, path: str):
        reg = self.reg
        return self.conn.client.create(
            path,
            reg.payload,
            ephemeral=reg.ephemeral,
            sequence=reg.sequence,
            makepath=True,
            include_data=True,
        )

    def _replace_existing(self, path: str):
        """A fixed-name node already exists (a predecessor's): delete and create it.

        Never rewritten in place: watchers cache nodes by name, so new data needs a new node.
        """
        self._delete(path)
        return self._create(path)

    def _deregister(self, node: str) -> None:
        stat = self.conn.client.exists(node)
        if stat is not None and stat.czxid == self._czxid:  # not a successor's node of that name
            self._delete(node)
        log.info("%s: deregistered %s", self.service.name, node)
        self.node = None

    def _delete(self, path: str) -> None:
        with contextlib.suppress(NoNodeError):
            self.conn.client.delete(path)

    def _remove_leftovers(self) -> None:
        """Delete nodes for our host:port left by an earlier session (e.g. after kill -9).

        Only children whose name could be ours are read: reading every sibling made one
        registration among 10,000 siblings take seconds.
        """
        client, zk_path = self.conn.client, self.reg.zk_path
        try:
            children = client.get_children(zk_path)
        except NoNodeError:
            return
        session, could_be_ours = self.conn.session_id(), _name_filter(self.service.instance_id)
        for child in filter(could_be_ours, children):
            path = f"{zk_path}/{child}"
            if path == self.node or not self._is_ours(child, path, session):
                continue
            log.info(
                "%s: replacing leftover node %s from an earlier session", self.service.name, path
            )
            self._delete(path)

    def _is_ours(self, child: str, path: str, session: int | None) -> bool:
        identity = _identity_from_name(child)
        try:
            data, stat = self.conn.client.get(path)
        except NoNodeError:
            return False
        if stat.ephemeralOwner and stat.ephemeralOwner == session:
            return False  # a live sibling of this process (make-before-break on reload)
        if identity is None:
            identity = _identity_from_data(data)
        s, (name, host, port) = self.service, identity
        # a digit-string port (Ruby accepts one) is published verbatim: compare as text
        return (name, host, str(port)) in {
            (s.instance_id, s.host, str(s.port)),
            (s.instance_id, s.host, str(s.wire_port)),
        }

    def deregister(self) -> None:
        """Remove the node now (shutdown, service removed); ignores rate limits."""
        with self._lock:
            if self.node is not None and self.conn.connected:
                try:
                    self._deregister(self.node)
                except KazooException as e:
                    log.warning("%s: could not delete %s: %s", self.service.name, self.node, e)

    def recheck(self) -> None:
        """Verify the node against ZooKeeper on the next round (a restarted watcher)."""
        with self._lock:
            self.failures = 0
            self._last_reconcile = -math.inf


def ttl_applies(service: ServiceConfig) -> bool:
    """`ttl_seconds` renews persistent nodes only (Ruby: ephemeral types are excluded)."""
    return service.ttl_seconds is not None and service.node_type not in EPHEMERAL


def _log_failure(service: ServiceConfig, e: KazooException, in_a_row: int) -> None:
    if isinstance(e, NoAuthError):
        log.error(
            "%s: ZooKeeper denied access under %s: zk_auth is missing or wrong, or the ACL there "
            "does not grant it; will retry",
            service.name,
            service.zk_path,
        )
    elif in_a_row == 1 or in_a_row % 10 == 0:  # a long outage does not log every round
        why = str(e) or type(e).__name__
        log.warning("%s: report failed (%s), %d in a row; will retry", service.name, why, in_a_row)


def _name_filter(instance_id: str) -> Callable[[str], bool]:
    """A test of a child name that is False only for nodes that cannot be `instance_id`'s.

    nerve (Ruby and ours) names a node `<instance_id>_<seq>` or, path-encoded,
    `base64_<len>_<b64(payload)>_<seq>`, whose payload holds `"name": "<instance_id>"`; an
    instance id is plain ASCII, which every JSON encoder writes unescaped.
    """
    plain, quoted = f"{instance_id}_", json.dumps(instance_id).encode()

    def could_be_ours(child: str) -> bool:
        if child.startswith(plain):
            return True
        if not child.startswith("base64_"):
            return False
        try:
            _, length, rest = child.split("_", 2)
            return quoted in base64.urlsafe_b64decode(rest[: int(length)])
        except ValueError:  # binascii.Error too: a malformed name, never ours (see below)
            return False

    return could_be_ours


def _identity_from_name(child: str) -> tuple | None:
    """(name, host, port) from a path-encoded child name; None for the plain form."""
    if not child.startswith("base64_"):
        return None
    try:
        _, length, rest = child.split("_", 2)
        data = json.loads(base64.urlsafe_b64decode(rest[: int(length)]))
        return data.get("name"), data.get("host"), data.get("port")
    except (ValueError, TypeError, AttributeError):
        return ("?", None, None)


def _identity_from_data(data: bytes) -> tuple:
    try:
        d = json.loads(data)
        return d.get("name"), d.get("host"), d.get("port")
    except (ValueError, TypeError, AttributeError):
        return ("?", None, None)
