"""Health check plugins against real servers on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nerve_py.checks import (
    CHECKS,
    Check,
    CheckConfigError,
    build_check,
    build_checks,
    register,
    run_check,
)

LOOPBACK = "127.0.0.1"

# (code, headers, body) answered to a GET, given the request handler (for its path and headers)
Responder = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


def probe(conf: dict, port: int, host: str = LOOPBACK) -> tuple[bool, str]:
    """Build the check for host:port, run it once, close it."""
    check = build_check({"timeout": 2, **conf}, host, port)
    try:
        return run_check(check)
    finally:
        check.close()


class _Server:
    """Runs a socketserver in a thread; stopped by the fixture that made it."""

    def __init__(self, server: socketserver.BaseServer):
        self.server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[socketserver.BaseServer], _Server]]:
    started: list[_Server] = []

    def start(server: socketserver.BaseServer) -> _Server:
        started.append(_Server(server))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def http_server(respond: Responder, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    """An HTTP(S) server on a free loopback port answering every GET with `respond`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            code, headers, body = respond(self)
            self.send_response(code)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    return server


class _Silent(socketserver.BaseRequestHandler):
    """Accepts and never answers: a hung service."""

    def handle(self):
        self.server.release.wait(30)


def tcp_server(handler: type[socketserver.BaseRequestHandler], **attrs) -> socketserver.TCPServer:
    """A threading TCP server on a free loopback port; `attrs` are set on it for the handler."""
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    for name, value in attrs.items():
        setattr(server, name, value)
    return server


def hung_server() -> socketserver.TCPServer:
    return tcp_server(_Silent, release=threading.Event())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- registry and config


def test_registry_holds_every_type():
    assert {"http", "https", "tcp", "redis", "noop", "process"} <= set(CHECKS)


def test_common_keys_default_like_ruby_nerve():
    check = build_check({"type": "tcp"}, LOOPBACK, 8080)
    assert (check.host, check.port, check.timeout, check.rise, check.fall) == (
        LOOPBACK,
        8080,
        0.1,
        1,
        1,
    )


def test_common_keys_override_the_service():
    conf = {
        "type": "tcp",
        "name": "db",
        "host": "::1",
        "port": 5,
        "timeout": 2,
        "rise": 3,
        "fall": 4,
    }
    check = build_check(conf, LOOPBACK, 8080)
    assert (check.name, check.host, check.port, check.timeout, check.rise, check.fall) == (
        "db",
        "::1",
        5,
        2.0,
        3,
        4,
    )


def test_default_check_names_tell_checks_on_one_port_apart():
    # today: every http check on 8080 is http-127.0.0.1:8080, whatever its uri or http_port
    confs = [
        {"type": "http", "uri": "/health"},
        {"type": "https", "uri": "/ready", "http_port": 8443},
        {"type": "tcp"},
        {"type": "http", "uri": "/health", "expect": "ok"},  # the same name as the first
        {"type": "tcp", "name": "db"},
        {"type": "tcp", "name": "db"},
    ]
    names = [c.name for c in build_checks(confs, LOOPBACK, 8080)]
    assert names == [
        "http-127.0.0.1:8080/health",  # Ruby nerve's name for it
        "https-127.0.0.1:8443/ready",
        "tcp-127.0.0.1:8080",
        "http-127.0.0.1:8080/health#4",  # its position in the list
        "db",
        "db#6",
    ]


def test_http_timeouts_default_as_in_ruby_nerve():
    check = build_check({"type": "http", "uri": "/", "timeout": 0.7}, LOOPBACK, 1)
    assert (check.open_timeout, check.read_timeout, check.ssl_timeout) == (0.2, 0.7, 0.2)
    assert check.scheme == "http"


def test_https_open_timeout_defaults_to_timeout():
    check = build_check({"type": "https", "uri": "/", "timeout": 0.7}, LOOPBACK, 1)
    assert (check.open_timeout, check.read_timeout) == (0.7, 0.7)


def test_http_port_is_checked_instead_of_the_service_port(http_backend):
    backend = http_backend()
    conf = {"type": "http", "uri": "/health", "http_port": backend.port}
    assert probe(conf, closed_port()) == (True, "ok")


@pytest.mark.parametrize(
    ("conf", "key"),
    [
        ({"type": "smoke-signal"}, "type"),
        ({}, "type"),
        ({"type": "tcp", "uri": "/"}, "uri"),
        ({"type": "noop", "bogus": 1}, "bogus"),
        ({"type": "http", "uri": "/", "ca_file": "/x"}, "ca_file"),
        ({"type": "http", "uri": "/", "pid_file": "/x"}, "pid_file"),
        ({"type": "redis", "expect": "PONG"}, "expect"),
        ({"type": "process", "pid_file": "/p", "uri": "/"}, "uri"),
        ({"type": "http"}, "uri"),
        ({"type": "http", "uri": None}, "uri"),
        ({"type": ["http"]}, "type"),
        ({"type": "http", "uri": "health"}, "uri"),
        ({"type": "http", "uri": "/", "headers": ["X: y"]}, "headers"),
        ({"type": "http", "uri": "/", "read_timeout": 0}, "read_timeout"),
        ({"type": "https", "uri": "/", "ssl_verify": "no"}, "ssl_verify"),
        ({"type": "https", "uri": "/", "ca_file": "/no/such/ca.pem"}, "ca_file"),
        ({"type": "http", "uri": "/", "ssl": "true"}, "ssl"),
        ({"type": "http", "uri": "/", "ssl_timeout": 0}, "ssl_timeout"),
        ({"type": "http", "uri": "/", "http_port": 0}, "http_port"),
        ({"type": "https", "uri": "/", "ssl": True}, "ssl"),
        ({"type": "tcp", "timeout": "1"}, "timeout"),
        ({"type": "tcp", "timeout": -1}, "timeout"),
        ({"type": "tcp", "rise": 0}, "rise"),
        ({"type": "tcp", "fall": True}, "fall"),
        ({"type": "tcp", "port": 70000}, "port"),
        ({"type": "redis", "db": -1}, "db"),
        ({"type": "process"}, "pid_file"),
        ({"type": "process", "pid_file": "/p", "process_name": "x"}, "process_name"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(conf, key):
    with pytest.raises(CheckConfigError, match=repr(key)):
        build_check(conf, LOOPBACK, 8080)


def test_ruby_redis_db_key_is_accepted():
    assert build_check({"type": "redis", "db": 2}, LOOPBACK, 6379).db == 2


# ---------------------------------------------------------------- run_check never raises


def test_an_exception_inside_a_check_is_a_failure():
    registry = {}

    @register("broken")
    class Broken(Check):
        def check(self) -> bool:
            raise RuntimeError("boom")

    registry["broken"] = CHECKS.pop("broken")
    ok, reason = run_check(build_check({"type": "broken"}, LOOPBACK, 1, registry=registry))
    assert not ok
    assert "boom" in reason


def test_a_check_returning_false_is_a_failure():
    class Sulky(Check):
        def check(self) -> bool:
            return False

    assert run_check(Sulky({"type": "sulky"}, LOOPBACK, 1)) == (False, "check failed")


def test_noop_always_passes():
    assert probe({"type": "noop"}, closed_port()) == (True, "ok")


# ---------------------------------------------------------------- tcp


def test_tcp_passes_while_the_port_accepts_and_fails_once_closed(tcp_backend):
    backend = tcp_backend()
    assert probe({"type": "tcp"}, backend.port) == (True, "ok")
    backend.stop()
    assert probe({"type": "tcp"}, backend.port) == (False, "connection refused")


# ---------------------------------------------------------------- http


def test_http_follows_the_backend_health(http_backend):
    backend = http_backend()
    conf = {"type": "http", "uri": "/health"}
    assert probe(conf, backend.port) == (True, "ok")
    backend.healthy = False
    assert probe(conf, backend.port) == (False, "HTTP 503")


def test_http_refused_when_nothing_listens():
    assert probe({"type": "http", "uri": "/health"}, closed_port()) == (False, "connection refused")


def test_http_expect_must_appear_in_the_body(http_backend):
    backend = http_backend("shop-frontend")
    assert probe({"type": "http", "uri": "/", "expect": "frontend"}, backend.port) == (True, "ok")
    ok, reason = probe({"type": "http", "uri": "/", "expect": "checkout"}, backend.port)
    assert not ok
    assert "checkout" in reason


def test_http_wildcard_service_host_is_checked_on_loopback(http_backend):
    backend = http_backend()
    assert probe({"type": "http", "uri": "/health"}, backend.port, host="0.0.0.0") == (True, "ok")


def test_http_passes_a_redirect_without_following_it(serve):
    dead = f"http://{LOOPBACK}:{closed_port()}/"
    server = serve(http_server(lambda req: (302, {"Location": dead}, b"")))
    assert probe({"type": "http", "uri": "/health"}, server.port) == (True, "ok")


@pytest.mark.parametrize("code", [200, 204, 299, 301, 304, 307, 399, 400, 404, 500, 503])
def test_http_passes_2xx_and_3xx_as_ruby_nerve(serve, code):
    server = serve(http_server(lambda req: (code, {}, b"")))
    expected = (True, "ok") if code < 400 else (False, f"HTTP {code}")
    assert probe({"type": "http", "uri": "/health"}, server.port) == expected


def test_http_sends_the_configured_headers(serve):
    def respond(req):
        return (200, {}, b"") if req.headers.get("Host") == "shop.internal" else (400, {}, b"")

    server = serve(http_server(respond))
    conf = {"type": "http", "uri": "/", "headers": {"Host": "shop.internal"}}
    assert probe(conf, server.port) == (True, "ok")
    assert probe({"type": "http", "uri": "/"}, server.port) == (False, "HTTP 400")


def test_http_reuses_its_connection_between_runs(serve):
    peers = []

    def respond(req):
        peers.append(req.client_address)
        return 200, {}, b"ok"

    server = http_server(respond)
    server.RequestHandlerClass.protocol_version = "HTTP/1.1"  # keep-alive
    check = build_check(
        {"type": "http", "uri": "/health", "timeout": 2}, LOOPBACK, serve(server).port
    )
    try:
        assert [run_check(check) for _ in range(3)] == [(True, "ok")] * 3
    finally:
        check.close()
    assert len(set(peers)) == 1


def test_http_ignores_proxies_from_the_environment(http_backend, monkeypatch):
    backend = http_backend()
    monkeypatch.setenv("HTTP_PROXY", f"http://{LOOPBACK}:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    assert probe({"type": "http", "uri": "/health"}, backend.port) == (True, "ok")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("conf", [{"type": "http", "uri": "/health"}, {"type": "redis"}])
def test_a_hung_service_fails_within_its_timeout(serve, conf):
    server = serve(hung_server())
    ok, reason = probe({**conf, "timeout": 0.3}, server.port)
    server.server.release.set()
    assert (ok, reason) == (False, "timed out after 0.3s")


# ---------------------------------------------------------------- https


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl, as on any Debian machine)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is not installed", pytrace=False)
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(serve, tls_pair) -> _Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_pair)
    return serve(http_server(lambda req: (200, {}, b"tls ok"), tls=context))


def test_https_passes_when_the_ca_file_trusts_the_server(tls_server, tls_pair):
    conf = {"type": "https", "uri": "/health", "ca_file": tls_pair[0], "expect": "tls ok"}
    assert probe(conf, tls_server.port) == (True, "ok")


def test_https_verifies_the_certificate_by_default(tls_server):
    ok, reason = probe({"type": "https", "uri": "/health"}, tls_server.port)
    assert not ok
    assert reason.startswith("TLS certificate not trusted")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_passes_unverified_with_the_explicit_opt_out(tls_server):
    conf = {"type": "https", "uri": "/health", "ssl_verify": False}
    assert probe(conf, tls_server.port) == (True, "ok")


def test_plain_http_to_a_tls_port_fails(tls_server):
    assert not probe({"type": "http", "uri": "/health"}, tls_server.port)[0]


def test_http_ssl_speaks_tls_without_verifying_as_ruby_nerve(tls_server):
    conf = {"type": "http", "uri": "/health", "ssl": True, "ssl_timeout": 5, "expect": "tls ok"}
    assert probe(conf, tls_server.port) == (True, "ok")


def test_http_ssl_to_a_plain_port_fails(http_backend):
    ok, reason = probe({"type": "http", "uri": "/health", "ssl": True}, http_backend().port)
    assert not ok
    assert "SSL" in reason


@pytest.mark.timeout(20)
def test_http_ssl_handshake_is_bounded_by_open_timeout(serve):
    server = serve(hung_server())  # accepts the connection, never answers the TLS hello
    conf = {"type": "http", "uri": "/", "ssl": True, "open_timeout": 0.3, "timeout": 5}
    started = time.monotonic()
    ok, reason = probe(conf, server.port)
    server.server.release.set()
    assert (ok, reason) == (False, "timed out after 0.3s connecting")
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------- redis


class _FakeRedis(socketserver.StreamRequestHandler):
    """Answers each inline command line with the server's `answer`; hangs up when that is empty."""

    def handle(self):
        while self.server.answer and self.rfile.readline().strip():
            self.wfile.write(self.server.answer)


def fake_redis(answer: bytes) -> socketserver.TCPServer:
    return tcp_server(_FakeRedis, answer=answer)


def test_redis_passes_on_pong(serve):
    server = serve(fake_redis(b"+PONG\r\n"))
    assert probe({"type": "redis"}, server.port) == (True, "ok")


def test_redis_fails_on_an_error_answer(serve):
    server = serve(fake_redis(b"-LOADING Redis is loading the dataset in memory\r\n"))
    ok, reason = probe({"type": "redis"}, server.port)
    assert not ok
    assert "LOADING" in reason


def test_redis_fails_when_the_connection_closes_unanswered(serve):
    server = serve(fake_redis(b""))
    assert probe({"type": "redis"}, server.port) == (
        False,
        "redis closed the connection without answering",
    )


def test_redis_refused_when_nothing_listens():
    assert probe({"type": "redis"}, closed_port()) == (False, "connection refused")


# ---------------------------------------------------------------- process


def test_process_passes_for_a_live_pid_file(tmp_path):
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert probe({"type": "process", "pid_file": str(pid_file)}, 1) == (True, "ok")


@pytest.mark.parametrize("content", ["", "not a pid", "12abc", "-5"])
def test_process_fails_for_a_pid_file_with_garbage(tmp_path, content):
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(content)
    ok, reason = probe({"type": "process", "pid_file": str(pid_file)}, 1)
    assert not ok
    assert "holds no pid" in reason


def test_process_fails_for_a_dead_pid(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(str(child.pid))
    assert probe({"type": "process", "pid_file": str(pid_file)}, 1) == (
        False,
        f"pid {child.pid} is not running",
    )


def test_process_fails_for_a_missing_pid_file(tmp_path):
    ok, reason = probe({"type": "process", "pid_file": str(tmp_path / "none.pid")}, 1)
    assert not ok
    assert "unreadable" in reason


def test_process_by_name_follows_the_process(tmp_path):
    name = f"nrv{uuid.uuid4().hex[:8]}"
    binary = tmp_path / name
    shutil.copy("/bin/sleep", binary)
    conf = {"type": "process", "process_name": name}
    child = subprocess.Popen([str(binary), "60"])
    try:
        assert probe(conf, 1) == (True, "ok")
    finally:
        child.kill()
        child.wait()
    assert probe(conf, 1) == (False, f"no running process named {name!r}")
