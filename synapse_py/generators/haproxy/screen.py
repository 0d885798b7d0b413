"""Finds the registry nodes whose haproxy_server_options HAProxy refuses in context.

backend.py lets only allow-listed keywords with well-formed values through, but HAProxy can still
refuse them in context: `resolvers dns1` with no such section, `ssl` with no CA file, `agent-check`
without `agent-port`. One such node would make `haproxy -c` refuse the whole file, so every later
change would stop reaching HAProxy. Host, port and weight are validated, so only a server with node
options can be at fault: a candidate holding such servers not judged yet is validated before it is
applied. If HAProxy refuses it but accepts it without them, they are bisected (the list is ordered
by backend, so by backend first, then by server); each culprit is skipped whole, logged once with
HAProxy's message and counted. A failure that remains without them (the operator's config) is left
to the install, which refuses and logs it as before.

Verdicts are kept per (backend, host:port, options) while the node is in the membership, and are
void when the service's haproxy section changes: a node whose options change is judged again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence

from ...backend import Backend
from ...config import ServiceConfig
from .config import ConfigRejected, ServicePlan
from .members import Server

log = logging.getLogger(__name__)

VerdictKey = tuple[str, str, str]  # backend name, host:port, node options
Suspect = tuple[int, int]  # (index of the service in the plan, index of the server)


class NodeScreen:
    """Remembers which nodes' server options HAProxy accepts; finds the ones it refuses."""

    def __init__(
        self, render: Callable[[Sequence[ServicePlan]], str], validate: Callable[[str], None]
    ):
        """`validate(text)` raises ConfigRejected when HAProxy (or check_command) refuses `text`."""
        self._render = render
        self._validate = validate
        self._verdicts: dict[VerdictKey, tuple[object, str | None]] = {}  # -> (context, reason)
        self.rejected_nodes: dict[str, int] = {}  # service name -> nodes refused in context
        self._suspects: set[Suspect] = set()  # the servers being judged in `screen`

    def refused(self, svc: ServiceConfig, backend: Backend) -> bool:
        """True if HAProxy refused this node's options in this service's current context."""
        options = backend.haproxy_server_options
        if not options:
            return False
        verdict = self._verdicts.get((svc.backend_name, backend.key, options))
        return verdict is not None and verdict[0] == svc.haproxy and verdict[1] is not None

    def retain(self, members: Iterable[tuple[ServiceConfig, Sequence[Backend]]]) -> None:
        """Forget the verdicts of nodes no longer in the membership (bounded memory)."""
        if not self._verdicts:
            return
        current = {
            (svc.backend_name, b.key, b.haproxy_server_options)
            for svc, backends in members
            for b in backends
            if b.haproxy_server_options
        }
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in current}

    def screen(
        self, planned: Sequence[ServicePlan], changed: Collection[str] | None = None
    ) -> bool:
        """Judge the servers with options not judged yet; True if one was refused (re-plan).

        Only the services named in `changed` (all, if None) can hold one not judged yet: the
        others' servers are those judged at an earlier apply."""
        suspects = [
            (i, j)
            for i, (svc, servers) in enumerate(planned)
            if changed is None or svc.name in changed
            for j, server in enumerate(servers)
            if server.node_options and self._verdict(svc, server) is None
        ]
        if not suspects:
            return False
        self._suspects = set(suspects)
        reason = self._check(planned, suspects)
        if reason is None:
            self._judge(planned, suspects, None)
            return False
        if self._check(planned, []) is not None:
            return False  # refused without them too: not a node's fault, the install reports it
        self._bisect(planned, suspects, reason)
        return any(self._verdict(planned[i][0], planned[i][1][j]) for i, j in suspects)

    def _verdict(self, svc: ServiceConfig, server: Server) -> str | None | bool:
        """None: not judged; False: accepted; the reason: refused."""
        key = (svc.backend_name, server.backend.key, server.node_options)
        found = self._verdicts.get(key)
        if found is None or found[0] != svc.haproxy:
            return None
        return found[1] or False

    def _check(self, planned: Sequence[ServicePlan], keep: Sequence[Suspect]) -> str | None:
        """HAProxy's reason to refuse the plan with only `keep` of the new servers, or None."""
        try:
            self._validate(self._render(_without(planned, self._suspects - set(keep))))
        except ConfigRejected as exc:
            return str(exc)
        return None

    def _bisect(self, planned: Sequence[ServicePlan], group: list[Suspect], reason: str) -> None:
        """`group` is refused (with `reason`) without the other new servers: find the culprits."""
        if len(group) == 1:
            self._judge(planned, group, reason)
            return
        refused_half = False
        for half in (group[: len(group) // 2], group[len(group) // 2 :]):
            half_reason = self._check(planned, half)
            if half_reason is None:
                self._judge(planned, half, None)
            else:
                refused_half = True
                self._bisect(planned, half, half_reason)
        if not refused_half:  # refused only together: none of them is trusted
            self._judge(planned, group, reason)

    def _judge(self, planned: Sequence[ServicePlan], group: list[Suspect], reason: str | None):
        for i, j in group:
            svc, server = planned[i][0], planned[i][1][j]
            key = (svc.backend_name, server.backend.key, server.node_options)
            self._verdicts[key] = (svc.haproxy, reason)
            if reason is not None:
                self.rejected_nodes[svc.name] = self.rejected_nodes.get(svc.name, 0) + 1
                log.warning(
                    "%s: skipping invalid node %r (%s): HAProxy refuses its"
                    " haproxy_server_options %r in this config: %s",
                    svc.name,
                    server.backend.node or server.backend.name,
                    server.backend.key,
                    server.node_options,
                    reason,
                )


def _without(planned: Sequence[ServicePlan], drop: set[Suspect]) -> tuple[ServicePlan, ...]:
    """The plan without the servers in `drop`."""
    return tuple(
        (svc, tuple(server for j, server in enumerate(servers) if (i, j) not in drop))
        for i, (svc, servers) in enumerate(planned)
    )
