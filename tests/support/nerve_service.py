"""A nerve-py service config for tests of the znode it writes (both sides of the wire contract)."""

from __future__ import annotations

from nerve_py.config import CheckSpec, ServiceConfig


def nerve_service(**kw) -> ServiceConfig:
    """A nerve-py service (noop check) as Ruby nerve's i-0abc would register it; `kw` overrides."""
    base = dict(
        name="web",
        instance_id="i-0abc",
        host="10.1.2.3",
        port=8080,
        zk_hosts=("z:2181",),
        zk_path="/nerve/services/web/services",
        checks=(CheckSpec("noop", '{"type": "noop"}'),),
    )
    base.update(kw)
    return ServiceConfig(**base)
