"""Ruby synapse 0.18.9's meaning of listen lines, server options, cookies, weights and order."""

from __future__ import annotations

import hashlib
import json

from synapse_py.backend import Backend
from synapse_py.config import load_config
from synapse_py.generators.haproxy.keywords import haproxy_accepts, ruby_keeps, sort_lines
from synapse_py.generators.haproxy.members import Server
from synapse_py.generators.haproxy.servers import (
    cookie_directive,
    cookie_value,
    line_options,
    ordered,
    server_name,
    writes_cookies,
)

NODE = Backend("10.0.0.1", 8080, "i-a", 5, "backup weight 9")


def test_listen_lines_go_where_rubys_keyword_prefixes_send_them():
    found = sort_lines(
        ("mode http", "balance roundrobin", "  Timeout   client 5s", "bogus x", "retry-on all"),
        ("maxconn 5",),
        ("fullconn 9", "nope 1"),
    )
    assert found.frontend == ("maxconn 5", "mode http")  # its own lines first
    assert found.backend == ("fullconn 9", "mode http", "balance roundrobin")
    assert found.dropped == ("  Timeout   client 5s", "nope 1", "bogus x", "retry-on all")


def test_prefix_matches_haproxy_refuses_are_dropped_the_valid_ones_kept():
    for line in ("modebogus 1", "identity-crisis", "aclx y", "Option forwardfor", "logfoo"):
        assert ruby_keeps(line, "backend") and not haproxy_accepts(line, "backend"), line
    for line in ("server-template x 1 10.0.0.9:80", "persist rdp-cookie(mstshash)",
                 "errorfiles site", "option   forwardfor  except 127.0.0.1", "log-tag x",
                 "acl a path_beg /x", "mode tcp"):  # fmt: skip
        assert haproxy_accepts(line, "backend"), line
    assert not haproxy_accepts("server-template x 1 a:1", "frontend")


def test_a_nodes_weight_applies_only_with_use_nerve_weights():
    assert line_options(NODE, "check weight 50", False) == "check weight 50 backup weight 9"
    assert line_options(NODE, "check weight 50", True) == "check backup weight 5"
    for weight in ("7", 2.5, None):  # not an integer: the line is left alone
        node = Backend("10.0.0.1", 8080, "i-a", weight)  # type: ignore[arg-type]
        assert line_options(node, "check weight 50", True) == "check weight 50"


def test_placeholders_and_cookie_values():
    node = Backend("10.0.2.2", 8081, "i-b", None, "sni str(%{name})")
    assert line_options(node, "port %{port} addr %{host}", False) == (
        "port 8081 addr 10.0.2.2 sni str(i-b_10.0.2.2:8081)"
    )
    digest = hashlib.sha1(b"i-b_10.0.2.2:8081").hexdigest()
    assert cookie_value("i-b_10.0.2.2:8081", "hash") == digest
    assert cookie_value("i-b_10.0.2.2:8081", None) == "i-b_10.0.2.2:8081"
    assert server_name(Backend("10.0.0.5", 80, "")) == "10.0.0.5:80"


def test_cookies_are_written_unless_a_backend_line_is_exactly_mode_tcp():
    assert writes_cookies(["mode http", "cookie SRV insert"])
    assert writes_cookies([])  # Ruby writes them where nothing uses them, too
    assert not writes_cookies(["mode tcp", "cookie SRV insert"])
    assert writes_cookies(["mode  tcp"])  # Ruby's exact test
    assert cookie_directive(["mode http"], ["cookie SRV insert"])
    assert not cookie_directive(["mode http"], [])


def test_backend_order_asc_is_byte_wise_desc_reversed_no_shuffle_as_given():
    nodes = [Backend("10.0.4.4", 1, "beta9"), Backend("10.0.4.2", 1, "Zed"),
             Backend("10.0.4.1", 1, "beta10"), Backend("10.0.4.10", 80, "")]  # fmt: skip
    names = lambda found: [b.name or b.host for b in found]  # noqa: E731
    assert names(ordered(nodes, "asc", 0)) == ["10.0.4.10", "Zed", "beta10", "beta9"]
    assert names(ordered(nodes, "desc", 0)) == ["beta9", "beta10", "Zed", "10.0.4.10"]
    assert ordered(nodes, "no_shuffle", 0) == nodes
    assert ordered(nodes, None, 7) == ordered(list(reversed(nodes)), None, 7)  # seeded
    assert sorted(ordered(nodes, None, 7)) == sorted(nodes)


def test_a_server_line_is_rubys_and_its_structure_leaves_weight_out():
    server = Server("i-a_10.0.0.1:8080", 3, NODE, "10.0.0.1", 8080, "check weight 4", "i-a")
    assert server.line == "id 3 cookie i-a check weight 4"
    assert server.structure == "id 3 cookie i-a check"  # the address: `set server addr`
    assert server.weight == 4
    pinned = Server("n", 2, NODE, "10.0.0.1", 8080, "id 2 backup", None, pinned=True)
    assert pinned.line == "id 2 backup"  # the node's own id: no automatic one


def test_dropped_lines_are_config_warnings_naming_the_file_and_key(tmp_path, caplog):
    haproxy = {"port": 3213, "listen": ["mode http", "bogus x"], "backend": ["aclx y"]}
    config = {
        "services": {"web": {"discovery": {"method": "base"}, "haproxy": haproxy}},
        "haproxy": {"do_writes": False, "do_reloads": False, "do_socket": False},
    }
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps(config))
    (warning,) = load_config(str(path)).warnings
    assert warning.startswith(f"{path}: services.web.haproxy: lines not written")
    assert "'aclx y'; 'bogus x'" in warning
