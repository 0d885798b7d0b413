"""A real RabbitMQ broker (Debian's rabbitmq-server) on free loopback ports, for the rabbitmq check.

Everything lives in one temp folder: node name, AMQP port, distribution port, its own epmd (run in
the foreground by us, on its own port), mnesia and logs, config and definitions (users, vhosts, a
durable queue). Stopped by the pids we started: the rabbitmq-server script (which stops the Erlang
VM on SIGTERM), the VM by its pid file if the script is gone, and epmd.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .ports import free_port, wait_port
from .procs import stop_process

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "/usr/bin/epmd"
START_TIMEOUT = 90  # seconds; about 6 s on an idle 2-core machine
#: (user, password, vhost) the definitions create
USERS = [("guest", "guest", "/"), ("nerve", "s3cret", "checks")]
DURABLE_QUEUE = "durable_q"


def installed() -> bool:
    return os.path.exists(SERVER) and os.path.exists(EPMD)


def _password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _definitions() -> dict:
    users = [
        {
            "name": name,
            "password_hash": _password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": [],
        }
        for name, password, _ in USERS
    ]
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    return {
        "users": users,
        "vhosts": [{"name": vhost} for _, _, vhost in USERS],
        "permissions": [{"user": u, "vhost": v, **everything} for u, _, v in USERS],
        "queues": [
            {"name": DURABLE_QUEUE, "vhost": "/", "durable": True, "auto_delete": False}
            | {"arguments": {}}
        ],
    }


class RabbitMqServer:
    """One broker; `port` is its AMQP port on 127.0.0.1."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.pid_file = folder / "rabbit.pid"
        self.log_path = folder / "rabbitmq.out"
        self._procs: list[subprocess.Popen] = []

    def _env(self) -> dict[str, str]:
        f = self.folder
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(f),  # the Erlang cookie goes here
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": f"nervetest{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(f / "mnesia"),
            "RABBITMQ_LOG_BASE": str(f / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(f / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(f / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(f / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }

    def _write_config(self) -> None:
        defs = self.folder / "definitions.json"
        defs.write_text(json.dumps(_definitions()))
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(
            f"load_definitions = {defs}\nlog.console = true\nlog.console.level = info\n"
        )

    def start(self) -> RabbitMqServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_config()
        log = self.log_path.open("ab")
        env = self._env()
        epmd = [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"]
        self._procs.append(subprocess.Popen(epmd, env=env, stdout=log, stderr=log))
        server = subprocess.Popen(
            [SERVER], env=env, cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        self._procs.append(server)
        self._wait_ready(server)
        return self

    def _wait_ready(self, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited {server.returncode}: {self.tail()}")
            ready = "Server startup complete" in self.tail(20000)
            if ready and wait_port("127.0.0.1", self.port, 5):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"rabbitmq-server not ready in {START_TIMEOUT}s: {self.tail()}")

    def vm_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def pause(self) -> None:
        """SIGSTOP the Erlang VM: it still accepts TCP connections (the kernel does) but answers
        nothing, a hung broker."""
        os.kill(self.vm_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.vm_pid(), signal.SIGCONT)

    def stop(self) -> None:
        vm = self.vm_pid()
        if vm is not None and _alive(vm):
            os.kill(vm, signal.SIGCONT)  # a paused VM cannot stop
        for proc in reversed(self._procs):  # the server script first, epmd last
            stop_process(proc)
        if vm is not None and _alive(vm):  # the script died before it could stop the VM
            os.kill(vm, signal.SIGKILL)
        self._procs.clear()

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
