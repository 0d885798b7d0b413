"""The few AMQP 0-9-1 methods the rabbitmq check needs, over one socket bounded by a deadline.

Not a client library: one connection, one channel, the methods Ruby nerve's check sends through
Bunny (queue.declare, basic.publish, basic.get, basic.ack), and every read and write bounded by
the check's deadline (a stopped broker fails the check in time instead of holding a thread).
Frames: type (1 octet), channel (2), size (4), payload, 0xCE. Method payload: class (2), method (2),
arguments. A refusal from the broker (connection.close, channel.close) is a CheckFailed naming
the broker's reply code and text.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .base import CheckFailed

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = b"\xce"
METHOD, HEADER, BODY, HEARTBEAT = 1, 2, 3, 8
BASIC = 60
#: (class, method) ids of the methods used
START, START_OK = (10, 10), (10, 11)
TUNE, TUNE_OK = (10, 30), (10, 31)
OPEN, OPEN_OK = (10, 40), (10, 41)
CLOSE, CLOSE_OK = (10, 50), (10, 51)
CHANNEL_OPEN, CHANNEL_OPEN_OK, CHANNEL_CLOSE = (20, 10), (20, 11), (20, 40)
DECLARE, DECLARE_OK = (50, 10), (50, 11)
PUBLISH, GET, GET_OK, GET_EMPTY, ACK = (60, 40), (60, 70), (60, 71), (60, 72), (60, 80)
#: the basic.properties flag of `expiration`
EXPIRATION_FLAG = 1 << 8
DEFAULT_FRAME_MAX = 131072


def shortstr(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise CheckFailed(f"AMQP short string too long: {text[:40]!r}...")
    return bytes([len(data)]) + data


def longstr(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _client_properties() -> bytes:
    """{product: "nerve-py", capabilities: {authentication_failure_close: true}} as a field table.

    The capability makes RabbitMQ say "ACCESS_REFUSED" on bad credentials instead of just
    closing the socket.
    """
    caps = shortstr("authentication_failure_close") + b"t\x01"
    table = shortstr("product") + b"S" + longstr(b"nerve-py")
    table += shortstr("capabilities") + b"F" + longstr(caps)
    return longstr(table)


class AmqpConnection:
    """One AMQP connection whose every socket operation ends by `deadline` (monotonic)."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.deadline = deadline
        self.frame_max = DEFAULT_FRAME_MAX

    # ---------------------------------------------------------------- bytes on the wire

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("AMQP exchange did not finish in time")
        return left

    def _send(self, data: bytes) -> None:
        self.sock.settimeout(self._remaining())
        self.sock.sendall(data)

    def _recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.sock.settimeout(self._remaining())
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise CheckFailed("RabbitMQ closed the connection")
            data += chunk
        return data

    def send_frame(self, kind: int, channel: int, payload: bytes) -> None:
        self._send(struct.pack(">BHI", kind, channel, len(payload)) + payload + FRAME_END)

    def read_frame(self) -> tuple[int, int, bytes]:
        """The next frame other than a heartbeat: (type, channel, payload)."""
        while True:
            kind, channel, size = struct.unpack(">BHI", self._recv(7))
            if size > self.frame_max:
                raise CheckFailed(f"AMQP frame of {size} bytes exceeds frame_max")
            payload = self._recv(size)
            if self._recv(1) != FRAME_END:
                raise CheckFailed("malformed AMQP frame (no frame end)")
            if kind != HEARTBEAT:
                return kind, channel, payload

    # ---------------------------------------------------------------- methods and content

    def send_method(self, channel: int, method: tuple[int, int], args: bytes = b"") -> None:
        self.send_frame(METHOD, channel, struct.pack(">HH", *method) + args)

    def expect(self, *wanted: tuple[int, int]) -> tuple[tuple[int, int], bytes]:
        """Read the next method; it must be one of `wanted` (a close from the broker fails)."""
        kind, _, payload = self.read_frame()
        if kind != METHOD or len(payload) < 4:
            raise CheckFailed(f"unexpected AMQP frame of type {kind}")
        method = struct.unpack(">HH", payload[:4])
        args = payload[4:]
        if method in (CLOSE, CHANNEL_CLOSE) and method not in wanted:
            raise CheckFailed(_refusal(method, args))
        if method not in wanted:
            raise CheckFailed(f"unexpected AMQP method {method[0]}.{method[1]}")
        return method, args

    def send_content(self, channel: int, body: bytes, expiration: str) -> None:
        props = shortstr(expiration)
        header = struct.pack(">HHQH", BASIC, 0, len(body), EXPIRATION_FLAG) + props
        self.send_frame(HEADER, channel, header)
        self.send_frame(BODY, channel, body)

    def read_content(self) -> bytes:
        kind, _, header = self.read_frame()
        if kind != HEADER or len(header) < 12:
            raise CheckFailed("AMQP content header expected")
        (size,) = struct.unpack(">Q", header[4:12])
        body = b""
        while len(body) < size:
            kind, _, chunk = self.read_frame()
            if kind != BODY:
                raise CheckFailed("AMQP content body expected")
            body += chunk
        return body

    # ---------------------------------------------------------------- connection life

    def handshake(self, username: str, password: str, vhost: str) -> None:
        self._send(PROTOCOL_HEADER)
        _, start = self.expect(START)
        if b"PLAIN" not in start:
            raise CheckFailed("RabbitMQ does not offer PLAIN authentication")
        response = b"\0" + username.encode() + b"\0" + password.encode()
        args = _client_properties() + shortstr("PLAIN") + longstr(response) + shortstr("en_US")
        self.send_method(0, START_OK, args)
        _, tune = self.expect(TUNE)
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[:8])
        self.frame_max = frame_max or DEFAULT_FRAME_MAX
        self.send_method(0, TUNE_OK, struct.pack(">HIH", channel_max, self.frame_max, 0))
        self.send_method(0, OPEN, shortstr(vhost) + shortstr("") + b"\0")
        self.expect(OPEN_OK)

    def close(self) -> None:
        """Say goodbye (best effort, still within the deadline) and close the socket."""
        try:
            self.send_method(0, CLOSE, struct.pack(">H", 200) + shortstr("bye") + b"\0\0\0\0")
            self.expect(CLOSE_OK)
        except (OSError, CheckFailed):
            pass
        finally:
            self.sock.close()


def _refusal(method: tuple[int, int], args: bytes) -> str:
    """ "RabbitMQ closed the connection: 403 ACCESS_REFUSED - ..." from a close method."""
    what = "connection" if method == CLOSE else "channel"
    try:
        code = struct.unpack(">H", args[:2])[0]
        text = args[3 : 3 + args[2]].decode(errors="replace")
    except (struct.error, IndexError):
        code, text = 0, "(unreadable reason)"
    return f"RabbitMQ closed the {what}: {code} {text}"[:200]


@contextmanager
def connect(
    host: str, port: int, deadline: float, username: str, password: str, vhost: str
) -> Iterator[AmqpConnection]:
    """An open AMQP connection to vhost on host:port, closed on exit; all of it by `deadline`."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no time left to connect")
    sock = socket.create_connection((host, port), timeout=left)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, no Nagle stalls
    conn = AmqpConnection(sock, deadline)
    try:
        conn.handshake(username, password, vhost)
        yield conn
    finally:
        conn.close()
