"""The HAProxy generator against a real master-worker HAProxy started through `reload_command`."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from support.haproxy import HaproxyFiles, spread, wait_for
from support.haproxy_rig import Rig
from support.ports import free_port

from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, ServiceConfig, ServiceHaproxyConfig
from synapse_py.proxy.reloader import Reloader

pytestmark = pytest.mark.integration


@dataclasses.dataclass(frozen=True, order=True)
class MaintBackend(Backend):
    """A member marked in maintenance (the generator reads `maintenance` when a Backend has it)."""

    maintenance: bool = False


@pytest.fixture
def rig(tmp_path):
    files = HaproxyFiles(tmp_path)
    made: list[Rig] = []

    def make(**overrides) -> Rig:
        made.append(Rig(files, **overrides))
        return made[-1]

    yield make
    for r in made:
        r.gen.stop()
    files.stop()


def service(name: str, port: int | None, **haproxy) -> ServiceConfig:
    return ServiceConfig(
        name=name,
        discovery=DiscoveryConfig(method="base"),
        haproxy=ServiceHaproxyConfig(port=port, **haproxy),
    )


def member(http_backend_instance, weight: int | None = None, **extra) -> Backend:
    b = http_backend_instance
    cls = MaintBackend if extra else Backend
    return cls(host=b.host, port=b.port, name=b.name, weight=weight, **extra)


def names(*backends) -> set[str]:
    return {b.name for b in backends}


def test_traffic_reaches_exactly_the_live_servers(rig, http_backend):
    r, port = rig(), free_port()
    web = [http_backend() for _ in range(3)]
    http_backend()  # running, but not a member: must never get traffic
    r.apply([service("web", port)], {"web": [member(b) for b in web]})
    assert r.gen.reloads == 1  # the reload command started HAProxy
    assert set(spread(port, 30)) == names(*web)
    assert Counter(spread(port, 30)) == {b.name: 10 for b in web}


def test_add_and_remove_apply_with_zero_reloads(rig, http_backend):
    r, port = rig(), free_port()
    a, b, c = (http_backend() for _ in range(3))
    svc = service("web", port)
    r.apply([svc], {"web": [member(a)]})
    pid, cfg_before = r.worker_pid(), Path(r.files.config).read_text()
    r.apply([svc], {"web": [member(a), member(b), member(c)]})
    assert set(spread(port)) == names(a, b, c)
    r.apply([svc], {"web": [member(b), member(c)]})
    assert set(spread(port)) == names(b, c)
    assert (r.gen.reloads, r.worker_pid()) == (1, pid)
    assert r.gen.runtime_commands > 0
    assert Path(r.files.config).read_text() != cfg_before  # the file follows the runtime state


def test_an_unchanged_server_keeps_its_slot(rig, http_backend):
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port)
    r.apply([svc], {"web": [member(a)]})
    slot_a = r.servers("web")
    r.apply([svc], {"web": [member(a), member(b)]})
    commands = r.gen.runtime_commands
    r.apply([svc], {"web": [member(a), member(b)]})
    assert r.gen.runtime_commands == commands  # nothing changed: nothing sent
    assert slot_a.items() <= r.servers("web").items()


def test_weight_and_maintenance_apply_with_zero_reloads(rig, http_backend):
    r, port = rig(use_nerve_weights=True), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port)
    r.apply([svc], {"web": [member(a, 1), member(b, 1)]})
    pid = r.worker_pid()
    r.apply([svc], {"web": [member(a, 1), member(b, 0)]})
    assert set(spread(port)) == {a.name}
    r.apply([svc], {"web": [member(a, 1), member(b, 3)]})
    assert spread(port, 40) == {a.name: 10, b.name: 30}
    r.apply([svc], {"web": [member(a, 1, maintenance=True), member(b, 3)]})
    assert set(spread(port)) == {b.name}
    r.apply([svc], {"web": [member(a, 1), member(b, 1)]})
    assert set(spread(port)) == names(a, b)
    assert (r.gen.reloads, r.worker_pid()) == (1, pid)


def test_a_nodes_weight_is_not_applied_unless_use_nerve_weights(rig, http_backend):
    # Ruby synapse applies a nerve weight only with haproxy.use_nerve_weights (default false)
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    r.apply([service("web", port)], {"web": [member(a, 1), member(b, 0)]})
    assert set(spread(port)) == names(a, b)  # weight 0 is not applied: b takes traffic
    assert "weight" not in Path(r.files.config).read_text()
    r.apply([service("web", port, server_options="weight 3")], {"web": [member(a, 1)]})
    assert r.weights_of("web") == [3]  # server_options apply as written


def test_nerve_weights_replace_the_server_options_weight_without_a_reload(rig, http_backend):
    r, port = rig(use_nerve_weights=True), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port, server_options="check inter 500 weight 50")
    r.apply([svc], {"web": [member(a, 1), member(b, None)]})
    pid = r.worker_pid()
    assert sorted(r.weights_of("web")) == [1, 50]
    r.apply([svc], {"web": [member(a, 1), member(b, 4)]})
    assert sorted(r.weights_of("web")) == [1, 4]
    assert spread(port, 50) == {a.name: 10, b.name: 40}
    assert (r.gen.reloads, r.worker_pid()) == (1, pid)


def _get_with_cookie(port: int, cookie: str | None = None) -> tuple[str, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("GET", "/", headers={"Cookie": f"SRV={cookie}"} if cookie else {})
    resp = conn.getresponse()
    body, set_cookie = resp.read().decode(), resp.getheader("Set-Cookie")
    conn.close()
    return body, set_cookie


def test_rubys_server_cookies_make_a_cookie_backend_sticky(rig, http_backend, caplog):
    caplog.set_level("INFO")
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    sticky = ("mode http", "cookie SRV insert indirect nocache")
    svc = service("web", port, listen=sticky, cookie_value_method="hash")
    r.apply([svc], {"web": [member(a), member(b)]})
    body, set_cookie = _get_with_cookie(port)
    value = set_cookie.split(";")[0].split("=", 1)[1]
    named = {x.name: x for x in (a, b)}[body]
    assert value == hashlib.sha1(f"{named.name}_{named.host}:{named.port}".encode()).hexdigest()
    assert {_get_with_cookie(port, value)[0] for _ in range(10)} == {body}
    c = http_backend()
    r.apply([svc], {"web": [member(a), member(b), member(c)]})  # add server refuses a cookie
    assert r.gen.reloads == 2
    name_c = f"{c.name}_{c.host}:{c.port}"
    digest = hashlib.sha1(name_c.encode()).hexdigest()
    assert (
        f"server {name_c} {c.host}:{c.port} id 3 cookie {digest}"
        in Path(r.files.config).read_text()
    )
    assert "web takes joins and leaves by a reload: it has a `cookie` directive" in caplog.text
    assert {_get_with_cookie(port, value)[0] for _ in range(10)} == {body}  # still sticky
    plain = service("api", free_port())
    r.apply([svc, plain], {"web": [member(a)], "api": [member(a)]})
    text = Path(r.files.config).read_text()
    servers_with_cookie = [x for x in text.splitlines() if "server " in x and " cookie " in x]
    assert len(servers_with_cookie) == 2  # Ruby writes one in api too, where nothing uses it


def test_shared_frontend_routes_to_backend_only_services(rig, http_backend):
    shared = free_port()
    r = rig(shared_frontend=(f"bind 127.0.0.1:{shared}", "mode http", "bogus line"))
    a, b = http_backend(), http_backend()
    svc_a = service("a", None, listen=("mode http",), shared_frontend=(
        "acl is_a path_beg /a", "use_backend a if is_a", "not a keyword"))  # fmt: skip
    svc_b = service("b", free_port(), listen=("mode http",), shared_frontend=("default_backend b",))
    r.apply([svc_a, svc_b], {"a": [member(a)], "b": [member(b)]})
    text = Path(r.files.config).read_text()
    assert "frontend a\n" not in text and "frontend shared-frontend" in text
    assert "bogus line" not in text and "not a keyword" not in text
    assert _get_path(shared, "/a/x") == a.name and _get_path(shared, "/other") == b.name


def _get_path(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def test_placeholders_in_server_options_reach_haproxy(rig, http_backend):
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port, server_options="check inter 300 port %{port} addr %{host}")
    r.apply([svc], {"web": [member(a)]})
    r.apply([svc], {"web": [member(a), member(b)]})  # added with its own check port: no reload
    assert f"port {b.port} addr {b.host}" in Path(r.files.config).read_text()
    assert r.gen.reloads == 1
    assert wait_for(lambda: set(spread(port)) == names(a, b), 10)


@pytest.mark.parametrize(
    "lines",
    [("balance static-rr",), ("default-server weight 7",), ("balance source",)],
    ids=["static-rr", "default-server", "source"],
)
def test_a_backend_haproxy_cannot_add_servers_to_right_takes_joins_by_reload(
    rig, http_backend, lines, caplog
):
    caplog.set_level("INFO")
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port, backend=lines)
    r.apply([svc], {"web": [member(a)]})
    r.apply([svc], {"web": [member(a), member(b)]})
    assert r.gen.reloads == 2 and "web takes joins and leaves by a reload" in caplog.text
    assert set(r.servers("web")) == {f"{x.name}_{x.host}:{x.port}" for x in (a, b)}
    if "default-server" in lines[0]:
        assert r.weights_of("web") == [7, 7]  # as the file says: inherited
    r.apply([svc], {"web": [member(b, 3)]} if "static" in lines[0] else {"web": [member(b)]})
    assert r.gen.reloads == 3 and set(r.servers("web")) == {f"{b.name}_{b.host}:{b.port}"}


def test_a_leaving_servers_sessions_are_shut_down_at_the_drain_timeout(rig, http_backend):
    r, port = rig(drain_timeout=0.5), free_port()
    a = http_backend()
    svc = service("web", port)
    r.apply([svc], {"web": [member(a)]})
    failed: list[object] = []

    def slow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/slow/5")
            reply = conn.getresponse()
            if reply.read() != a.name.encode():
                failed.append(reply.status)
        except (OSError, http.client.HTTPException) as exc:
            failed.append(exc)

    request = threading.Thread(target=slow)
    request.start()
    assert wait_for(lambda: a.hits == 1, 5)
    started = time.monotonic()
    r.apply([svc], {"web": []})
    name = f"{a.name}_{a.host}:{a.port}"
    assert wait_for(lambda: name not in {x.server for x in r.socket.show_servers_state("web")}, 5)
    request.join(10)
    assert time.monotonic() - started < 4 and failed  # ended at the bound, not after 5 s
    assert r.gen.reloads == 1


def test_a_server_back_while_it_drains_is_made_ready_again(rig, http_backend):
    r, port = rig(), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port)
    r.apply([svc], {"web": [member(a), member(b)]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/slow/2")
    assert wait_for(lambda: a.hits + b.hits == 1, 5)
    held, other = (a, b) if a.hits else (b, a)
    r.apply([svc], {"web": [member(other)]})  # `held` drains: a session is still open
    r.apply([svc], {"web": [member(other), member(held)]})
    assert conn.getresponse().read() == held.name.encode()
    assert wait_for(lambda: set(spread(port, 20)) == names(a, b), 5)
    assert r.gen.reloads == 1 and len(r.socket.show_servers_state("web")) == 2
    time.sleep(0.5)  # the drainer let it be
    assert len(r.servers("web")) == 2


def test_a_new_service_reloads_once(rig, http_backend):
    r, web_port, api_port = rig(), free_port(), free_port()
    web, api = http_backend(), http_backend()
    web_svc, api_svc = service("web", web_port), service("api", api_port)
    r.apply([web_svc], {"web": [member(web)]})
    r.apply([web_svc, api_svc], {"web": [member(web)], "api": [member(api)]})
    assert r.gen.reloads == 2
    assert set(spread(web_port)) == {web.name} and set(spread(api_port)) == {api.name}


def test_a_config_haproxy_rejects_is_never_installed(rig, http_backend, caplog):
    r, port = rig(), free_port()
    a, b, c = http_backend(), http_backend(), http_backend()
    web = service("web", port)
    r.apply([web], {"web": [member(a)]})
    good = Path(r.files.config).read_text()
    bad = service("bad", free_port(), backend=("balance no-such-algorithm",))  # a known keyword
    r.apply([web, bad], {"web": [member(a)], "bad": []})
    assert (r.gen.failed_validations, r.gen.reloads) == (1, 1)
    assert "balance only supports" in caplog.text  # HAProxy's reason, never an empty one
    with_options = member(c, haproxy_server_options="check")  # refused too, but not its fault
    r.apply([web, bad], {"web": [member(a), with_options], "bad": []})
    assert (r.gen.failed_validations, r.gen.rejected_nodes()) == (2, {})
    assert Path(r.files.config).read_text() == good
    assert not list(Path(r.files.config).parent.glob(".haproxy.cfg.*"))  # no temp file left
    r.apply([web, bad], {"web": [member(a), member(b)], "bad": []})  # web still follows membership
    assert set(spread(port)) == names(a, b) and r.gen.reloads == 1


def test_nodes_haproxy_refuses_in_context_are_skipped_and_judged_once(rig, http_backend, tmp_path):
    marker = tmp_path / "checks"  # check_command runs once per validation: counts them
    r, port = rig(do_checks=True, check_command=f"echo x >> {marker}"), free_port()
    good, bad = [http_backend() for _ in range(4)], [http_backend() for _ in range(3)]
    refused = ("resolvers dns1", "ssl verify required", "check agent-check")  # allow-listed
    members = [
        member(good[0]),
        *(member(b, haproxy_server_options=o) for b, o in zip(bad, refused, strict=True)),
        member(good[1]),
        member(good[2], haproxy_server_options="check inter 500"),  # accepted: kept
    ]
    svc = service("web", port)
    r.apply([svc], {"web": members})
    assert set(spread(port, 30)) == names(*good[:3])
    assert r.gen.rejected_nodes() == {"web": 3} and r.gen.failed_validations == 0
    assert not any(f":{b.port}" in Path(r.files.config).read_text() for b in bad)
    checks = marker.read_text().count("x")
    r.apply([svc], {"web": [*members, member(good[3])]})  # a later change in the same service
    assert set(spread(port, 40)) == names(*good)
    assert marker.read_text().count("x") == checks + 1  # the install's only: none re-judged
    assert r.gen.rejected_nodes() == {"web": 3}
    fixed = member(bad[0], haproxy_server_options="check")  # its options change: judged again
    r.apply([svc], {"web": [fixed, *members[2:], member(good[3])]})
    assert wait_for(lambda: bad[0].name in spread(port, 20), 5)
    assert r.gen.rejected_nodes() == {"web": 3}


def test_the_file_reproduces_the_runtime_state_on_reload(rig, http_backend):
    r, port = rig(), free_port()
    a, b, c = (http_backend() for _ in range(3))
    svc = service("web", port, server_options="check inter 500")
    r.apply([svc], {"web": [member(a), member(b)]})
    r.apply([svc], {"web": [member(b, 4), member(c, 2, maintenance=True)]})
    before, pid = r.servers("web"), r.worker_pid()
    subprocess.run(r.files.reload_command, shell=True, check=True, timeout=10)
    assert wait_for(lambda: r.worker_pid() != pid, 10)
    assert r.servers("web") == before
    assert wait_for(lambda: set(spread(port, 10)) == {b.name}, 5)


def test_a_hostname_is_resolved_and_routed(rig, http_backend):
    r, port = rig(), free_port()
    a = http_backend()
    r.apply([service("web", port)], {"web": [Backend("localhost", a.port, a.name)]})
    assert set(spread(port, 10)) == {a.name}
    server = r.servers("web")[f"{a.name}_localhost:{a.port}"]  # Ruby's name: the registered host
    assert server[:2] in {("127.0.0.1", a.port), ("::1", a.port)}


def test_without_the_socket_every_change_reloads(rig, http_backend):
    r, port = rig(do_socket=False), free_port()
    a, b = http_backend(), http_backend()
    svc = service("web", port)
    r.apply([svc], {"web": [member(a)]})
    r.apply([svc], {"web": [member(a)]})
    r.apply([svc], {"web": [member(a), member(b)]})
    assert r.gen.reloads == 2 and r.gen.runtime_commands == 0
    assert wait_for(lambda: set(spread(port, 10)) == names(a, b), 5)


def test_disabled_services_and_stats_page(rig, http_backend):
    from synapse_py.config import StatsConfig

    stats_port = free_port()
    r, port = rig(stats=StatsConfig(enabled=True, port=stats_port, auth="ops:pw")), free_port()
    off = service("off", free_port(), disabled=True)
    r.apply([service("web", port), off], {"web": [member(http_backend())], "off": []})
    text = Path(r.files.config).read_text()
    assert "off" not in text.split("listen synapse_stats")[1]
    assert f"bind 127.0.0.1:{stats_port}" in text and "stats auth ops:pw" in text


def test_reloads_inside_the_interval_are_deferred_and_coalesced(tmp_path):
    marker = tmp_path / "reloads"
    reloader = Reloader(f"echo x >> {marker}", interval=0.5, jitter=0.2)
    for _ in range(4):
        reloader.request()
    assert marker.read_text().count("x") == 1 and reloader.pending
    assert reloader.flush(5) and marker.read_text().count("x") == 2
    assert reloader.reloads == 2 and reloader.failures == 0
    reloader.stop()


def test_a_service_missing_from_the_membership_keeps_its_servers(rig, http_backend):
    r, port = rig(), free_port()
    a = http_backend()
    web, api = service("web", port), service("api", free_port())
    r.apply([web], {"web": [member(a)]})
    r.apply([web, api], {"api": []})  # web not reported this round: not emptied
    assert set(spread(port, 10)) == {a.name}


def test_do_writes_and_do_reloads_off(rig, http_backend):
    quiet = rig(do_writes=False, do_reloads=False)
    quiet.gen.apply((service("web", free_port()),), {"web": (member(http_backend()),)})
    assert not Path(quiet.files.config).exists() and quiet.gen.renders == 1
    assert quiet.gen.reloads == 0
    manual = rig(do_reloads=False)
    manual.gen.apply((service("web", free_port()),), {"web": ()})
    assert Path(manual.files.config).exists() and manual.gen.reloads == 0
