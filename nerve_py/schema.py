"""JSON Schema of the nerve config: Ruby nerve's keys plus ours (see docs/nerve.md)."""

from __future__ import annotations

from typing import Any

from smartstack_common.metrics import METRICS_SCHEMA
from smartstack_common.zk_security import AUTH_SCHEMA, TLS_SCHEMA

# Ruby nerve keys we accept but do not implement: a warning names each one.
RUBY_UNIMPLEMENTED_TOP = frozenset({"statsd"})
# per service, Ruby nerve overwrites max_repeated_report_failures with the top-level value
RUBY_UNIMPLEMENTED_SERVICE = frozenset(
    {"load_test_concurrency", "etcd_host", "etcd_port", "etcd_path", "zk_auth",
     "max_repeated_report_failures"}
)  # fmt: skip
NODE_TYPES = ["ephemeral_sequential", "ephemeral", "persistent", "persistent_sequential"]

_POS_NUMBER = {"type": "number", "exclusiveMinimum": 0}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_DIGITS = {  # Ruby accepts a digit string; see config.py
    "type": "string",
    "pattern": "^[0-9]+$",
    "description": "must be digits only",
}
_NAME = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_.:-]+$",
    "maxLength": 255,
    "description": "must be letters, digits, _ . : and - only",
}

CHECK_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "host": {"type": "string", "minLength": 1},
        "port": _PORT,
        "timeout": _POS_NUMBER,
        "rise": {"type": "integer", "minimum": 1},
        "fall": {"type": "integer", "minimum": 1},
    },
    # type-specific keys are checked by the check plugin itself
}

SERVICE_SCHEMA = {
    "type": "object",
    "required": ["host", "port", "zk_hosts", "zk_path"],
    "additionalProperties": False,
    "properties": {
        "host": {"type": "string", "minLength": 1},
        "port": {"anyOf": [_PORT, _DIGITS]},
        "reporter_type": {"enum": ["zookeeper"]},
        "zk_hosts": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "zk_path": {
            "type": "string",
            "pattern": "^/.*[^/]$|^/[^/]+$",
            "description": "must be absolute (start with /) and not end with /",
        },
        "check_interval": _POS_NUMBER,
        "checks": {"type": "array", "items": CHECK_SCHEMA},
        "weight": {"anyOf": [{"type": "integer", "minimum": 0}, _DIGITS]},
        "haproxy_server_options": {"type": "string", "maxLength": 512},
        "labels": {
            "type": "object",
            "maxProperties": 64,
            "propertyNames": {"maxLength": 128},
            "additionalProperties": {
                "type": ["string", "number", "boolean", "null"],
                "maxLength": 512,
            },
        },
        "node_type": {"enum": NODE_TYPES},
        "use_path_encoding": {},  # any value; only the boolean true turns it on, as in Ruby
        # h2 (issue 12): Ruby nerve 0.9.7's reporting keys, with Ruby's defaults (see config.py)
        "rate_limiting": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "shadow_mode": {"type": "boolean"},
                "average_rate": {"type": "number", "minimum": 0},
                "max_burst": {"type": "number", "minimum": 1},
            },
        },
        # the flat spelling of other Ruby nerve revisions; config.py maps it onto rate_limiting
        "rate_limit_enabled": {"type": "boolean"},
        "rate_limit_avg": {"type": "number", "minimum": 0},
        "rate_limit_burst": {"type": "number", "minimum": 1},
        "check_mocked": {"type": "boolean"},
        "ttl_seconds": _POS_NUMBER,
        **{k: {} for k in RUBY_UNIMPLEMENTED_SERVICE},
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["instance_id"],
    "additionalProperties": False,
    "properties": {
        "instance_id": _NAME,
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA},
        "service_conf_dir": {"type": "string", "minLength": 1},
        "heartbeat_path": {"type": "string", "minLength": 1},
        "max_repeated_report_failures": {"type": "integer", "minimum": 1},
        # our additions
        "zk_session_timeout": {"type": "number", "minimum": 1, "maximum": 600},
        "state_dir": {"type": "string", "minLength": 1},
        "zk_auth": AUTH_SCHEMA,
        "zk_tls": TLS_SCHEMA,
        "metrics": METRICS_SCHEMA,
        **{k: {} for k in RUBY_UNIMPLEMENTED_TOP},
    },
}
