"""Real ZooKeeper servers (Debian's jar) on free loopback ports, data in temp folders."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kazoo.client import KazooClient

from .ports import free_port, free_ports, wait_port

ZK_JARS = [
    "/etc/zookeeper/conf",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
]
# zookeeper.jar's manifest names only part of Netty; secureClientPort (Netty, TLS) needs these too
NETTY_JARS = [
    f"/usr/share/java/netty-{name}.jar"
    for name in ("codec", "resolver", "transport-native-unix-common")
]
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
START_ATTEMPTS = 3  # a port taken between our pick and the server's bind: new ports, a new start


@dataclass
class ZooKeeperNode:
    """One ZooKeeper server process of a (possibly single-node) ensemble."""

    myid: int
    workdir: Path
    client_port: int
    peer_port: int
    election_port: int
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"  # where clients connect (peers always talk over loopback)
    extra_config: list[str] = field(default_factory=list)  # more zoo.cfg lines (TLS, say)
    log_path: Path = field(init=False)
    _log_start: int = 0  # where the log of the latest start begins

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "server.log"

    def new_ports(self) -> None:
        self.client_port, self.peer_port, self.election_port = free_port(), free_port(), free_port()

    def bind_failed(self) -> bool:
        """The latest start could not bind one of its ports (taken since they were picked)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                text = f.read().decode(errors="replace")
        except OSError:
            return False
        return "Address already in use" in text or "BindException" in text

    def write_config(self, peers: list[ZooKeeperNode]) -> Path:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{self.myid}\n")
        lines = [
            "tickTime=500",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={data}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={self.host}",
            "minSessionTimeout=1000",
            "maxSessionTimeout=60000",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "maxClientCnxns=0",
        ]
        if len(peers) > 1:
            lines += [f"server.{p.myid}=127.0.0.1:{p.peer_port}:{p.election_port}" for p in peers]
        lines += self.extra_config
        cfg = self.workdir / "zoo.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cfg = self.workdir / "zoo.cfg"
        cmd = [
            "java",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            ":".join(ZK_JARS + [j for j in NETTY_JARS if os.path.exists(j)]),
            MAIN,
            str(cfg),
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self._log_start = log.tell()
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        if self.proc:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc:
            os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.client_port}"

    def is_serving(self) -> bool:
        return four_letter(self.client_port, "ruok", self.host) == "imok" and "Mode:" in (
            four_letter(self.client_port, "srvr", self.host)
        )

    def mode(self) -> str:
        for line in four_letter(self.client_port, "srvr", self.host).splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return ""

    def tail_log(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def four_letter(port: int, word: str, host: str = "127.0.0.1") -> str:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class ZooKeeperEnsemble:
    """A 1- or 3-node ZooKeeper ensemble under `workdir`."""

    def __init__(
        self,
        workdir: Path,
        size: int = 1,
        host: str = "127.0.0.1",
        extra_config: tuple[str, ...] = (),
    ):
        """`host`: the address clients connect to (a test's own veth address, say).

        `extra_config`: more zoo.cfg lines for every node (a secureClientPort, say).
        """
        self.nodes = [
            ZooKeeperNode(
                i + 1,
                workdir / f"zk{i + 1}",
                *free_ports(3),
                host=host,
                extra_config=list(extra_config),
            )
            for i in range(size)
        ]
        for n in self.nodes:
            n.write_config(self.nodes)

    @property
    def hosts(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def start(self, timeout: float = 60) -> None:
        """Start every node and wait until the ensemble serves; when a node could not bind a port
        (taken since it was picked), stop them all and start again on new ports."""
        for attempt in range(1, START_ATTEMPTS + 1):
            for n in self.nodes:
                n.start()
            try:
                self._wait_started(timeout)
                return
            except RuntimeError:
                if attempt == START_ATTEMPTS or not any(n.bind_failed() for n in self.nodes):
                    raise
            self.stop()
            for n in self.nodes:
                n.new_ports()
            for n in self.nodes:
                n.write_config(self.nodes)

    def _wait_started(self, timeout: float) -> None:
        """As wait_serving, but a node that exits or cannot bind fails it at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            broken = [n for n in self.nodes if not n.running() or n.bind_failed()]
            if broken:
                raise RuntimeError(f"ZooKeeper {broken[0].myid} failed:\n{broken[0].tail_log()}")
            if all(n.is_serving() for n in self.nodes):
                return
            time.sleep(0.1)
        raise RuntimeError("ZooKeeper ensemble not serving:\n" + self.logs())

    def wait_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for n in self.nodes:
            if not wait_port(n.host, n.client_port, max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"ZooKeeper {n.myid} did not listen:\n{n.tail_log()}")
        while time.monotonic() < deadline:
            if all(n.is_serving() for n in self.nodes if n.proc and n.proc.poll() is None):
                return
            time.sleep(0.1)
        raise RuntimeError("ZooKeeper ensemble not serving:\n" + self.logs())

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def leader(self) -> ZooKeeperNode | None:
        return next((n for n in self.nodes if n.mode() == "leader"), None)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- zk{n.myid} ({n.log_path}) ---\n{n.tail_log(lines)}" for n in self.nodes
        )

    def client(self, timeout: float = 4.0, **kw) -> KazooClient:
        c = KazooClient(hosts=self.hosts, timeout=timeout, **kw)
        c.start(timeout=15)
        return c
