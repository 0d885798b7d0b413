"""kazoo's threading handler with a cheaper `select`: its connection thread waits on `select`
two or three times per request (the socket writable, then readable, and the wake-up pipe), and
kazoo's own builds, registers and closes a new epoll object each time. At the initial sync of
20,000 nodes that was a third of the connection thread's time, and that thread is the limit: a
`poll` object costs no system call until it waits, and takes any file descriptor number
(`select.select` would not above 1023).
"""

from __future__ import annotations

import math
import select
from collections.abc import Sequence
from typing import Any

from kazoo.handlers.threading import SequentialThreadingHandler

_READ, _WRITE = select.POLLIN | select.POLLPRI, select.POLLOUT


class PollingHandler(SequentialThreadingHandler):
    """SequentialThreadingHandler whose `select` is one `poll` (the same results as kazoo's:
    a ready file object is reported readable, else writable, as it was asked for)."""

    def select(
        self,
        rlist: Sequence[Any],
        wlist: Sequence[Any],
        xlist: Sequence[Any],  # noqa: ARG002 - kazoo asks for no exceptional conditions
        timeout: float | None = None,
    ) -> tuple[list[Any], list[Any], list[Any]]:
        asked: dict[int, tuple[int, Any]] = {}
        for events, objs in ((_READ, rlist), (_WRITE, wlist)):
            for obj in objs:
                fd = obj if isinstance(obj, int) else obj.fileno()
                mask, _ = asked.get(fd, (0, obj))
                asked[fd] = (mask | events, obj)
        poller = select.poll()
        for fd, (mask, _) in asked.items():
            poller.register(fd, mask)
        wait = None if timeout is None else math.ceil(timeout * 1000)
        readable: list[Any] = []
        writable: list[Any] = []
        for fd, got in poller.poll(wait):
            mask, obj = asked[fd]
            if mask & _READ and got & ~select.POLLOUT:  # as selectors maps poll's events
                readable.append(obj)
            elif mask & _WRITE and got & ~select.POLLIN:
                writable.append(obj)
        return readable, writable, []
