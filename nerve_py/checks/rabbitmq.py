"""`rabbitmq`: Ruby nerve's check, RabbitMQ management's aliveness test over AMQP 0-9-1.

Log in to `vhost` as `username`/`password` (Ruby's keys and defaults: guest, guest; `vhost` and
`queue` are ours, defaulting to what Ruby always uses: "/" and "nerve"), declare the queue (as
Bunny's `ch.queue(name)`: not durable, not exclusive, not auto-deleted), publish a test message to
it through the default exchange (mandatory, expiring after 2 s), get it back and ack it. Healthy
when the message came back. The whole exchange is bounded by the check's `timeout`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from typing import Any

from . import amqp
from .base import Check, CheckConfigError, CheckFailed, register, str_key

CHANNEL = 1
TEST_MESSAGE = b"nerve test message"
EXPIRATION_MS = "2000"


def _password(conf: Mapping[str, Any]) -> str:
    """A string (Ruby allows an empty one); never echoed in an error: it is a secret."""
    password = conf.get("password", "guest")
    if not isinstance(password, str):
        raise CheckConfigError("check key 'password': must be a string (value not shown)")
    return password


@register("rabbitmq")
class RabbitMqCheck(Check):
    """Publishes a message to a queue and reads it back."""

    own_keys = frozenset({"username", "password", "vhost", "queue"})

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        self.username = str_key(conf, "username", "guest")
        self.password = _password(conf)
        self.vhost = str_key(conf, "vhost", "/")
        self.queue = str_key(conf, "queue", "nerve")
        if len(self.queue.encode()) > 255 or len(self.vhost.encode()) > 255:
            raise CheckConfigError("check key 'queue' or 'vhost': at most 255 bytes")

    def check(self) -> bool:
        deadline = time.monotonic() + self.timeout
        login = (self.username, self.password, self.vhost)
        with amqp.connect(self.host, self.port, deadline, *login) as conn:
            conn.send_method(CHANNEL, amqp.CHANNEL_OPEN, amqp.shortstr(""))
            conn.expect(amqp.CHANNEL_OPEN_OK)
            self._declare(conn)
            self._publish(conn)
            tag = self._get(conn)
            conn.send_method(CHANNEL, amqp.ACK, struct.pack(">QB", tag, 0))
        return True

    def _declare(self, conn: amqp.AmqpConnection) -> None:
        args = struct.pack(">H", 0) + amqp.shortstr(self.queue) + b"\0" + struct.pack(">I", 0)
        conn.send_method(CHANNEL, amqp.DECLARE, args)
        conn.expect(amqp.DECLARE_OK)

    def _publish(self, conn: amqp.AmqpConnection) -> None:
        mandatory = b"\x01"
        args = struct.pack(">H", 0) + amqp.shortstr("") + amqp.shortstr(self.queue) + mandatory
        conn.send_method(CHANNEL, amqp.PUBLISH, args)
        conn.send_content(CHANNEL, TEST_MESSAGE, EXPIRATION_MS)

    def _get(self, conn: amqp.AmqpConnection) -> int:
        """basic.get with manual ack; the delivery tag of the message that came back."""
        conn.send_method(
            CHANNEL, amqp.GET, struct.pack(">H", 0) + amqp.shortstr(self.queue) + b"\0"
        )
        method, args = conn.expect(amqp.GET_OK, amqp.GET_EMPTY)
        if method == amqp.GET_EMPTY:
            raise CheckFailed(f"queue {self.queue!r}: the test message did not come back")
        (tag,) = struct.unpack(">Q", args[:8])
        if not conn.read_content():
            raise CheckFailed(f"queue {self.queue!r}: a message without payload came back")
        return tag
