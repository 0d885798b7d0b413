"""Our haproxy.cfg against Ruby synapse 0.18.9's for each reference case (ruby-reference/synapse).

Each case runs synapse-py's render path (`synapse-py render`: real ZooKeeper, the daemon's reader
and generator) on the case's config and znodes, and compares section by section: the same
sections, the same other lines, and per backend the same servers (address and options) modulo
the differences named per case (ruby_cases.DIFFERENCES). Every rendered file passes `haproxy -c`.

| case | differences named (ruby_cases.DIFFERENCES) |
|---|---|
| every case | section-order |
| s15 | and prefix-quirk: Ruby's file, which HAProxy refuses, minus the lines HAProxy refuses |
| s18 | run with `haproxy.trust_registry_config: true` (Ruby's behaviour) |

Server names, `id N` and `cookie <value>` are compared exactly, as Ruby wrote them.
The generator alone, fed the nodes, also renders Ruby's servers for s01-s04 and s10
(test_the_generator_alone_...).
"""

from __future__ import annotations

import pytest
from compat.ruby_cases import (
    Case,
    compare,
    haproxy_check,
    raw_membership,
    server_order,
)

from synapse_py.commands import render_haproxy_config
from synapse_py.config import load_config
from synapse_py.generators.haproxy.generator import HaproxyGenerator

USUAL = {"section-order"}
CASES = {
    "s01_basic_http": USUAL,
    "s02_nerve_weights_true": USUAL,
    "s03_nerve_weights_false": USUAL,
    "s04_server_options_templates": USUAL,
    "s05_bind_and_frontends": USUAL,
    "s06_shared_frontend": USUAL,
    "s07_port_overrides": USUAL,
    "s08_cookies_and_modes": USUAL,
    "s09_defaults_mode_tcp": USUAL,
    "s10_backend_order": USUAL,
    "s11_default_servers": USUAL,
    "s12_label_filters": USUAL,
    "s13_generator_disabled": USUAL,
    "s14_listen_filtering": USUAL,
    "s15_listen_prefix_quirk": USUAL | {"prefix-quirk"},
    "s16_child_decoding": USUAL,
    "s18_zk_parent_generator_config": USUAL,
}
# s15: what Ruby wrote minus the lines HAProxy refuses; the rest must match
S15_REFUSED = ("modebogus 1", "identity-crisis", "logfoo bar", "aclx y", "  Option   Forwardfor  ")


def _params():
    for name, differences in CASES.items():
        yield pytest.param(name, differences, id=name[:3])


def render_case(case: Case, tmp_path, zk, zk_server, zk_root, **haproxy) -> str:
    case.create_nodes(zk, zk_root)
    config = load_config(case.write_config(tmp_path, zk_server.hosts, zk_root, **haproxy))
    return render_haproxy_config(config, timeout=10)


def expected_for(case: Case, differences: set[str]) -> Case:
    if "prefix-quirk" not in differences:
        return case
    kept = [x for x in case.haproxy_cfg.splitlines() if x[1:] not in S15_REFUSED]
    return Case(case.name, case.config, case.nodes, "\n".join(kept))


@pytest.mark.parametrize(("name", "differences"), list(_params()))
def test_haproxy_cfg_is_equivalent_to_rubys(name, differences, tmp_path, zk, zk_server, zk_root):
    case = Case.load(name)
    extra = {"trust_registry_config": True} if name.startswith("s18") else {}
    ours = render_case(case, tmp_path, zk, zk_server, zk_root, **extra)
    assert compare(expected_for(case, differences), ours, differences) == []
    rendered = tmp_path / "ours.cfg"
    rendered.write_text(ours)
    check = haproxy_check(rendered)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("name", list(CASES), ids=lambda n: n[:3])
def test_every_rendered_case_passes_haproxy_c(name, tmp_path, zk, zk_server, zk_root):
    case = Case.load(name)
    ours = render_case(case, tmp_path, zk, zk_server, zk_root, trust_registry_config=True)
    rendered = tmp_path / "ours.cfg"
    rendered.write_text(ours)
    check = haproxy_check(rendered)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    "name", ["s05_bind_and_frontends", "s08_cookies_and_modes", "s18_zk_parent_generator_config"]
)
def test_first_render_writes_servers_in_rubys_order(name, tmp_path, zk, zk_server, zk_root):
    case = Case.load(name)
    extra = {"trust_registry_config": True} if name.startswith("s18") else {}
    ours = render_case(case, tmp_path, zk, zk_server, zk_root, **extra)
    assert server_order(ours, "  ") == server_order(case.haproxy_cfg, "\t")


# the cases whose nodes today's reader does not accept yet (h5), through the generator alone
DIRECT = ["s01_basic_http", "s02_nerve_weights_true", "s03_nerve_weights_false",
          "s04_server_options_templates", "s10_backend_order"]  # fmt: skip


@pytest.mark.parametrize("name", DIRECT, ids=lambda n: n[:3])
def test_the_generator_alone_renders_rubys_servers(name, tmp_path):
    case = Case.load(name)
    config = load_config(case.write_config(tmp_path, "127.0.0.1:1", "", do_writes=False))
    gen = HaproxyGenerator(config.haproxy)
    try:
        ours = gen.render(config.services, raw_membership(case))
    finally:
        gen.stop()
    assert compare(case, ours, USUAL) == []
    assert server_order(ours, "  ") == server_order(case.haproxy_cfg, "\t")  # a first render
    rendered = tmp_path / "ours.cfg"
    rendered.write_text(ours)
    check = haproxy_check(rendered)
    assert check.returncode == 0, check.stdout + check.stderr
