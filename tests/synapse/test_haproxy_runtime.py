"""Server ids, the backends that take runtime adds, and the runtime API commands (no HAProxy)."""

from __future__ import annotations

from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, HaproxyConfig, ServiceConfig, ServiceHaproxyConfig
from synapse_py.generators.haproxy.config import runtime_refusal
from synapse_py.generators.haproxy.members import IdTable, Server, pinned_id
from synapse_py.generators.haproxy.readback import installed_servers
from synapse_py.generators.haproxy.runtime import add, converge, set_commands
from synapse_py.proxy.haproxy_socket import ServerStateRow

NODE = Backend("10.0.0.1", 8080, "i-a")


def test_new_servers_take_the_lowest_free_ids_and_keep_them():
    table = IdTable({"b": 2})
    assert table.assign(["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}
    assert table.assign(["c", "d"]) == {"c": 3, "d": 1}  # a and b left: 1 and 2 are free
    assert table.assign(["c", "e"], held=["d"]) == {"c": 3, "e": 2}  # d drains: 1 is taken
    assert table.assign(["x", "y"], pinned={"y": 1}) == {"x": 2, "y": 1}
    assert pinned_id("id 2 backup") == 2 and pinned_id("check rise 2") is None


def _service(*backend: str, defaults: tuple[str, ...] = ()) -> tuple[HaproxyConfig, ServiceConfig]:
    svc = ServiceConfig(
        name="web",
        discovery=DiscoveryConfig(method="base"),
        haproxy=ServiceHaproxyConfig(port=1, backend=backend),
    )
    return HaproxyConfig(defaults=defaults), svc


def test_backends_haproxy_cannot_add_servers_to_right_take_the_reload_path():
    assert runtime_refusal(*_service("mode http")) is None
    assert runtime_refusal(*_service("balance leastconn")) is None
    assert runtime_refusal(*_service("balance uri", "hash-type consistent")) is None
    assert "cookie" in runtime_refusal(*_service("cookie SRV insert"))
    assert "cookie" in runtime_refusal(*_service(defaults=("cookie SRV insert",)))
    assert "default-server" in runtime_refusal(*_service("default-server inter 3s"))
    assert "static-rr" in runtime_refusal(*_service("balance static-rr"))
    assert "source" in runtime_refusal(*_service(defaults=("balance source",)))


def _row(state_bits: int = 0, weight: int = 1, addr: str = "10.0.0.1") -> ServerStateRow:
    return ServerStateRow("web", "i-a_10.0.0.1:8080", addr, 8080, 2, state_bits, weight, weight, 1)


def test_a_join_is_added_without_its_cookie_checked_and_made_ready():
    server = Server("i-a_10.0.0.1:8080", 4, NODE, "10.0.0.1", 8080, "check agent-check", "c")
    assert list(add("web", server)) == [
        "add server web/i-a_10.0.0.1:8080 10.0.0.1:8080 id 4 check agent-check",
        "enable health web/i-a_10.0.0.1:8080",
        "enable agent web/i-a_10.0.0.1:8080",
        "set server web/i-a_10.0.0.1:8080 state ready",
    ]


def test_weight_and_state_changes_are_set_commands():
    server = Server("i-a_10.0.0.1:8080", 1, NODE, "10.0.0.1", 8080, "weight 5")
    assert list(set_commands("web", server, _row(weight=5))) == []
    assert list(set_commands("web", server, _row(0x01, weight=2))) == [
        "set server web/i-a_10.0.0.1:8080 weight 5",
        "set server web/i-a_10.0.0.1:8080 state ready",
    ]


def test_the_installed_file_gives_each_servers_id_and_structure():
    text = "backend web\n\tmode http\n\tserver a 10.0.0.1:80 id 7 cookie a check weight 3\n"
    (server,) = installed_servers(text)["web"].values()
    assert (server.id, server.structure) == (7, "id 7 cookie a check")


class FakeSocket:
    """Answers `show servers state` from `rows` and records every other command."""

    def __init__(self, rows: list[ServerStateRow]):
        self.rows, self.sent = rows, []

    def show_servers_state(self, backend: str) -> list[ServerStateRow]:
        return self.rows

    def send(self, command: str) -> str:
        self.sent.append(command)
        return "New server registered." if command.startswith("add server") else ""


class FakeDrainer:
    def __init__(self):
        self.due: set[str] = set()

    def drain(self, backend: str, server: str) -> None:
        self.due.add(server)

    def cancel(self, backend: str, server: str) -> None:
        self.due.discard(server)

    def draining(self, backend: str, server: str) -> bool:
        return server in self.due


def _server(host: str, id_: int, options: str = "") -> Server:
    node = Backend(host, 80, "n")
    return Server(f"n_{host}:80", id_, node, host, 80, options)


def test_converge_adds_joins_and_drains_leaves():
    old = _server("10.0.0.1", 1)
    sock = FakeSocket([ServerStateRow("web", old.name, "10.0.0.1", 80, 2, 0, 1, 1, 1)])
    known, drainer = {old.name: old.structure}, FakeDrainer()
    new = _server("10.0.0.2", 2)
    assert converge(sock, "web", [new], known, drainer) == 3
    assert sock.sent == [
        "add server web/n_10.0.0.2:80 10.0.0.2:80 id 2",
        "set server web/n_10.0.0.2:80 state ready",
        "set server web/n_10.0.0.1:80 state maint",
    ]
    assert drainer.due == {old.name} and known[new.name] == new.structure
    sock.sent.clear()
    sock.rows = [  # HAProxy now: new ready, old draining in maintenance
        ServerStateRow("web", new.name, "10.0.0.2", 80, 2, 0, 1, 1, 2),
        ServerStateRow("web", old.name, "10.0.0.1", 80, 2, 0x01, 1, 1, 1),
    ]
    assert converge(sock, "web", [new, old], known, drainer) == 1  # back while draining
    assert drainer.due == set() and sock.sent == ["set server web/n_10.0.0.1:80 state ready"]


def test_converge_leaves_to_a_reload_what_the_runtime_api_cannot_do():
    server = _server("10.0.0.1", 1, "check")
    sock = FakeSocket([ServerStateRow("web", server.name, "10.0.0.1", 80, 2, 0, 1, 1, 1)])
    changed = {server.name: _server("10.0.0.1", 1, "check inter 5s").structure}
    assert converge(sock, "web", [server], changed, FakeDrainer()) is None  # its options changed
    assert converge(sock, "web", [], {}, FakeDrainer(), dynamic=False) is None  # structure
    assert sock.sent == []


def test_a_servers_registered_name_and_host_are_read_back_from_its_name():
    from synapse_py.generators.haproxy.readback import _registered

    assert _registered("i-a_b_web.example.com:8080", 8080) == ("i-a_b", "web.example.com")
    assert _registered("n_::1:80", 80) == ("n", "::1")
    assert _registered("10.0.0.1:80", 80) == ("", "")  # no name: Ruby names it host:port
    assert _registered("s1", 80) == ("", "")


def test_busy_servers_are_those_of_the_draining_backends_with_sessions_or_a_queue():
    from synapse_py.generators.haproxy.runtime import _busy

    stat = "# pxname,svname,qcur,qmax,scur\nweb,a,0,0,2\nweb,b,0,0,0\nweb,c,1,1,0\napi,d,0,0,5\n"
    assert _busy(stat, {"web"}) == {("web", "a"), ("web", "c")}


def test_a_backend_that_restores_server_state_from_a_file_is_checked_after_a_reload():
    from synapse_py.generators.haproxy.config import restores_state

    def svc(*backend: str) -> ServiceConfig:
        return ServiceConfig("web", DiscoveryConfig("base"), ServiceHaproxyConfig(backend=backend))

    plain = HaproxyConfig()
    assert not restores_state(plain, svc("balance roundrobin"))
    assert restores_state(plain, svc("load-server-state-from-file local"))
    assert restores_state(HaproxyConfig(defaults=("load-server-state-from-file global",)), svc())
    assert not restores_state(plain, svc("load-server-state-from-file none"))
