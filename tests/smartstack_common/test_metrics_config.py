"""The `metrics` top-level key (smartstack_common.metrics) in both daemons: localhost by default,
closed like every section."""

from __future__ import annotations

import json

import pytest

import nerve_py.config
import nerve_py.errors
import synapse_py.config

NERVE = {
    "instance_id": "i-1",
    "services": {
        "web": {
            "host": "127.0.0.1",
            "port": 8080,
            "zk_hosts": ["127.0.0.1:2181"],
            "zk_path": "/nerve/web",
            "checks": [],
        }
    },
}
SYNAPSE = {"services": {"web": {"discovery": {"method": "base"}}}}
LOADERS = [
    (NERVE, nerve_py.config.load_config, nerve_py.errors.ConfigError),
    (SYNAPSE, synapse_py.config.load_config, synapse_py.config.ConfigError),
]


@pytest.mark.parametrize(("base", "load", "_"), LOADERS, ids=["nerve", "synapse"])
def test_metrics_bind_defaults_to_localhost(tmp_path, base, load, _):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**base, "metrics": {"port": 9100}}))
    metrics = load(path).metrics
    assert (metrics.bind, metrics.port) == ("127.0.0.1", 9100)
    path.write_text(json.dumps(base))
    assert load(path).metrics is None


@pytest.mark.parametrize(("base", "load", "error"), LOADERS, ids=["nerve", "synapse"])
@pytest.mark.parametrize(
    "metrics", [{"bind": "0.0.0.0"}, {"port": -1}, {"port": 9100, "path": "/"}]
)
def test_bad_metrics_section_is_refused(tmp_path, base, load, error, metrics):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**base, "metrics": metrics}))
    with pytest.raises(error, match="metrics"):
        load(path)
