"""`http` and `https`: GET `uri`; healthy on 2xx/3xx (not followed) with `expect` in the body.

The request goes over http_wire (a lean HTTP/1.1 client on one keep-alive connection). Once that
connection is open, the scheduler's event loop runs the check without blocking (`begin_fast`,
`feed_fast`): the same exchange, judged by the same code, failing with the same reasons.

`http` has Ruby nerve's keys and defaults: `open_timeout` 0.2 s (connect and TLS handshake),
`read_timeout` the check's `timeout`, `http_port` instead of `port`, and `ssl: true` for TLS
without certificate verification (Ruby's VERIFY_NONE). `ssl_timeout` is Ruby's TLS session
lifetime (Net::HTTP's), which bounds nothing: each connection does a full handshake. `https` is
ours: TLS with verification, `open_timeout` defaulting to `timeout`.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import (
    Check,
    CheckConfigError,
    CheckFailed,
    int_key,
    number_key,
    register,
    required_str_key,
    str_key,
)
from .http_wire import (
    RECV,
    BadResponse,
    Disconnected,
    Response,
    WireConnection,
    request_bytes,
)

log = logging.getLogger(__name__)

#: most of a body read while looking for `expect`
BODY_LIMIT = 1 << 20
#: most of a body read to its end so that the next check can reuse the connection
DRAIN_LIMIT = 1 << 16
#: sent unless the check's `headers` say otherwise (as requests did before)
DEFAULT_HEADERS = {"User-Agent": "nerve-py", "Accept": "*/*", "Connection": "keep-alive"}
#: Ruby nerve's http check defaults (seconds)
RUBY_OPEN_TIMEOUT = 0.2
RUBY_SSL_TIMEOUT = 0.2


def _headers(conf: Mapping[str, Any]) -> dict[str, str]:
    headers = conf.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise CheckConfigError(f"check key 'headers': must map strings to strings, got {headers!r}")
    return dict(headers)


def _uri(conf: Mapping[str, Any]) -> str:
    uri = required_str_key(conf, "uri")
    if not uri.startswith("/"):
        raise CheckConfigError(f"check key 'uri': must start with '/', got {uri!r}")
    return uri


@register("http")
class HttpCheck(Check):
    """GETs `uri` over plain HTTP on one keep-alive connection per check."""

    own_keys = frozenset(
        {"uri", "headers", "expect", "open_timeout", "read_timeout", "http_port"}
        | {"ssl", "ssl_timeout"}
    )
    #: Ruby's Net::HTTP open_timeout; None: the check's `timeout`
    default_open_timeout: float | None = RUBY_OPEN_TIMEOUT

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        self.port = int_key(conf, "http_port", self.port, high=65535)
        self.uri = _uri(conf)
        # Ruby nerve's name for an http check: the uri tells checks on one port apart
        self.name = str_key(conf, "name", f"{conf['type']}-{self.host}:{self.port}{self.uri}")
        self.expect = str_key(conf, "expect")
        open_timeout = number_key(conf, "open_timeout", self.default_open_timeout)
        self.open_timeout = open_timeout or self.timeout
        self.read_timeout = number_key(conf, "read_timeout", self.timeout)
        self.ssl_timeout = number_key(conf, "ssl_timeout", RUBY_SSL_TIMEOUT)
        self.headers = {**DEFAULT_HEADERS, **_headers(conf)}
        self._conn: WireConnection | None = None
        self._request_bytes: bytes | None = None  # built on first use (https sets its context)
        self.context = _ruby_ssl(conf, self.name)

    @property
    def scheme(self) -> str:
        return "http" if self.context is None else "https"

    def check(self) -> bool:
        return self._mapped(self._get)

    def _mapped(self, exchange: Callable[[], bool]) -> bool:
        """Run `exchange` with the failures mapped to reasons; any failure drops the connection."""
        try:
            return exchange()
        except TimeoutError as exc:  # connect timeouts are CheckFailed already
            self.close()
            raise CheckFailed(f"timed out after {self.read_timeout:g}s") from exc
        except BadResponse as exc:
            self.close()
            raise CheckFailed(f"bad HTTP response: {exc}") from exc
        except BaseException:
            self.close()  # a failed exchange leaves the connection in an unknown state
            raise

    def _get(self) -> bool:
        reused = self._conn is not None and not self._conn.idle_dropped()
        if not reused:
            self._connect()
        try:
            resp = self._request()
        except (Disconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            self._connect()  # the server closed an idle keep-alive connection: one new try
            resp = self._request()
        return self._judge(resp)

    def _connect(self) -> None:
        self.close()
        conn = WireConnection(
            self.host, self.port, self.open_timeout, self.read_timeout, self.context
        )
        try:
            conn.connect()
        except TimeoutError as exc:
            raise CheckFailed(f"timed out after {self.open_timeout:g}s connecting") from exc
        self._conn = conn

    def _request(self) -> Response:
        assert self._conn is not None
        return self._conn.get(self._request_data())

    def _request_data(self) -> bytes:
        if self._request_bytes is None:
            self._request_bytes = request_bytes(
                self.host, self.port, self.uri, self.headers, self.context is not None
            )
        return self._request_bytes

    def _judge(self, resp: Response) -> bool:
        if not 200 <= resp.status < 400:
            raise CheckFailed(f"HTTP {resp.status}")
        if self.expect is not None and not self._body_has(resp, self.expect.encode()):
            raise CheckFailed(f"HTTP {resp.status} without {self.expect!r} in the body")
        if not (self._drain(resp) and resp.complete and not resp.will_close):
            self.close()  # a long body or "Connection: close": the next check connects anew
        return True

    def _drain(self, resp: Response) -> bool:
        """Read a short body to its end (True); a long or slow one is left unread (False)."""
        if resp.complete or resp.will_close:
            return resp.complete
        deadline = time.monotonic() + self.read_timeout
        read = 0
        for chunk in resp.chunks():
            read += len(chunk)
            if read > DRAIN_LIMIT or time.monotonic() > deadline:
                return False
        return True

    def _body_has(self, resp: Response, wanted: bytes) -> bool:
        """Read the body until `wanted` shows up; a trickling server is cut off at read_timeout."""
        deadline = time.monotonic() + self.read_timeout
        body = b""
        for chunk in resp.chunks():
            body += chunk
            if wanted in body:
                return True
            if len(body) > BODY_LIMIT:
                raise CheckFailed(f"no {self.expect!r} in the first {BODY_LIMIT} bytes of the body")
            if time.monotonic() > deadline:
                raise CheckFailed(f"timed out after {self.read_timeout:g}s reading the body")
        return False

    # ---- the event loop's path (nerve_py/check_loop.py): one GET on a reused connection

    def begin_fast(self) -> socket.socket | None:
        """Send the GET on the kept-alive connection without blocking; the socket for the loop
        to watch, or None (TLS, no open connection, one the server dropped): run `check()`."""
        conn = self._conn
        if self.context is not None or conn is None or conn.idle_dropped():
            return None
        sock, request = conn.sock, self._request_data()
        assert sock is not None
        try:
            if sock.gettimeout() != 0.0:
                sock.setblocking(False)  # stays so; the blocking path sets its timeout back
            sent = sock.send(request)
        except OSError:
            sent = 0
        if sent != len(request):
            self.close()  # the blocking check connects anew and sends the whole request
            return None
        return sock

    def feed_fast(self) -> tuple[Callable[[], bool], bool] | None:
        """Read what the socket has: None while the head is not all in, else (what finishes
        the check, True when that only reads the buffer, so the loop may run it)."""
        conn = self._conn
        assert conn is not None and conn.sock is not None
        try:
            data = conn.sock.recv(RECV)
        except (BlockingIOError, InterruptedError):
            return None
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            if conn.buffered():  # closed inside the head: the blocking reader says how
                return (lambda: self._judge(conn.read_response())), False
            return self._retry, False  # an idle keep-alive closed: one new try, as check()
        conn.feed(data)
        resp = conn.buffered_response()
        if resp is None:
            return None
        return (lambda: self._judge(resp)), resp.body_buffered

    def finish_fast(self, finish: Callable[[], bool]) -> bool:
        """Run what `feed_fast` returned, its failures mapped as `check()` maps them."""
        return self._mapped(finish)

    def timeout_fast(self) -> bool:
        """The response did not come within `read_timeout`: fail as `check()` does."""
        return self._mapped(_timed_out)

    def _retry(self) -> bool:
        self.close()
        return self._get()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _timed_out() -> bool:
    raise TimeoutError("timed out reading the response headers")


@register("https")
class HttpsCheck(HttpCheck):
    """The http check over TLS; the certificate is verified unless `ssl_verify: false`."""

    own_keys = (HttpCheck.own_keys - {"ssl", "ssl_timeout"}) | {"ca_file", "ssl_verify"}
    default_open_timeout = None

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        verify = _tls_verify(conf)
        self.context = _tls_context(verify)
        if not verify:
            log.warning(
                "check %s: TLS certificate verification is off (ssl_verify: false)", self.name
            )


def _ruby_ssl(conf: Mapping[str, Any], name: str) -> ssl.SSLContext | None:
    """Ruby's `ssl: true`: TLS that does not verify the certificate (as Ruby nerve does)."""
    use_ssl = conf.get("ssl", False)
    if not isinstance(use_ssl, bool):
        raise CheckConfigError(f"check key 'ssl': must be true or false, got {use_ssl!r}")
    if not use_ssl:
        return None
    log.info("check %s: ssl: TLS without certificate verification, as Ruby nerve", name)
    return _tls_context(False)


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """Verification against the system CAs or `ca_file`, or none at all for the opt-out."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def _tls_verify(conf: Mapping[str, Any]) -> bool | str:
    """The CA bundle path, True for the system CAs, or False for the opt-out."""
    verify = conf.get("ssl_verify", True)
    if not isinstance(verify, bool):
        raise CheckConfigError(f"check key 'ssl_verify': must be true or false, got {verify!r}")
    ca_file = str_key(conf, "ca_file")
    if ca_file is not None and not verify:
        raise CheckConfigError("check key 'ca_file': pointless with ssl_verify: false")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise CheckConfigError(f"check key 'ca_file': no such file {ca_file!r}")
    return ca_file or verify
