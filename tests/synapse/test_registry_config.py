"""A service znode's own {"haproxy": ...} data: used only when trusted, validated as config."""

from __future__ import annotations

import json
import logging

from synapse_py.config import DiscoveryConfig, ServiceConfig, ServiceHaproxyConfig
from synapse_py.registry_config import RegistryConfigs

LOCAL = ServiceConfig(
    "zc", DiscoveryConfig("zookeeper", ("h:1",), "/svc/zc"), ServiceHaproxyConfig(port=4501)
)


def data(haproxy) -> bytes:
    return json.dumps({"haproxy": haproxy}).encode()


def test_trusted_data_replaces_the_local_haproxy_section():
    configs = RegistryConfigs()
    assert configs.update(LOCAL, data({"port": 4599, "listen": ["balance leastconn"]}), True)
    found = configs.effective(LOCAL).haproxy
    assert (found.port, found.listen, found.server_options) == (4599, ("balance leastconn",), "")
    assert not configs.update(LOCAL, data({"port": 4599, "listen": ["balance leastconn"]}), True)
    assert configs.update(LOCAL, b"", True) and configs.effective(LOCAL) == LOCAL


def test_untrusted_data_is_ignored_and_said_once(caplog):
    configs = RegistryConfigs()
    with caplog.at_level(logging.WARNING):
        assert not configs.update(LOCAL, data({"port": 4599}), False)
        configs.update(LOCAL, b"{}", False)
        configs.update(LOCAL, data({"port": 4599}), False)
    assert configs.effective(LOCAL) == LOCAL
    assert caplog.text.count("trust_registry_config") == 1


def test_invalid_data_keeps_the_local_section_logged_and_counted(caplog):
    configs = RegistryConfigs()
    bad = [
        data({"port": "4599; rm"}),
        data({"listen": ["mode http\n  errorfile 503 /etc/shadow"]}),
        data({"no_such_key": 1}),
        data({"port": 1, "listen": "x" * 70000}),
    ]
    for value in bad:
        assert not configs.update(LOCAL, value, True)
        assert configs.effective(LOCAL) == LOCAL
    assert configs.invalid == 4
    assert "znode /svc/zc: haproxy.port" not in caplog.text  # path is relative to the section
    assert "znode /svc/zc: port:" in caplog.text and "control character" in caplog.text
    for harmless in (b"not json", b"[1]", json.dumps({"other": 1}).encode()):  # not config
        configs.update(LOCAL, harmless, True)
    assert configs.invalid == 4


def test_a_new_config_judges_the_data_seen_again():
    configs = RegistryConfigs()
    configs.update(LOCAL, data({"port": 4599}), False)
    assert configs.refresh([LOCAL], True) and configs.effective(LOCAL).haproxy.port == 4599
    assert not configs.refresh([LOCAL], True)
    assert configs.refresh([LOCAL], False) and configs.effective(LOCAL) == LOCAL
