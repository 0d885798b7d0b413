"""Rounds on the scheduler's event loop (scheduler.py, ServiceWatcher.start_fast, HttpCheck's
begin_fast/feed_fast) against scripted loopback servers: the same results and reasons as the
blocking check, a kept-alive connection reused, and every fallback to the blocking path."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from support.accepting import accept_until

from nerve_py.checks.http import HttpCheck
from nerve_py.config import CheckSpec, ServiceConfig
from nerve_py.scheduler import Scheduler
from nerve_py.service_watcher import ServiceWatcher
from nerve_py.state import StateDir

LOOPBACK = "127.0.0.1"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Answer:
    """What the server does with one request: send `parts` (sleeping `pause` between them),
    then close the connection when `close`; `hang` sends nothing and keeps it open."""

    parts: tuple[bytes, ...] = (OK,)
    pause: float = 0.0
    close: bool = False
    hang: bool = False


class Server:
    """Loopback server; `answer(n)` says what to do with the n-th request overall."""

    def __init__(self, answer: Callable[[int], Answer]):
        self.answer = answer
        self.requests = 0
        self.connections = 0
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        accept_until(self.sock, self._stop, self._start_serving)

    def _start_serving(self, conn: socket.socket) -> None:
        self.connections += 1
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            while not self._stop.is_set():
                if not self._read_request(conn):
                    return
                answer = self.answer(self.requests)
                self.requests += 1
                if answer.hang:
                    self._stop.wait(5)
                    return
                for i, part in enumerate(answer.parts):
                    if i:
                        time.sleep(answer.pause)
                    conn.sendall(part)
                if answer.close:
                    return

    @staticmethod
    def _read_request(conn: socket.socket) -> bool:
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                data = conn.recv(65536)
            except OSError:
                return False
            if not data:
                return False
            buf += data
        return True

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


class QuietReporter:
    """A reporter stand-in with `quiet`: after the first sync, rounds need no report."""

    class conn:
        connected = True

    def __init__(self):
        self.node: str | None = None
        self.failures = 0
        self.syncs = 0

    def sync(self, up: bool) -> None:
        self.syncs += 1
        self.node = "/web/i-1_0000000001" if up else None

    def quiet(self, up: bool) -> bool:
        return (self.node is not None) == up

    def deregister(self) -> None:
        self.node = None

    def recheck(self) -> None:
        pass


@pytest.fixture
def state(tmp_path) -> StateDir:
    state = StateDir(str(tmp_path / "state"))
    state.ensure()
    return state


@pytest.fixture
def scheduler() -> Scheduler:
    scheduler = Scheduler(core_workers=2)
    scheduler.start()
    return scheduler


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(answer: Callable[[int], Answer]) -> Server:
        started.append(Server(answer))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def watch(state, scheduler, port: int, **check) -> ServiceWatcher:
    conf = {"type": "http", "uri": "/health", "timeout": 0.3, **check}
    service = ServiceConfig(
        name=f"web{port}",
        instance_id="i-1",
        host=LOOPBACK,
        port=port,
        zk_hosts=("unused:2181",),
        zk_path="/web",
        checks=(CheckSpec("http", json.dumps(conf, sort_keys=True)),),
        check_interval=0.05,
    )
    watcher = ServiceWatcher(service, QuietReporter(), state, scheduler=scheduler)  # type: ignore[arg-type]
    watcher.start()
    return watcher


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def down(watcher: ServiceWatcher) -> bool:
    """Checked at least once, and down."""
    return bool(watcher.results) and not watcher.healthy


def reasons(watcher: ServiceWatcher) -> set[str]:
    return {r.reason for r in watcher.results}


def test_a_kept_alive_connection_is_reused_by_rounds_on_the_loop(state, scheduler, servers):
    server = servers(lambda n: Answer())
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: watcher.fast_rounds >= 5)
    watcher.stop()
    assert server.connections == 1
    assert watcher.healthy and reasons(watcher) == {"ok"}
    assert watcher.reporter.syncs == 1  # only the first round reported: nothing changed since


def test_a_server_that_closes_each_connection_is_checked_on_new_ones(state, scheduler, servers):
    server = servers(lambda n: Answer(close=True))  # no Connection: close, just the close
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: server.requests >= 6)
    watcher.stop()
    assert server.connections >= 5
    assert watcher.stats[0].failed == 0 and watcher.healthy


def test_connection_close_header_makes_every_round_a_blocking_one(state, scheduler, servers):
    close = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    server = servers(lambda n: Answer(parts=(close,), close=True))
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: server.requests >= 4)
    watcher.stop()
    assert watcher.fast_rounds == 0 and watcher.stats[0].failed == 0


def test_a_silent_server_times_out_with_the_blocking_reason(state, scheduler, servers):
    server = servers(lambda n: Answer(hang=n >= 2))
    watcher = watch(state, scheduler, server.port, fall=1)
    wait_until(lambda: down(watcher))
    watcher.stop()
    assert reasons(watcher) == {"timed out after 0.3s"}
    assert watcher.fast_rounds >= 1


def test_a_slow_answer_in_pieces_passes(state, scheduler, servers):
    head, body = OK.split(b"\r\n\r\n")
    split = (head[:10], head[10:] + b"\r\n\r\n", body)  # head in two reads, body later
    server = servers(lambda n: Answer(parts=split, pause=0.05))
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: watcher.fast_rounds >= 3)
    watcher.stop()
    assert watcher.stats[0].failed == 0 and reasons(watcher) == {"ok"}


def test_chunked_and_unhealthy_answers_keep_the_blocking_reasons(state, scheduler, servers):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    sick = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    server = servers(lambda n: Answer(parts=(chunked if n < 4 else sick,)))
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: down(watcher))
    watcher.stop()
    assert watcher.stats[0].passed >= 4 and reasons(watcher) == {"HTTP 503"}


def test_a_server_gone_is_connection_refused(state, scheduler, servers):
    server = servers(lambda n: Answer(close=n >= 2))
    watcher = watch(state, scheduler, server.port)
    wait_until(lambda: server.requests >= 2)
    server.stop()  # stops listening; the open connection is closed after its answer
    wait_until(lambda: down(watcher))
    watcher.stop()
    assert reasons(watcher) == {"connection refused"}


def test_a_check_that_raises_fails_its_service_only(state, scheduler, servers, monkeypatch):
    server = servers(lambda n: Answer())
    broken = watch(state, scheduler, server.port)
    wait_until(lambda: broken.fast_rounds >= 1)

    def boom(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(HttpCheck, "feed_fast", boom)
    wait_until(lambda: down(broken))
    assert reasons(broken) == {"RuntimeError: boom"}
    monkeypatch.undo()
    wait_until(lambda: broken.healthy)  # the loop went on: the next rounds pass again
    broken.stop()
