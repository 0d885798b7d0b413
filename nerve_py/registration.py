"""The znode a healthy service keeps in ZooKeeper: its name and payload (the wire contract).

Compatible with Airbnb's Ruby nerve (docs/migration.md "What is identical (the wire)"):
- plain:         <zk_path>/<instance_id>_<sequence>
- path-encoded:  <zk_path>/base64_<len>_<b64url(json)>_<seq>
- payload:       {"host", "port", "name"} plus optional "weight", "haproxy_server_options",
                 "labels".

The payload is byte-identical to Ruby nerve's for the same service (Ruby's `to_json`): compact,
raw UTF-8, keys in that order, each present when configured (an empty string or `{}` included),
labels in config order. So a host that switches daemons presents the very same node, and a
path-encoded name is the same string.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from .config import ServiceConfig

SEQUENTIAL = {"ephemeral_sequential", "persistent_sequential"}
PATH_ENCODING_MAX_LENGTH = 65536  # Ruby nerve's: a longer encoded name falls back to the plain one
EPHEMERAL = {"ephemeral_sequential", "ephemeral"}


@dataclass(frozen=True)
class Registration:
    """What nerve writes for one service."""

    zk_path: str
    prefix: str  # child name up to the sequence number
    payload: bytes
    ephemeral: bool
    sequence: bool

    @property
    def path_prefix(self) -> str:
        return f"{self.zk_path}/{self.prefix}"


def payload_of(service: ServiceConfig) -> dict:
    data: dict = {"host": service.host, "port": service.wire_port, "name": service.instance_id}
    if service.weight is not None:
        data["weight"] = service.weight
    if service.haproxy_server_options is not None:
        data["haproxy_server_options"] = service.haproxy_server_options
    if service.labels is not None:
        data["labels"] = dict(service.labels)
    return data


def encode_payload(data: dict) -> bytes:
    """JSON as Ruby writes it: no spaces, non-ASCII as raw UTF-8, keys in insertion order."""
    return _ruby_json(data).encode("utf-8")


def _ruby_json(value) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{_ruby_json(k)}:{_ruby_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return _ruby_float(value)
    return json.dumps(value, ensure_ascii=False)


def _ruby_float(number: float) -> str:
    """Ruby's Float#to_s: Python's shortest repr, but an exponent's mantissa keeps its `.0`."""
    mantissa, e, exponent = repr(number).partition("e")
    if e and "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def encode_child_name(data: dict) -> str | None:
    """The path-encoded child name prefix `base64_<len>_<urlsafe-b64(json)>_`; None if too long."""
    encoded = base64.urlsafe_b64encode(encode_payload(data)).decode()
    if len(encoded) > PATH_ENCODING_MAX_LENGTH:
        return None
    return f"base64_{len(encoded)}_{encoded}_"


def registration_for(service: ServiceConfig) -> Registration:
    data = payload_of(service)
    encoded = encode_child_name(data) if service.use_path_encoding else None
    return Registration(
        zk_path=service.zk_path,
        prefix=encoded or f"{service.instance_id}_",
        payload=encode_payload(data),
        ephemeral=service.node_type in EPHEMERAL,
        sequence=service.node_type in SEQUENTIAL,
    )
