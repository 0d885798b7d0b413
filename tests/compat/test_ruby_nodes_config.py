"""The membership-level keys of a Ruby synapse config, as Ruby means them (ruby-reference s07,
s11, s12, s13), and clear errors where Ruby would silently route nowhere."""

from __future__ import annotations

import json

import pytest
from support import ruby_nodes

from synapse_py.config import ConfigError, load_config


def service(**keys) -> dict:
    return {"discovery": {"method": "zookeeper", "hosts": ["z:2181"], "path": "/web"}, **keys}


def load(tmp_path, **keys):
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps({"services": {"web": service(**keys)}}))
    return load_config(path)


def test_s07_port_overrides(tmp_path):
    config = ruby_nodes.config("s07_port_overrides", tmp_path)
    overrides = {s.name: s.port_override for s in config.services}
    assert overrides == {"spo": 9999, "bpo": 7777, "bpo_str": "7778", "both": 7001, "none": None}


@pytest.mark.parametrize("value", [0, "0", 70000, "99999", "80a", 8.5, True])
def test_a_port_override_that_is_not_a_port_is_an_error(tmp_path, value):
    with pytest.raises(ConfigError, match="services.web.backend_port_override"):
        load(tmp_path, backend_port_override=value)


def test_s12_label_filter_singular_is_anded_with_label_filters_and_warned(tmp_path):
    one = {"label": "tier", "value": "gold", "condition": "equals"}
    two = {"label": "az", "value": "b", "condition": "not-equals"}
    discovery = {**service()["discovery"], "label_filter": one, "label_filters": [two]}
    config = load(tmp_path, discovery=discovery)
    assert config.service("web").discovery.label_filters == (one, two)
    assert any("label_filter: deprecated" in w for w in config.warnings)


def test_a_label_filter_without_condition_is_an_error(tmp_path):
    """Ruby drops every node for such a filter: the service would route nowhere."""
    discovery = {**service()["discovery"], "label_filters": [{"label": "az", "value": "a"}]}
    with pytest.raises(ConfigError, match="label_filters.0: 'condition' is a required"):
        load(tmp_path, discovery=discovery)


def test_s11_default_servers_as_ruby_writes_them(tmp_path):
    config = ruby_nodes.config("s11_default_servers", tmp_path)
    records = [b.record for b in config.service("ds_empty_path").default_servers]
    assert records == [
        '{"name":"default-1","host":"10.9.0.1","port":9001,"weight":3,'
        '"haproxy_server_options":"backup","labels":{"az":"x"}}',
        '{"host":"10.9.0.2","port":9002}',  # no name: Ruby's host:port fallback
    ]


def test_s13_per_service_file_output_section(tmp_path):
    config = ruby_nodes.config("s13_generator_disabled", tmp_path)
    assert [s.name for s in config.services if s.file_output.disabled] == ["fo_hidden"]
    with pytest.raises(ConfigError, match="services.web.file_output.nope: unknown key"):
        load(tmp_path, file_output={"nope": 1})
