"""The stats views of a real HAProxy run by synapse-py: `show stat`, the stats page (CSV and
HTML), HAProxy's Prometheus exporter and `synapse-py status` all show each live backend."""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass

import pytest
from support.haproxy_stats import fetch, page_csv_servers, page_html_servers, socket_servers
from support.ports import free_port
from support.procs import wait_for
from support.rigs import SynapseRig, register

from synapse_py.backend import Backend
from synapse_py.generators.haproxy.servers import server_name

pytestmark = pytest.mark.integration

AUTH = "ops:pw"


@dataclass
class StatsFleet:
    synapse: SynapseRig
    url: str  # the stats page
    members: dict[str, Backend]  # live address -> the backend as synapse-py reads it
    nodes: dict[str, str]  # live address -> its znode

    def views(self) -> dict[str, dict[str, str]]:
        """Each view's servers of the web backend: name -> address."""
        return {
            "show stat": socket_servers(self.synapse.hx.socket).get("web", {}),
            "csv": page_csv_servers(self.url, AUTH).get("web", {}),
            "html": page_html_servers(self.url, AUTH).get("web", {}),
        }

    def nowhere(self, address: str) -> bool:
        return all(address not in servers.values() for servers in self.views().values())

    def status_names(self) -> dict[str, str]:
        """`synapse-py status`: address -> server name, for the web service."""
        out = self.synapse.cli("status")
        assert out.returncode == 0, out.stdout + out.stderr
        rows = [line.split() for line in out.stdout.splitlines()[1:]]
        return {row[2]: row[1] for row in rows if row[0] == "web"}


@pytest.fixture
def fleet(synapse, zk, http_backend) -> StatsFleet:
    return start_fleet(synapse, zk, http_backend, show_legends=True, prometheus=True)


def start_fleet(synapse, zk, http_backend, **stats) -> StatsFleet:
    """Three members of `web` live behind a stats page with `stats` keys and AUTH."""
    port = free_port()
    synapse.haproxy_extra["stats"] = {"enabled": True, "port": port, "auth": AUTH, **stats}
    synapse.add_service("web")
    backends = [http_backend() for _ in range(3)]
    nodes = {f"127.0.0.1:{b.port}": register(zk, synapse.path("web"), b) for b in backends}
    members = {f"127.0.0.1:{b.port}": Backend("127.0.0.1", b.port, b.name) for b in backends}
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == set(members), 10, message="all live")
    return StatsFleet(synapse, f"http://127.0.0.1:{port}/", members, nodes)


def by_address(servers: dict[str, str]) -> dict[str, str]:
    return {address: name for name, address in servers.items()}


def test_every_live_server_shows_its_address_in_show_stat_csv_and_html(fleet, zk):
    for view, servers in fleet.views().items():
        assert set(fleet.members) <= set(servers.values()), view
    gone = sorted(fleet.members)[0]
    zk.delete(fleet.nodes.pop(gone))
    del fleet.members[gone]
    # a leaving server may drain (maint) for a while before it is deleted: wait for all views
    wait_for(lambda: fleet.nowhere(gone), 10, message="the leaver is gone from every view")
    for view, servers in fleet.views().items():
        assert set(fleet.members) <= set(servers.values()), view


def test_without_legends_the_page_names_servers_but_hides_addresses(synapse, zk, http_backend):
    fleet = start_fleet(synapse, zk, http_backend)
    views = fleet.views()
    assert set(fleet.members) <= set(views.pop("show stat").values())  # the socket always does
    for view, servers in views.items():
        assert len(servers) >= len(fleet.members) and set(servers.values()) == {""}, view


def test_status_shows_the_haproxy_server_name_next_to_each_address(fleet):
    in_haproxy = by_address(socket_servers(fleet.synapse.hx.socket)["web"])
    shown = fleet.status_names()
    assert set(fleet.members) <= set(shown)
    assert {a: shown[a] for a in fleet.members} == {a: in_haproxy[a] for a in fleet.members}


def test_every_view_names_each_server_as_ruby_synapse_does(fleet):
    ruby = {address: server_name(b) for address, b in fleet.members.items()}
    for view, servers in fleet.views().items():
        named = by_address(servers)
        assert {a: named.get(a) for a in ruby} == ruby, view
    shown = fleet.status_names()
    assert {a: shown.get(a) for a in ruby} == ruby, "synapse-py status"


def test_prometheus_exporter_serves_each_server_behind_the_stats_auth(fleet):
    exporter = fleet.url + "metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        fetch(exporter)
    assert refused.value.code == 401
    metrics = fetch(exporter, AUTH)
    names = by_address(socket_servers(fleet.synapse.hx.socket)["web"])
    for address in fleet.members:
        label = f'proxy="web",server="{names[address]}"'
        series = [line for line in metrics.splitlines() if label in line]
        assert any(line.startswith("haproxy_server_status{") for line in series), address
        assert any(line.startswith("haproxy_server_weight{") for line in series), address
    assert "stats enable" not in metrics and "<html" not in fetch(exporter, AUTH)[:200].lower()
    assert "<html" in fetch(fleet.url, AUTH)[:500].lower()  # the page itself is still there
