"""Free loopback ports for the children the tests and benchmarks start.

A port-0 bind returns a port in the kernel's ephemeral range (ip_local_port_range), where the
kernel also picks the local port of every outgoing connection: between our pick and the child's
bind, any client on the machine could take it (a `make bench-quick` died on "metrics: cannot
listen on 127.0.0.1:38775: Address already in use"). Below that range only an explicit bind takes
a port, so we pick there: from a random point (other runs on the machine pick there too), never
the same port twice in one process. Children that accept port 0 (our metrics endpoint) get 0 and
report their port; ZooKeeper and dnsmasq starts retry with new ports when a bind still fails.
"""

from __future__ import annotations

import random
import socket
import threading
import time

FIRST = 15000  # below: the well-known and registered ports other software listens on
MIN_SPAN = 1000  # a range narrower than this is not worth scanning
_lock = threading.Lock()
_handed: set[int] = set()
_next: list[int] = []  # where this process goes on scanning


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    try:
        with open(path) as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def _candidates() -> range:
    """Ports no port-0 bind or outgoing connection takes: below the ephemeral range, else above."""
    low, high = ephemeral_range()
    if low - FIRST >= MIN_SPAN:
        return range(FIRST, low)
    if 65535 - high >= MIN_SPAN:
        return range(high + 1, 65536)
    return range(0)


def bindable(port: int, host: str = "127.0.0.1", udp: bool = False) -> bool:
    """Nothing listens on host:port now (TCP, and UDP too when `udp`)."""
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1", udp: bool = False) -> int:
    """A TCP (and with `udp`, UDP) port free on `host` now, outside the ephemeral range, that this
    process has not handed out before."""
    span = _candidates()
    if not span:
        return _kernel_pick(host)
    with _lock:
        if not _next:
            _next.append(random.Random(time.time_ns()).randrange(len(span)))
        for _ in range(len(span)):
            port = span[_next[0] % len(span)]
            _next[0] += 1
            if port not in _handed and bindable(port, host, udp):
                _handed.add(port)
                return port
    raise RuntimeError(f"no free port on {host} in {span.start}..{span.stop - 1}")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    return [free_port(host) for _ in range(count)]


def _kernel_pick(host: str) -> int:
    """No range is safe from the kernel's picks: a port-0 bind's port, as a last resort."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float) -> bool:
    """Wait until something accepts connections on host:port; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
