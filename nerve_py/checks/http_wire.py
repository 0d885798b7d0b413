"""A small HTTP/1.1 client for the http check: one GET on one keep-alive connection.

`http.client` costs about 150 us of CPU per request (a `socket.makefile` reader, the email
package's header parser); at 1000 services checked every second that alone is 15% of a core.
This reads the status line and the headers it needs from raw `recv`s (about 25 us), and knows
exactly what a health check needs: the status, the body (Content-Length, chunked, or up to the
close), and whether the connection can be used again. 1xx interim answers are skipped, as
http.client does. Anything it cannot parse is a `BadResponse` (the check fails with its text).
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterator

#: the most a status line plus headers may take
HEAD_LIMIT = 64 * 1024
RECV = 65536


class BadResponse(Exception):
    """The server's answer is not HTTP/1.x as a health check understands it."""


class Disconnected(ConnectionError):
    """The server closed the connection before the status line (an idle keep-alive ended)."""


def request_bytes(host: str, port: int, uri: str, headers: dict[str, str], tls: bool) -> bytes:
    """The GET request, built once per check: `Host` (unless `headers` has one), then `headers`."""
    lines = [f"GET {uri} HTTP/1.1"]
    if not any(k.lower() == "host" for k in headers):
        name = f"[{host}]" if ":" in host else host
        default = 443 if tls else 80
        lines.append(f"Host: {name}" if port == default else f"Host: {name}:{port}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Response:
    """A response's status and headers; its body is read with `chunks()`."""

    def __init__(self, conn: WireConnection, status: int, version: str, fields: dict[str, str]):
        self._conn = conn
        self.status = status
        self.fields = fields  # lower-case names; a repeated field keeps its last value
        keep = fields.get("connection", "").lower()
        self._chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        length = fields.get("content-length")
        if self._chunked:
            self._left: int | None = None
        elif status in (204, 304):
            self._left = 0
        elif length is not None:
            if not length.strip().isdigit():
                raise BadResponse(f"bad Content-Length {length[:40]!r}")
            self._left = int(length)
        else:
            self._left = None  # up to the close
        self.will_close = (
            "close" in keep
            or (version == "HTTP/1.0" and "keep-alive" not in keep)
            or (self._left is None and not self._chunked)
        )
        self.complete = self._left == 0
        self._body = self._read_body()

    @property
    def body_buffered(self) -> bool:
        """The whole body (known length) is in the connection's buffer: reading it never waits."""
        return self._left is not None and self._left <= len(self._conn._buf)

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive, carrying on where an earlier call stopped;
        `complete` is True once it was read to its end."""
        return self._body

    def _read_body(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._chunked_body()
        elif self._left is None:
            while data := self._conn.recv_some():
                yield data
            self.complete = True
        else:
            while self._left:
                data = self._conn.recv_some(self._left)
                if not data:
                    raise BadResponse("connection closed inside the body")
                self._left -= len(data)
                yield data
            self.complete = True

    def _chunked_body(self) -> Iterator[bytes]:
        conn = self._conn
        while True:
            size_line = conn.read_line()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadResponse(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while conn.read_line():  # trailers, up to the empty line
                    pass
                self.complete = True
                return
            while size:
                data = conn.recv_some(size)
                if not data:
                    raise BadResponse("connection closed inside a chunk")
                size -= len(data)
                yield data
            if conn.read_line():
                raise BadResponse("no CRLF after a chunk")


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """(status, version, lower-cased fields) of a status line plus headers without the CRLFCRLF."""
    if len(head) > HEAD_LIMIT:
        raise BadResponse(f"no end of the headers in {HEAD_LIMIT} bytes")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise BadResponse(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return int(code), version, fields


class WireConnection:
    """One TCP (or TLS) connection to host:port; `get(request)` sends it and reads the head."""

    def __init__(self, host: str, port: int, open_timeout: float, read_timeout: float,
                 context: ssl.SSLContext | None = None):  # fmt: skip
        self.host, self.port = host, port
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self.context = context
        self.sock: socket.socket | None = None
        self._buf = b""

    def connect(self) -> None:
        """Connect (and shake hands) within `open_timeout`; reads then wait `read_timeout`."""
        sock = socket.create_connection((self.host, self.port), timeout=self.open_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock, self._buf = sock, b""

    def get(self, request: bytes) -> Response:
        """Send `request`, read the final (non-1xx) status line and headers."""
        assert self.sock is not None
        if self.sock.gettimeout() != self.read_timeout:  # the event loop left it non-blocking
            self.sock.settimeout(self.read_timeout)
        self.sock.sendall(request)
        return self.read_response()

    def read_response(self) -> Response:
        """The final (non-1xx) status line and headers, from the buffer and then the socket."""
        deadline = time.monotonic() + self.read_timeout
        while True:
            status, version, fields = self._read_head(deadline)
            if not 100 <= status < 200 or status == 101:
                return Response(self, status, version, fields)

    def buffered_response(self) -> Response | None:
        """The final response if its head is in the buffer already (no socket read), else None;
        1xx interim heads in the buffer are skipped."""
        while (end := self._buf.find(b"\r\n\r\n")) >= 0:
            head, self._buf = self._buf[:end], self._buf[end + 4 :]
            status, version, fields = parse_head(head)
            if not 100 <= status < 200 or status == 101:
                return Response(self, status, version, fields)
        if len(self._buf) > HEAD_LIMIT:
            raise BadResponse(f"no end of the headers in {HEAD_LIMIT} bytes")
        return None

    def buffered(self) -> bool:
        return bool(self._buf)

    def feed(self, data: bytes) -> None:
        """Bytes an event loop read from `sock`, for the parser to find in the buffer."""
        self._buf += data

    def _read_head(self, deadline: float) -> tuple[int, str, dict[str, str]]:
        first = True
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > HEAD_LIMIT:
                raise BadResponse(f"no end of the headers in {HEAD_LIMIT} bytes")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out reading the response headers")
            data = self._recv(RECV, min(left, self.read_timeout))
            if not data:
                if first and not self._buf:
                    raise Disconnected("the server closed the connection without a response")
                raise BadResponse("connection closed inside the response headers")
            first = False
            self._buf += data
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        return parse_head(head)

    def recv_some(self, most: int = RECV) -> bytes:
        """Buffered bytes first, else one `recv` (b"" at the close)."""
        if self._buf:
            data, self._buf = self._buf[:most], self._buf[most:]
            return data
        return self._recv(min(most, RECV), self.read_timeout)

    def read_line(self) -> bytes:
        """One CRLF-terminated line of a chunked body, without its CRLF."""
        while b"\r\n" not in self._buf:
            if len(self._buf) > HEAD_LIMIT:
                raise BadResponse("a chunked-body line is too long")
            data = self._recv(RECV, self.read_timeout)
            if not data:
                raise BadResponse("connection closed inside a chunked body")
            self._buf += data
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _recv(self, size: int, timeout: float) -> bytes:
        assert self.sock is not None
        if timeout != self.sock.gettimeout():
            self.sock.settimeout(timeout)
        return self.sock.recv(size)

    def idle_dropped(self) -> bool:
        """The idle connection was closed by the server or holds stray bytes: do not reuse it."""
        sock = self.sock
        if sock is None or self._buf:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        sock, self.sock, self._buf = self.sock, None, b""
        if sock is not None:
            sock.close()
