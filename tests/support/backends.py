"""Small real backend services on loopback whose health can be flipped by the test."""

from __future__ import annotations

import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .ports import free_port


class HttpBackend:
    """An HTTP service: `/health` answers 200 while `healthy`, 503 otherwise; `/` names it
    (`/slow/<seconds>` too, after that long)."""

    def __init__(self, name: str = "backend", host: str = "127.0.0.1", port: int | None = None):
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self.healthy = True
        self.flapping = False  # each /health answer flips `healthy` first: a check that flaps
        self.hits = 0
        self._server = ThreadingHTTPServer((host, self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self):
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                if self.path.startswith("/health"):
                    backend.healthy ^= backend.flapping
                    code = 200 if backend.healthy else 503
                    body = b"ok" if backend.healthy else b"sick"
                else:
                    backend.hits += 1
                    code, body = 200, backend.name.encode()
                    if self.path.startswith("/slow/"):  # /slow/<seconds>: a long request
                        time.sleep(float(self.path.split("/")[2]))
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> HttpBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TcpBackend:
    """A TCP service that accepts connections and writes its name; `stop()` closes the port."""

    def __init__(self, name: str = "tcp", host: str = "127.0.0.1"):
        self.name = name
        self.host = host
        self.port = free_port(host)
        payload = name.encode()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(payload)

        self._server = socketserver.ThreadingTCPServer((host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> TcpBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
