"""The znode a healthy service keeps in ZooKeeper: its name and payload (the wire contract).

Compatible with Airbnb's Ruby nerve (see DESIGN.md "Wire format"):
- plain:         <zk_path>/<instance_id>_<sequence>
- path-encoded:  <zk_path>/base64_<len>_<b64url(json)>_<seq>
- payload:       {"host", "port", "name"} plus optional "weight", "haproxy_server_options",
                 "labels".
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from .config import ServiceConfig

SEQUENTIAL = {"ephemeral_sequential", "persistent_sequential"}
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

    def owns_child(self, child: str) -> bool:
        """True when `child` is a node of this registration (any sequence number)."""
        if not child.startswith(self.prefix):
            return False
        rest = child[len(self.prefix) :]
        return rest.isdigit() if self.sequence else rest == ""


def payload_of(service: ServiceConfig) -> dict:
    data: dict = {"host": service.host, "port": service.port, "name": service.instance_id}
    if service.weight is not None:
        data["weight"] = service.weight
    if service.haproxy_server_options:
        data["haproxy_server_options"] = service.haproxy_server_options
    if service.labels:
        data["labels"] = dict(service.labels)
    return data


def encode_child_name(data: dict) -> str:
    """The path-encoded child name prefix: base64_<len>_<urlsafe-b64(json)>_."""
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"base64_{len(encoded)}_{encoded}_"


def registration_for(service: ServiceConfig) -> Registration:
    data = payload_of(service)
    prefix = encode_child_name(data) if service.use_path_encoding else f"{service.instance_id}_"
    return Registration(
        zk_path=service.zk_path,
        prefix=prefix,
        payload=json.dumps(data).encode(),
        ephemeral=service.node_type in EPHEMERAL,
        sequence=service.node_type in SEQUENTIAL,
    )
