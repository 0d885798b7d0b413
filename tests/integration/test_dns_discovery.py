"""The dns, zookeeper_dns and zookeeper_dns_poll methods end to end: a real synapse-py process,
a real dnsmasq (records rewritten + SIGHUP by the test), real ZooKeeper, and what file_output,
HAProxy and Envoy end up serving when a DNS record or a ZooKeeper node changes."""

from __future__ import annotations

import json

import pytest
from support.metrics import ANY_PORT, Scraper, metrics_port
from support.procs import wait_for
from support.rigs import register

from synapse_py.backend import Backend

pytestmark = pytest.mark.integration

CHECK = 0.5  # check_interval: seconds between lookups
WITHIN = 10  # seconds for a change to show (one check_interval, a reload, slack)
PORT = 18301  # the port the dns entry / the nodes give; nothing needs to listen on it


def discovery(method: str, nameserver: str, rig) -> dict:
    """The service's discovery section: `web.test` for dns, the rig's path for the others."""
    resolving = {"nameserver": nameserver, "check_interval": CHECK}
    if method == "dns":
        servers = [{"name": "web", "host": "web.test", "port": PORT, "labels": {"az": "a"}}]
        return {"method": "dns", "servers": servers, **resolving}
    section = {"method": method, "hosts": rig.zk_hosts.split(","), "path": rig.path("web")}
    if method == "zookeeper_dns_poll":
        section["polling_interval_sec"] = CHECK
    return {**section, **resolving}


def file_output(synapse, name: str = "web") -> set[tuple[str, int, str]] | None:
    try:
        records = json.loads((synapse.out_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return {(r["host"], r["port"], r["name"]) for r in records}


def served(synapse) -> tuple[set[str], set[tuple[str, int, str]] | None]:
    return synapse.live_servers("web"), file_output(synapse)


def at(*addresses: str, name: str = "web") -> tuple[set[str], set[tuple[str, int, str]]]:
    return {f"{a}:{PORT}" for a in addresses}, {(a, PORT, name) for a in addresses}


def test_dns_follows_its_records_in_haproxy_and_file_output(synapse, dns_server):
    dns_server.set_hosts([("127.0.0.2", "web.test"), ("127.0.0.3", "web.test")])
    synapse.add_service("web")
    synapse.services["web"]["discovery"] = discovery("dns", dns_server.nameserver, synapse)
    synapse.extra["metrics"] = ANY_PORT
    metrics = Scraper(metrics_port(synapse.start()))
    # one backend per A record, each named by the entry (Ruby's DnsWatcher)
    wait_for(lambda: served(synapse) == at("127.0.0.2", "127.0.0.3"), WITHIN, message="two")
    record = json.loads((synapse.out_dir / "web.json").read_text())[0]
    assert record == {"host": "127.0.0.2", "port": PORT, "name": "web", "labels": {"az": "a"}}

    dns_server.set_hosts([("127.0.0.4", "web.test")])  # a DNS change, seen at the next check
    wait_for(lambda: served(synapse) == at("127.0.0.4"), WITHIN, message="changed record")

    dns_server.set_hosts([])  # NXDOMAIN: no backend; use_previous_backends keeps 127.0.0.4
    wait_for(lambda: "keeping the previous 1 (use_previous_backends)" in synapse.proc.output(),
             WITHIN, message="an empty answer")  # fmt: skip
    assert served(synapse) == at("127.0.0.4")
    dns_server.set_hosts([("127.0.0.5", "web.test")])
    wait_for(lambda: served(synapse) == at("127.0.0.5"), WITHIN, message="back")
    dns_server.pause()  # a silent nameserver: the name's last answer is kept (not Ruby's empty)
    try:
        wait_for(lambda: "'web.test' no longer resolves" in synapse.proc.output(), WITHIN,
                 message="outage logged")  # fmt: skip
        assert served(synapse) == at("127.0.0.5")
        metrics.wait("synapse_discovery_healthy", lambda v: v == 0, WITHIN, service="web")
    finally:
        dns_server.resume()
    metrics.wait("synapse_discovery_healthy", lambda v: v == 1, WITHIN, service="web")


@pytest.mark.parametrize("method", ["zookeeper_dns", "zookeeper_dns_poll"])
def test_zookeeper_dns_resolves_node_hosts_in_haproxy_and_file_output(
    synapse, zk, dns_server, method
):
    dns_server.set_hosts([("127.0.0.2", "a.test"), ("127.0.0.3", "a.test")])
    synapse.add_service("web")
    synapse.services["web"]["discovery"] = discovery(method, dns_server.nameserver, synapse)
    register(zk, synapse.path("web"), Backend("a.test", PORT, "i-a"), weight=7)
    register(zk, synapse.path("web"), Backend("gone.test", PORT, "i-gone"))  # NXDOMAIN
    synapse.start()
    # every A record of the node's host is a backend with the node's port and name; a name that
    # does not resolve gives none
    wait_for(lambda: served(synapse) == at("127.0.0.2", "127.0.0.3", name="i-a"), WITHIN,
             message="a.test's two addresses")  # fmt: skip
    record = json.loads((synapse.out_dir / "web.json").read_text())[0]
    assert record == {"host": "127.0.0.2", "port": PORT, "name": "i-a", "labels": None}  # no weight

    dns_server.set_hosts([("127.0.0.4", "a.test")])  # a DNS change
    wait_for(lambda: served(synapse) == at("127.0.0.4", name="i-a"), WITHIN, message="record")

    node = register(zk, synapse.path("web"), Backend("127.0.0.5", PORT, "i-ip"))  # a ZK join
    want = ({f"127.0.0.4:{PORT}", f"127.0.0.5:{PORT}"},
            {("127.0.0.4", PORT, "i-a"), ("127.0.0.5", PORT, "i-ip")})  # fmt: skip
    wait_for(lambda: served(synapse) == want, WITHIN, message="join")
    zk.delete(node)  # a ZK leave
    wait_for(lambda: served(synapse) == at("127.0.0.4", name="i-a"), WITHIN, message="leave")


def web_at_two_addresses(rig, zk, dns_server, method: str) -> None:
    """Service `web` by `method`: web.test (the dns entry, or the one node's host) -> .2, .3."""
    dns_server.set_hosts([("127.0.0.2", "web.test"), ("127.0.0.3", "web.test")])
    rig.add_service("web")
    rig.services["web"]["discovery"] = discovery(method, dns_server.nameserver, rig)
    if method != "dns":
        register(zk, rig.path("web"), Backend("web.test", PORT, "i-web"))


@pytest.mark.parametrize("method", ["dns", "zookeeper_dns", "zookeeper_dns_poll"])
def test_envoy_endpoints_follow_dns(envoy_rig, zk, dns_server, method):
    web_at_two_addresses(envoy_rig, zk, dns_server, method)
    envoy_rig.start()

    def endpoints(*addresses: str) -> None:
        want = {f"{a}:{PORT}": 1 for a in addresses}
        wait_for(lambda: envoy_rig.envoy.endpoints("web") == want, WITHIN, message=str(want))

    endpoints("127.0.0.2", "127.0.0.3")
    dns_server.set_hosts([("127.0.0.3", "web.test"), ("127.0.0.6", "web.test")])
    endpoints("127.0.0.3", "127.0.0.6")


@pytest.mark.parametrize("method", ["dns", "zookeeper_dns", "zookeeper_dns_poll"])
def test_render_reads_and_resolves_once(synapse, zk, dns_server, method):
    """`synapse-py render` (each method's `snapshot`): the haproxy.cfg of what resolves now."""
    web_at_two_addresses(synapse, zk, dns_server, method)
    synapse.write()
    out = synapse.cli("render")
    assert out.returncode == 0, out.stderr
    servers = [
        line.split()[2] for line in out.stdout.splitlines() if line.strip().startswith("server ")
    ]
    assert sorted(servers) == [f"127.0.0.2:{PORT}", f"127.0.0.3:{PORT}"]
