"""The http check's own HTTP/1.1 client (nerve_py/checks/http_wire.py) against scripted servers:
each answer is sent byte for byte, so framing cases http.server never produces are covered."""

from __future__ import annotations

import socket
import threading

import pytest
from support.accepting import accept_until

from nerve_py.checks import build_check, run_check
from nerve_py.checks.http_wire import request_bytes

LOOPBACK = "127.0.0.1"


class Scripted:
    """Accepts connections on loopback; answers the n-th request on a connection with
    `answers[n]` (then closes if the answer is the last one and `close_after`)."""

    def __init__(self, answers: list[bytes], close_after: bool = False):
        self.answers, self.close_after = answers, close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server((LOOPBACK, 0))
        self._stop = threading.Event()
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        accept_until(self.sock, self._stop, self._answer)

    def _answer(self, conn: socket.socket) -> None:
        self.connections += 1
        with conn:
            conn.settimeout(5)
            for i, answer in enumerate(self.answers):
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buf += data
                if not buf:
                    break
                self.requests.append(buf)
                conn.sendall(answer)
                if self.close_after and i == len(self.answers) - 1:
                    break

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def make(*answers: bytes, close_after: bool = False) -> Scripted:
        servers.append(Scripted(list(answers), close_after))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def check_of(server: Scripted, **conf):
    return build_check({"type": "http", "uri": "/health", "timeout": 2, **conf}, LOOPBACK,
                       server.port)  # fmt: skip


def runs(check, times: int) -> list[tuple[bool, str]]:
    try:
        return [run_check(check) for _ in range(times)]
    finally:
        check.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_the_request_names_host_and_port_and_the_headers():
    req = request_bytes("::1", 8080, "/h", {"User-Agent": "nerve-py"}, tls=False)
    assert req == b"GET /h HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: nerve-py\r\n\r\n"
    assert b"Host: a\r\n" in request_bytes("a", 443, "/", {}, tls=True)
    assert b"host: x" in request_bytes("a", 80, "/", {"host": "x"}, tls=False)
    assert b"Host: a" not in request_bytes("a", 80, "/", {"host": "x"}, tls=False)


def test_content_length_bodies_keep_the_connection(scripted):
    server = scripted(OK, OK, OK)
    assert runs(check_of(server, expect="ok"), 3) == [(True, "ok")] * 3
    assert server.connections == 1


def test_chunked_bodies_are_read_to_their_end_and_keep_the_connection(scripted):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nfoo\r\n4\r\nbar!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    server = scripted(chunked, chunked)
    assert runs(check_of(server, expect="obar"), 2) == [(True, "ok")] * 2
    assert server.connections == 1


def test_interim_1xx_answers_are_skipped(scripted):
    server = scripted(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    assert runs(check_of(server), 1) == [(True, "ok")]


def test_a_body_up_to_the_close_is_read_and_the_next_check_reconnects(scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\n\r\nhealthy", close_after=True)
    assert runs(check_of(server, expect="healthy"), 2) == [(True, "ok")] * 2
    assert server.connections == 2


def test_http_1_0_closes_unless_keep_alive(scripted):
    server = scripted(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", close_after=True)
    assert runs(check_of(server), 2) == [(True, "ok")] * 2
    assert server.connections == 2


def test_no_content_answers_need_no_body(scripted):
    server = scripted(b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n")
    assert runs(check_of(server), 2) == [(True, "ok")] * 2
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer, reason",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection closed inside"),
    ],
)
def test_a_garbled_answer_fails_the_check_saying_why(scripted, answer, reason):
    server = scripted(answer, close_after=True)
    ok, why = runs(check_of(server, expect="never"), 1)[0]
    assert not ok
    assert why.startswith("bad HTTP response: ") and reason in why


def test_endless_headers_are_cut_off(scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n")
    ok, why = runs(check_of(server), 1)[0]
    assert not ok and "no end of the headers" in why


def test_a_server_closing_an_idle_connection_costs_one_reconnect(scripted):
    server = scripted(OK, close_after=True)  # every connection serves one request, then closes
    assert runs(check_of(server), 3) == [(True, "ok")] * 3
    assert server.connections == 3
