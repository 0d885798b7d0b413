"""Each discovery method end to end: one synapse-py process with file_output, HAProxy and Envoy
(all real, on loopback), following a join and a leave found by real ZooKeeper (`zookeeper_poll`,
`multi` over two ZooKeeper watchers with `union` and with `sequential`) or set by a SIGHUP
(`base`: its default_servers are its membership)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest
from support.envoy import EnvoyProcess
from support.ports import free_port
from support.procs import wait_for
from support.rigs import SynapseRig, register

from synapse_py.backend import Backend

pytestmark = pytest.mark.integration

INTERVAL = 0.5  # polling_interval_sec: polls twice a second
WITHIN = 8.0  # seconds for a change to reach all three outputs (Envoy's first load included)
A, B, C = (Backend("127.0.0.1", port, f"i-{port}") for port in (18201, 18202, 18203))


def addr(backend: Backend) -> str:
    return f"{backend.host}:{backend.port}"


class Outputs:
    """The synapse rig with Envoy beside HAProxy and file_output, and the Envoy it feeds."""

    def __init__(self, rig: SynapseRig, binary, tmp_path):
        self.rig, self.binary, self.tmp = rig, binary, tmp_path
        self.admin_port = free_port()
        self.out = tmp_path / "envoy"
        rig.extra["envoy"] = {
            "output_directory": str(self.out),
            "admin_port": self.admin_port,
            "bind_address": "127.0.0.1",
            "binary_path": str(binary),
        }
        self.envoy: EnvoyProcess | None = None

    def service(self, name: str, discovery: dict, **more) -> None:
        self.rig.add_service(name)
        self.rig.services[name].update(discovery=discovery, envoy={"port": free_port()}, **more)

    def start(self):
        proc = self.rig.start()
        bootstrap = self.out / "bootstrap.yaml"
        wait_for(bootstrap.exists, 15, message="bootstrap.yaml written by synapse-py")
        self.envoy = EnvoyProcess(self.binary, bootstrap, self.admin_port, self.tmp / "envoy.log")
        self.envoy.start()
        return proc

    def seen(self, service: str) -> tuple[set[str], set[str], set[str]]:
        """The service's backends in file_output, HAProxy and Envoy."""
        path = self.rig.out_dir / f"{service}.json"
        files = {f"{e['host']}:{e['port']}" for e in json.loads(path.read_text())} if (
            path.exists()) else set()  # fmt: skip
        assert self.envoy is not None
        return files, self.rig.live_servers(service), set(self.envoy.endpoints(service))

    def become(self, service: str, *backends: Backend, message: str) -> None:
        want = {addr(b) for b in backends}
        wait_for(lambda: self.seen(service) == (want, want, want), WITHIN, message=message)

    def stop(self) -> None:
        if self.envoy:
            self.envoy.stop()


@pytest.fixture
def outputs(synapse, binary, tmp_path, request) -> Iterator[Outputs]:
    made = Outputs(synapse, binary, tmp_path)
    yield made
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    if failed and made.envoy:
        print(f"--- envoy log ---\n{made.envoy.output()[-4000:]}")
    made.stop()


def zookeeper(rig: SynapseRig, path: str, method: str = "zookeeper") -> dict:
    section = {"method": method, "hosts": rig.zk_hosts.split(","), "path": path}
    return section | ({"polling_interval_sec": INTERVAL} if method == "zookeeper_poll" else {})


def test_zookeeper_poll_follows_a_join_and_a_leave(outputs, zk):
    rig = outputs.rig
    outputs.service("web", zookeeper(rig, rig.path("web"), "zookeeper_poll"))
    node = register(zk, rig.path("web"), A)
    outputs.start()
    outputs.become("web", A, message="a")
    register(zk, rig.path("web"), B)
    outputs.become("web", A, B, message="join")
    zk.delete(node)
    outputs.become("web", B, message="leave")


def test_base_serves_its_default_servers_and_follows_a_sighup(outputs):
    def defaults(*backends: Backend) -> list[dict]:
        return [{"name": b.name, "host": b.host, "port": b.port} for b in backends]

    outputs.service("web", {"method": "base"}, default_servers=defaults(A))
    proc = outputs.start()
    outputs.become("web", A, message="a")
    for backends, what in (((A, B), "join"), ((B,), "leave")):
        outputs.rig.services["web"]["default_servers"] = defaults(*backends)
        outputs.rig.write()
        proc.signal(signal.SIGHUP)
        outputs.become("web", *backends, message=what)


def test_multi_union_merges_two_watchers_and_follows_each(outputs, zk):
    """A watched and a polled path: a join on one, a leave on the other."""
    rig = outputs.rig
    first, second = rig.path("first"), rig.path("second")
    polled = zookeeper(rig, second, "zookeeper_poll")
    watchers = {"watched": zookeeper(rig, first), "polled": polled}
    outputs.service("web", {"method": "multi", "resolver": {"method": "union"},
                            "watchers": watchers})  # fmt: skip
    node = register(zk, first, A)
    register(zk, second, B)
    outputs.start()
    outputs.become("web", A, B, message="both watchers")
    register(zk, second, C)
    outputs.become("web", A, B, C, message="join on the polled path")
    zk.delete(node)
    outputs.become("web", B, C, message="leave on the watched path")


def test_discovery_multi_sequential_falls_back_to_the_secondary_and_back(outputs, zk):
    """Ruby's spelling: the service's `discovery` is the watcher `primary`."""
    rig = outputs.rig
    primary, secondary = rig.path("primary"), rig.path("secondary")
    resolver = {"method": "sequential", "sequential_order": ["primary", "secondary"]}
    outputs.service("web", zookeeper(rig, primary), discovery_multi={
        "resolver": resolver, "watchers": {"secondary": zookeeper(rig, secondary)}})  # fmt: skip
    node = register(zk, primary, A)
    register(zk, secondary, C)
    outputs.start()
    outputs.become("web", A, message="the primary's")
    other = register(zk, primary, B)
    outputs.become("web", A, B, message="join on the primary")
    zk.delete(node)
    zk.delete(other)
    outputs.become("web", C, message="the primary empty: the secondary's")
    register(zk, primary, B)
    outputs.become("web", B, message="the primary's again")


def test_render_reads_a_multi_once(synapse, zk):
    """`synapse-py render`: each watcher's snapshot, resolved (no daemon, no HAProxy)."""
    primary, secondary = synapse.path("primary"), synapse.path("secondary")
    synapse.add_service("web")
    resolver = {"method": "sequential", "sequential_order": ["primary", "secondary"]}
    watchers = {"primary": zookeeper(synapse, primary), "secondary": zookeeper(synapse, secondary)}
    synapse.services["web"]["discovery"] = {
        "method": "multi",
        "resolver": resolver,
        "watchers": watchers,
    }
    zk.ensure_path(primary)
    register(zk, secondary, C)
    synapse.write()
    r = synapse.cli("render")
    assert r.returncode == 0, r.stderr
    assert addr(C) in r.stdout and "backend web" in r.stdout
    register(zk, primary, A)
    r = synapse.cli("render")
    assert addr(A) in r.stdout and addr(C) not in r.stdout


@pytest.mark.parametrize("resolver", ["union", "sequential"])
def test_multi_serves_the_watchers_that_answer_while_a_zookeeper_is_down(outputs, zk, resolver):
    """A watcher whose ensemble never answers is unhealthy: skipped, not waited for."""
    rig = outputs.rig
    down = {**zookeeper(rig, rig.path("down")), "hosts": [f"127.0.0.1:{free_port()}"]}
    order = {"sequential_order": ["down", "up"]} if resolver == "sequential" else {}
    watchers = {"down": down, "up": zookeeper(rig, rig.path("up"))}
    outputs.service("web", {"method": "multi", "resolver": {"method": resolver, **order},
                            "watchers": watchers})  # fmt: skip
    register(zk, rig.path("up"), A)
    outputs.start()
    outputs.become("web", A, message="the answering watcher's")
    register(zk, rig.path("up"), B)
    outputs.become("web", A, B, message="join")
