"""The whole SmartStack mesh on loopback, narrated: `make demo` (or `make demo KEEP=1`).

Starts a ZooKeeper, three sample web backends, nerve-py registering them from the JSON service
definitions in examples/nerve/, and synapse-py driving a master-worker HAProxy from
examples/synapse/synapse.json. Ports are swapped for free ones and paths for a temp folder, so the
demo never collides with anything already running. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # reuse the test suite's real-server helpers

from support.backends import HttpBackend  # noqa: E402
from support.envoy import EnvoyProcess, envoy_binary  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.zk import ZooKeeperEnsemble  # noqa: E402

EXAMPLE_DIR = "/tmp/smartstack-demo"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for {what}")


class Demo:
    def __init__(self, work: Path):
        self.work = work
        self.procs: dict[str, subprocess.Popen] = {}
        self.zk = ZooKeeperEnsemble(work / "zookeeper", size=1)
        self.backends = {f"web-{i}": HttpBackend(f"web-{i}") for i in (1, 2, 3)}
        self.port = free_port()
        self.stats_port = free_port()
        self.envoy_port = free_port()
        self.envoy_admin = free_port()
        self.envoy: EnvoyProcess | None = None

    # -- set-up -------------------------------------------------------------------------------

    def configs(self) -> tuple[Path, Path]:
        """Copy the examples into the work folder with this run's ports and paths."""
        zk = self.zk.hosts
        (self.work / "haproxy").mkdir()
        nerve_dir = self.work / "nerve"
        shutil.copytree(HERE / "nerve", nerve_dir)
        for name, backend in self.backends.items():
            path = nerve_dir / "services" / f"{name}.json"
            svc = json.loads(path.read_text())
            svc.update(port=backend.port, zk_hosts=[zk])
            path.write_text(json.dumps(svc, indent=2))
        nerve = self._rewrite(nerve_dir / "nerve.json")
        conf = json.loads(nerve.read_text())  # relative to the working directory, as in Ruby
        conf["service_conf_dir"] = str(nerve_dir / conf["service_conf_dir"])
        nerve.write_text(json.dumps(conf, indent=2))
        synapse = self._rewrite(HERE / "synapse" / "synapse.json", self.work / "synapse.json")
        conf = json.loads(synapse.read_text())
        conf["services"]["web"]["discovery"]["hosts"] = [zk]
        conf["services"]["web"]["haproxy"]["port"] = self.port
        conf["haproxy"]["stats"]["port"] = self.stats_port
        conf["services"]["web"]["envoy"]["port"] = self.envoy_port
        conf["envoy"]["admin_port"] = self.envoy_admin
        synapse.write_text(json.dumps(conf, indent=2))
        return nerve, synapse

    def _rewrite(self, src: Path, dst: Path | None = None) -> Path:
        dst = dst or src
        dst.write_text(src.read_text().replace(EXAMPLE_DIR, str(self.work)))
        return dst

    def start_daemon(self, name: str, module: str, config: Path) -> None:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"{module}.cli", "run", "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.work,
        )
        log.close()

    # -- observing ----------------------------------------------------------------------------

    def start_envoy(self) -> str:
        """Start Envoy on the bootstrap synapse-py wrote; a reason when it cannot run here."""
        binary = envoy_binary()
        if binary is None:
            return "Envoy is not installed (make envoy-venv)"
        bootstrap = self.work / "envoy" / "bootstrap.yaml"
        wait_for(bootstrap.exists, 20, "synapse-py to write Envoy's bootstrap.yaml")
        self.envoy = EnvoyProcess(
            binary, bootstrap, self.envoy_admin, self.work / "envoy.log"
        ).start()
        return ""

    def traffic(self, requests: int = 30, port: int | None = None) -> Counter:
        seen: Counter = Counter()
        for _ in range(requests):
            try:
                url = f"http://127.0.0.1:{port or self.port}/"
                with urllib.request.urlopen(url, timeout=2) as r:
                    seen[r.read().decode()] += 1
            except OSError:
                seen["(failed)"] += 1
        return seen

    def show_traffic(self) -> None:
        proxies = [("HAProxy", self.port)] + ([("Envoy", self.envoy_port)] if self.envoy else [])
        for proxy, port in proxies:
            seen = self.traffic(port=port)
            spread = ", ".join(f"{name}: {n}" for name, n in sorted(seen.items()))
            print(f"    30 requests through {proxy} on 127.0.0.1:{port} -> {spread}")

    def routed(self) -> set[str]:
        """Backends both proxies route to (the intersection: both must have converged)."""
        seen = {k for k in self.traffic(15) if k != "(failed)"}
        if self.envoy:
            seen &= {k for k in self.traffic(15, self.envoy_port) if k != "(failed)"}
        return seen

    def worker_pid(self) -> str | None:
        import socket

        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.work / "haproxy" / "admin.sock"))
                s.sendall(b"show info\n")
                data = s.recv(65536).decode()
        except OSError:
            return None
        return next(
            (ln.split(":", 1)[1].strip() for ln in data.splitlines() if ln.startswith("Pid:")), None
        )

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", *args], capture_output=True, text=True, timeout=60
        )
        return out.stdout + out.stderr

    # -- tear-down ----------------------------------------------------------------------------

    def stop(self) -> None:
        for name in ("synapse", "nerve"):
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.envoy:
            self.envoy.stop()
        self._stop_haproxy()
        for b in self.backends.values():
            b.stop()
        self.zk.stop()

    def _stop_haproxy(self) -> None:
        pidfile = self.work / "haproxy" / "haproxy.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        if b"haproxy" in cmdline and str(self.work).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            wait_for(
                lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 10, "HAProxy to stop"
            )


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


def run(demo: Demo, keep: bool) -> None:
    say("Starting a ZooKeeper server on loopback (Debian's zookeeper package)")
    demo.zk.start()
    print(f"    ZooKeeper is serving on {demo.zk.hosts}")

    say("Starting three sample web backends")
    for name, b in demo.backends.items():
        b.start()
        print(f"    {name} on 127.0.0.1:{b.port} (answers its name on /, health on /health)")

    nerve_cfg, synapse_cfg = demo.configs()
    say(
        f"Starting nerve-py with the service definitions in examples/nerve/ (copied to {demo.work})"
    )
    demo.start_daemon("nerve", "nerve_py", nerve_cfg)
    say("Starting synapse-py: it watches ZooKeeper, runs master-worker HAProxy, writes Envoy files")
    demo.start_daemon("synapse", "synapse_py", synapse_cfg)
    why_not = demo.start_envoy()
    print(
        f"    Envoy: {why_not}"
        if why_not
        else "    Envoy started on synapse-py's bootstrap.yaml (file-based xDS)"
    )
    wait_for(lambda: demo.routed() == set(demo.backends), 30, "all three backends to be routed")
    print("    All three backends passed their health checks, registered, and are routed:")
    demo.show_traffic()
    pid = demo.worker_pid()
    print(f"    HAProxy worker pid: {pid}")

    say("Failing web-2's health check (its /health now answers 503)")
    demo.backends["web-2"].healthy = False
    wait_for(lambda: "web-2" not in demo.routed(), 20, "web-2 to leave")
    print(
        "    nerve-py saw 2 failed checks (fall: 2), removed web-2's node; synapse-py took it out:"
    )
    demo.show_traffic()

    say("Putting web-3 in maintenance: nerve-py maint down web-3")
    print("    " + demo.cli("nerve_py.cli", "maint", "down", "web-3", "-c", str(nerve_cfg)).strip())
    wait_for(lambda: demo.routed() == {"web-1"}, 20, "web-3 to leave")
    print("    web-3 is still running, but no longer registered, so it gets no traffic:")
    demo.show_traffic()

    say("Bringing both back: web-2 healthy again, web-3 out of maintenance")
    demo.backends["web-2"].healthy = True
    print("    " + demo.cli("nerve_py.cli", "maint", "up", "web-3", "-c", str(nerve_cfg)).strip())
    wait_for(lambda: demo.routed() == set(demo.backends), 20, "all three to return")
    demo.show_traffic()
    same = demo.worker_pid() == pid
    print(
        f"    HAProxy worker pid: {demo.worker_pid()} ({'no reload' if same else 'reloaded'} "
        "for any of these changes: they went through HAProxy's runtime API)"
    )

    say("What synapse-py and nerve-py report")
    print(demo.cli("synapse_py.cli", "status", "-c", str(synapse_cfg)))
    print(demo.cli("nerve_py.cli", "status", "-c", str(nerve_cfg)))
    print(f"    HAProxy stats page: http://127.0.0.1:{demo.stats_port}/")
    if demo.envoy:
        epoch = demo.envoy.restart_epoch()
        print(f"    Envoy admin: http://127.0.0.1:{demo.envoy_admin}/ (restart epoch {epoch})")
    print(f"    Logs and configs: {demo.work}")

    if keep:
        say("KEEP=1: everything stays up until you press Ctrl-C")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep everything up until Ctrl-C")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartstack-demo-"))
    demo = Demo(work)
    try:
        run(demo, args.keep)
    finally:
        say("Stopping everything the demo started")
        demo.stop()
        print("    Done: nothing is left running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
