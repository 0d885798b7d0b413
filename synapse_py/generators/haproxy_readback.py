"""What a running HAProxy routes to, read back over the admin socket.

At start, a service whose membership is not known yet (ZooKeeper has not answered, no state file)
keeps the servers HAProxy already runs instead of being emptied. The rows are HAProxy's, not the
registry's, but they are validated like registry data all the same before they are rendered.
"""

from __future__ import annotations

import logging

from ..backend import Backend, InvalidNode, backend_from_dict
from ..proxy.haproxy_socket import CommandFailed, HaproxySocket, HaproxySocketError

log = logging.getLogger(__name__)


class MembershipUnknown(Exception):
    """A service's membership is not known and HAProxy's cannot be read: touch nothing yet."""


def live_members(sock: HaproxySocket | None, backend: str) -> tuple[Backend, ...] | None:
    """The servers `backend` routes to now (not in maintenance); () if HAProxy runs without
    that backend; None if no HAProxy answers."""
    if sock is None:
        return None
    try:
        rows = sock.show_servers_state(backend)
    except CommandFailed:
        return ()  # HAProxy runs but has no such backend: nothing to keep
    except HaproxySocketError:
        return None
    found = []
    for row in rows:
        if row.maint:
            continue
        entry = {"host": row.addr, "port": row.port, "name": f"{row.addr}:{row.port}"}
        try:
            found.append(backend_from_dict({**entry, "weight": row.weight}))
        except InvalidNode as e:
            log.warning("%s: server %s read back from HAProxy skipped: %s", backend, row.server, e)
    return tuple(sorted(found))
