"""`redis`: healthy when the server answers an inline PING with +PONG (no client library)."""

from __future__ import annotations

from .base import Check, CheckFailed, int_key, register
from .tcp import open_connection, read_line


@register("redis")
class RedisCheck(Check):
    """Sends `PING` over a plain socket; passes on `+PONG`."""

    #: `db` is accepted for Ruby nerve config compatibility; PING answers the same in every db
    own_keys = frozenset({"db"})

    def __init__(self, conf, host, port):
        super().__init__(conf, host, port)
        self.db = int_key(conf, "db", 0, low=0)

    def check(self) -> bool:
        with open_connection(self.host, self.port, self.timeout) as sock:
            sock.sendall(b"PING\r\n")
            answer = read_line(sock, self.timeout)
        if not answer:
            raise CheckFailed("redis closed the connection without answering")
        if not answer.startswith(b"+PONG"):
            raise CheckFailed(f"redis answered {answer.decode(errors='replace')[:80]!r}")
        return True
