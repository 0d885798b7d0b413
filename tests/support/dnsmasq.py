"""A real DNS server (Debian's dnsmasq-base) on a free loopback port, for the dns methods.

It answers only from an `--addn-hosts` file in its temp folder (no upstream, no /etc/hosts); names
under `.test` it does not know get NXDOMAIN (`--local=/test/`). A test rewrites the records with
`set_hosts` (atomic rename, then SIGHUP: dnsmasq re-reads the file and clears its cache). Stopped by
the pid we started; `pause`/`resume` (SIGSTOP/SIGCONT) make a nameserver that answers nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from .ports import free_port
from .procs import stop_process

START_TIMEOUT = 10  # seconds; dnsmasq starts in milliseconds
START_ATTEMPTS = 3  # a port taken between our pick and dnsmasq's bind: a new port, a new start


def binary() -> str | None:
    return shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq",) if os.access(p, os.X_OK)), None
    )


class Dnsmasq:
    """One dnsmasq; `port` is its DNS port on 127.0.0.1, `nameserver` the `host:port` to use."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port(udp=True)  # dnsmasq binds both
        self.hosts_path = folder / "hosts"
        self.pid_file = folder / "dnsmasq.pid"
        self.log_path = folder / "dnsmasq.log"
        self.proc: subprocess.Popen | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        exe = binary()
        if exe is None:
            raise RuntimeError("dnsmasq is not installed (Debian package dnsmasq-base)")
        return [
            exe,
            "--keep-in-foreground",
            f"--port={self.port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            f"--addn-hosts={self.hosts_path}",
            f"--pid-file={self.pid_file}",
            f"--log-facility={self.log_path}",
            "--log-queries",
            "--cache-size=0",
            # as root dnsmasq would drop to `nobody`, who cannot read a test's temp folder
            *(["--user=root", "--group=root"] if os.getuid() == 0 else []),
        ]

    def start(self, records: Iterable[tuple[str, str]] = ()) -> Dnsmasq:
        """Start it; when its port was taken meanwhile ("Address already in use"), on a new one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_hosts(records)
        for attempt in range(START_ATTEMPTS):
            out = (self.folder / "dnsmasq.out").open("wb")  # this attempt's output only
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
            out.close()
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                if attempt + 1 == START_ATTEMPTS or "Address already in use" not in self.tail():
                    raise
                self.port = free_port(udp=True)
        raise AssertionError("unreachable")

    def set_hosts(self, records: Iterable[tuple[str, str]]) -> None:
        """Replace every record ((address, name) pairs) and make dnsmasq reload them."""
        assert self.proc is not None
        reads = self._reads()
        self._write_hosts(records)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT
        while self._reads() == reads:  # the log says when the file has been read again
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not reload {self.hosts_path}: {self.tail()}")
            time.sleep(0.02)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused dnsmasq cannot stop
        stop_process(proc, 10)

    def tail(self, size: int = 3000) -> str:
        text = ""
        for path in (self.folder / "dnsmasq.out", self.log_path):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-size:]
        return text

    def _reads(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(f"read {self.hosts_path} ")
        except OSError:
            return 0

    def _write_hosts(self, records: Iterable[tuple[str, str]]) -> None:
        tmp = self.hosts_path.with_suffix(".tmp")
        tmp.write_text("".join(f"{address} {name}\n" for address, name in records))
        os.replace(tmp, self.hosts_path)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited {self.proc.returncode}: {self.tail()}")
            if self.pid_file.exists() and _answers(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dnsmasq not ready in {START_TIMEOUT}s: {self.tail()}")


def _answers(port: int) -> bool:
    """True when a DNS query to 127.0.0.1:port gets any reply."""
    query = bytes.fromhex("abcd01000001000000000000") + b"\x05ready\x04test\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(query, ("127.0.0.1", port))
            return s.recv(512)[:2] == query[:2]
        except OSError:
            return False
