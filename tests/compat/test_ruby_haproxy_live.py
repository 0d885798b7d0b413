"""Reference cases on a real HAProxy: its servers carry Ruby's names and ids, on the stats page too.

The generator applies a case's nodes to a master-worker HAProxy it starts (the frontends moved to
free ports); `show servers state` and `show stat` (the stats page's CSV) must list each backend's
servers by the names and `id`s Ruby wrote in its haproxy.cfg, at their addresses. A node that
joins afterwards gets Ruby's name and the lowest free id, at run time.
"""

from __future__ import annotations

import dataclasses

import pytest
from compat.ruby_cases import Case, raw_membership, ruby_sections
from support.haproxy import HAPROXY, HaproxyFiles, wait_for
from support.ports import free_port

from synapse_py.backend import Backend
from synapse_py.config import load_config
from synapse_py.generators.haproxy.generator import HaproxyGenerator
from synapse_py.proxy.haproxy_socket import HaproxySocket

pytestmark = pytest.mark.integration
CASES = ["s01_basic_http", "s04_server_options_templates", "s08_cookies_and_modes",
         "s10_backend_order"]  # fmt: skip


@pytest.fixture
def live(tmp_path):
    files = HaproxyFiles(tmp_path)
    made: list[HaproxyGenerator] = []

    def start(case: Case):
        config = load_config(case.write_config(tmp_path, "127.0.0.1:1", ""))
        hap = dataclasses.replace(
            config.haproxy,
            config_file_path=files.config,
            socket_file_path=files.socket,
            reload_command=files.reload_command,
            do_reloads=True,
            do_socket=True,
            restart_interval=0.0,
        )
        services = tuple(_moved(s) for s in config.services)
        made.append(HaproxyGenerator(hap, haproxy_bin=HAPROXY))
        made[-1].apply(services, raw_membership(case))
        assert made[-1].flush(10)
        return made[-1], services, HaproxySocket(files.socket)

    yield start
    for gen in made:
        gen.stop()
    files.stop()


def _moved(svc):
    if svc.haproxy.port is None:
        return svc
    return dataclasses.replace(svc, haproxy=dataclasses.replace(svc.haproxy, port=free_port()))


def _ruby_servers(case: Case) -> dict[str, dict[str, tuple[str, int]]]:
    """Per backend: server name -> (address, id) as Ruby wrote them."""
    found = {}
    for header, section in ruby_sections(case).items():
        if header.startswith("backend "):
            found[header.split()[1]] = {
                name: (address, int(options[options.index("id") + 1]))
                for name, address, options in section.servers
            }
    return found


@pytest.mark.parametrize("name", CASES, ids=lambda n: n[:3])
def test_haproxy_runs_rubys_server_names_and_ids(name, live):
    case = Case.load(name)
    _, _, sock = live(case)
    stat = [line.split(",") for line in sock.send("show stat -1 4 -1").splitlines()[1:] if line]
    for backend, servers in _ruby_servers(case).items():
        rows = sock.show_servers_state(backend)
        assert {r.server: (f"{r.addr}:{r.port}", r.id) for r in rows} == servers
        on_page = {f[1]: f for f in stat if f[0] == backend}
        for server, (address, _) in servers.items():
            assert address in on_page[server]  # the stats page: name and address


def test_a_join_takes_rubys_name_and_the_lowest_free_id_at_run_time(live):
    case = Case.load("s10_backend_order")
    gen, services, sock = live(case)
    membership = dict(raw_membership(case))
    joined = Backend("10.0.4.9", 8080, "late")
    membership["ord_asc"] = (*membership["ord_asc"][1:], joined)  # one leaves, one joins
    gen.apply(services, membership)
    assert gen.flush(10)
    left = next(iter(raw_membership(case)["ord_asc"]))
    name_left = f"{left.name}_{left.host}:{left.port}"
    ids = lambda: {r.server: r.id for r in sock.show_servers_state("ord_asc")}  # noqa: E731
    assert ids()["late_10.0.4.9:8080"] == 7  # the leaver's id (1) is not free while it drains
    assert wait_for(lambda: name_left not in ids(), 5)  # idle: deleted
    assert gen.reloads == 1
