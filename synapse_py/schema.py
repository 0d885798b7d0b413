"""JSON Schema of the synapse config: the Ruby synapse's keys plus ours (see docs/synapse.md).

The key policy (docs/migration.md) for the Ruby synapse 0.18.9 keys we do not implement:

- `KNOBS`: tuning or telemetry; ignoring one changes neither what is registered nor where traffic
  goes. The schema lets them through (any value); config_sources warns once per key.
- `UNSUPPORTED`: ignoring one would change routing. The schema lets them through so that
  config_sources can refuse them with a message that says why (a value equal to Ruby's default,
  listed in `HARMLESS`, is accepted).
- A discovery `method` other than those in `DISCOVERY` (the one list of implemented methods) is an
  error naming it; so is one that nests others (`multi`) as a child of another.
"""

from __future__ import annotations

from typing import Any

from smartstack_common.metrics import METRICS_SCHEMA
from smartstack_common.zk_security import AUTH_SCHEMA, TLS_SCHEMA

from . import discovery
from .generators import plugin_generators

# section -> {key: what synapse-py does instead}. Sections: "" (top level), "haproxy", "service",
# "service.haproxy", "service.discovery".
KNOBS: dict[str, dict[str, str]] = {
    "": {"statsd": "no statsd metrics are sent (see `metrics` for Prometheus)"},
    "haproxy": {
        "max_server_id": "server ids are assigned by synapse-py",
    },
    "service": {
        "load_test_concurrency": "one watcher runs (Ruby starts N copies, for load tests only)",
    },
    "service.haproxy": {},
    "service.discovery": {
        "discovery_jitter": "every change is applied after `wait` (no extra sleep)",
        "retry_policy": "ZooKeeper calls are retried by synapse-py's own policy",
    },
}
UNSUPPORTED: dict[str, dict[str, str]] = {
    "": {"nginx": "there is no nginx generator"},
    "service": {
        "nginx": "there is no nginx generator",
        "leader_election": "leader election (route to one backend only) is not implemented",
    },
    "service.discovery": {
        "decode": "only the nerve format is decoded (no serverset)",
        "generator_config_path": (
            'generator config from ZooKeeper is not read; only "disabled" is supported'
        ),
    },
}
# a generator plug-in (e.g. an nginx one) makes its section supported
_GENERATOR_PLUGINS = plugin_generators()
for _name in _GENERATOR_PLUGINS:
    UNSUPPORTED[""].pop(_name, None)
    UNSUPPORTED["service"].pop(_name, None)
# values of UNSUPPORTED keys that ask for what synapse-py does anyway
HARMLESS: dict[str, tuple[Any, ...]] = {
    "leader_election": (False,),
    "decode": ({"method": "nerve"},),
    "generator_config_path": ("disabled",),
}
NAME_PATTERN = "^[A-Za-z0-9_.:-]+$"  # service and backend names become HAProxy ids and file names

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_SECONDS = {"type": "number", "minimum": 0}
NAME_WORDS = "letters, digits, _ . : and - only"  # NAME_PATTERN in words, for messages
_NAME = {
    "type": "string",
    "pattern": NAME_PATTERN,
    "maxLength": 255,
    "description": f"must be {NAME_WORDS}",
}
_STR_LIST = {"type": "array", "items": _STR}
_DURATION = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
_IP = {  # Envoy binds IP literals only
    "type": "string",
    "pattern": "^[0-9A-Fa-f.:]{2,45}$",
    "description": "must be an IP address (Envoy binds IP literals, not names)",
}
_LINES = {"anyOf": [_STR, _STR_LIST]}  # Ruby examples use both `"frontend": "mode tcp"` and lists


def _object(section: str | None, props: dict, required: tuple[str, ...] = ()) -> dict:
    """A closed object: unknown keys are errors; the policy's Ruby keys pass (see `findings`)."""
    ruby = {} if section is None else {**KNOBS[section], **UNSUPPORTED.get(section, {})}
    accepted = dict.fromkeys(ruby, True)
    return {
        "type": "object",
        "properties": {**accepted, **props},
        "required": list(required),
        "additionalProperties": False,
    }


# Ruby synapse drops every node for a filter without a (known) condition: required here
LABEL_FILTER = _object(
    None,
    {"label": _STR, "value": _STR, "condition": {"enum": ["equals", "not-equals"]}},
    required=("label", "value", "condition"),
)
_PORT_STRING = {  # range: config.py
    "type": "string",
    "pattern": "^[0-9]{1,5}$",
    "description": "must be a port: digits only",
}
PORT_OVERRIDE = {"anyOf": [_PORT, _PORT_STRING, {"type": "null"}]}  # Ruby: digits only

# other keys of a default server (e.g. `id`) are written to file_output as they are, as in Ruby
DEFAULT_SERVER = _object(
    None,
    {
        "name": {"anyOf": [_NAME, {"const": ""}, {"type": "null"}]},
        "host": _STR,
        "port": {"anyOf": [_PORT, _PORT_STRING]},
        "weight": {"type": ["integer", "null"], "minimum": 0, "maximum": 256},
        "haproxy_server_options": {"type": ["string", "null"]},
        "labels": {
            "type": ["object", "null"],
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
    },
    required=("host", "port"),
) | {"additionalProperties": True}

_FILTERS = {"type": "array", "items": LABEL_FILTER}
_FILTER_KEYS = {"label_filters": _FILTERS, "label_filter": LABEL_FILTER}  # singular: deprecated


def _method_schema(method: str, cls: type[discovery.Discovery], child: dict) -> dict:
    """A method's section: its own keys (`keys`, `required`) and those every method takes; the
    keys it names `nested` hold child sections, each validated by `child`."""
    props = {"method": {"const": method}, **_FILTER_KEYS, **cls.keys}
    for key in getattr(cls, "nested", ()):
        props[key] = {**props[key], "additionalProperties": child}
    return _object("service.discovery", props, required=cls.required)


def _when_method(method: str, then: dict) -> dict:
    return {"if": {"properties": {"method": {"const": method}}}, "then": then}


def _dispatch(sections: dict[str, dict]) -> dict:
    """A discovery section: the schema of its method; any other method is refused by
    `config_sources`, with the method's name."""
    return {
        "type": "object",
        "required": ["method"],
        "properties": {"method": {"type": "string", "minLength": 1}},
        "allOf": [_when_method(method, then) for method, then in sections.items()],
    }


_METHODS = discovery.methods()
# a child section (a watcher of `multi`) is of a method that does not nest others
CHILD_DISCOVERY_SCHEMA = _dispatch(
    {m: _method_schema(m, c, {}) for m, c in _METHODS.items() if not getattr(c, "nested", ())}
)
# the discovery methods synapse-py implements (built in or plug-ins), and the schema of each
DISCOVERY: dict[str, dict] = {
    m: _method_schema(m, c, CHILD_DISCOVERY_SCHEMA) for m, c in _METHODS.items()
}
DISCOVERY_SCHEMA = _dispatch(DISCOVERY)


def _discovery_multi(multi: dict) -> dict:
    """Ruby's service key `discovery_multi`: the keys of `multi`, whose watcher `primary` is the
    service's `discovery` (see synapse_py/discovery/multi.py, `merged`)."""
    props = {key: multi["properties"][key] for key in ("watchers", "resolver")}
    props["watchers"] = {**props["watchers"], "minProperties": 0}
    return _object(None, {"method": {"const": "multi"}, **props}, required=("resolver",))


SERVICE_HAPROXY = _object(
    "service.haproxy",
    {
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "bind_address": _STR,
        "server_options": {"anyOf": [_STR, _STR_LIST]},  # a list is joined with spaces
        "listen": _LINES,
        "frontend": _LINES,
        "backend": _LINES,
        "backend_name": _NAME,
        "disabled": _BOOL,
        "bind_options": _STR,
        "shared_frontend": _LINES,
        "backend_order": _STR,  # asc, desc, no_shuffle; anything else shuffles (as in Ruby)
        "cookie_value_method": _STR,  # hash; anything else: the server name (as in Ruby)
        "server_port_override": PORT_OVERRIDE,  # legacy: backend_port_override wins
    },
)

ENVOY_HEALTH_CHECK = _object(
    None,
    {
        "interval": _DURATION,
        "timeout": _DURATION,
        "healthy_threshold": {"type": "integer", "minimum": 1, "maximum": 1000},
        "unhealthy_threshold": {"type": "integer", "minimum": 1, "maximum": 1000},
        "http_path": {
            "type": "string",
            "pattern": "^/[A-Za-z0-9_.~/%?=&-]*$",
            "maxLength": 512,
            "description": "must start with / and hold letters, digits and _ . ~ / % ? = & - only",
        },
    },
)

# our addition (the Ruby synapse has no Envoy): see docs/envoy.md
SERVICE_ENVOY = _object(
    None,
    {
        "disabled": _BOOL,  # as the Ruby generators' per-service `disabled`
        "port": _PORT,
        "bind_address": _IP,
        "mode": {"enum": ["tcp", "http"]},
        "connect_timeout": _DURATION,
        "lb_policy": {"enum": ["round_robin", "least_request", "random", "ring_hash", "maglev"]},
        "health_check": ENVOY_HEALTH_CHECK,
    },
)
SERVICE_ENVOY["if"] = {"properties": {"disabled": {"const": True}}, "required": ["disabled"]}
SERVICE_ENVOY["else"] = {"required": ["port"]}

SERVICE = _object(
    "service",
    {
        "discovery": DISCOVERY_SCHEMA,
        "discovery_multi": _discovery_multi(DISCOVERY["multi"]),
        "haproxy": SERVICE_HAPROXY,
        "envoy": SERVICE_ENVOY,
        "default_servers": {"type": "array", "items": DEFAULT_SERVER},
        "backend_port_override": PORT_OVERRIDE,
        "file_output": _object(None, {"disabled": _BOOL}),
        "keep_default_servers": _BOOL,
        "use_previous_backends": _BOOL,
        "mass_expiry_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "mass_expiry_min_count": {"type": "integer", "minimum": 1},
        "mass_expiry_grace": _SECONDS,
        **{  # a generator plug-in's per-service section (base.GeneratorBase.service_keys)
            name: _object(None, dict(cls.service_keys))
            for name, cls in _GENERATOR_PLUGINS.items()
            if cls.service_keys
        },
    },
    required=("discovery",),
)

PROMETHEUS_PATH = "/metrics"  # where the stats listener serves HAProxy's Prometheus exporter
STATS = _object(
    None,
    {
        "enabled": _BOOL,
        "bind_address": {"type": "string", "minLength": 1},
        "port": _PORT,
        # no `#` (HAProxy starts a comment there), quotes or backslashes (HAProxy unquotes them)
        "uri": {
            "type": "string",
            "pattern": "^/[^\\s#\"'\\\\]*$",
            "description": "must start with / and hold no spaces, #, quotes or backslashes",
        },
        "auth": {
            "type": "string",
            "pattern": "^[^:\\s#\"'\\\\]+:[^\\s#\"'\\\\]+$",
            "description": "must be user:password, without spaces, #, quotes or backslashes",
        },
        "show_legends": _BOOL,
        "prometheus": _BOOL,
    },
)


def _required_unless_false(flag: str, needed: str) -> dict:
    """Ruby synapse: `needed` is required unless `flag` is explicitly false (flags default true)."""
    return {
        "if": {"properties": {flag: {"const": False}}, "required": [flag]},
        "else": {"required": [needed]},
    }


HAPROXY = {
    **_object(
        "haproxy",
        {
            "global": _STR_LIST,
            "defaults": _STR_LIST,
            "extra_sections": {"type": "object", "additionalProperties": _STR_LIST},
            "bind_address": {"type": "string", "minLength": 1},
            "config_file_path": {"type": "string", "minLength": 1},
            "do_writes": _BOOL,
            "do_reloads": _BOOL,
            "reload_command": {"type": "string", "minLength": 1},
            "do_socket": _BOOL,
            "socket_file_path": {
                "anyOf": [{"type": "string", "minLength": 1}, {**_STR_LIST, "minItems": 1}]
            },
            "restart_interval": _SECONDS,
            "restart_jitter": {"type": "number", "minimum": 0, "maximum": 1},
            "state_file_path": {"type": "string", "minLength": 1},
            "state_file_ttl": {"type": "number", "exclusiveMinimum": 0},
            "do_checks": _BOOL,
            "check_command": {"type": "string", "minLength": 1},
            "candidate_config_file_path": {"type": "string", "minLength": 1},
            "stats": STATS,
            "shared_frontend": _LINES,
            "use_nerve_weights": _BOOL,
            "server_order_seed": {"type": "integer"},
            "trust_registry_config": _BOOL,  # ours: see docs/synapse.md
            "drain_timeout": {"type": "number", "minimum": 0, "maximum": 3600},  # ours
        },
    ),
    "allOf": [
        _required_unless_false("do_writes", "config_file_path"),
        _required_unless_false("do_reloads", "reload_command"),
        _required_unless_false("do_socket", "socket_file_path"),
        {  # Ruby synapse: do_checks (default false) needs a check_command
            "if": {"properties": {"do_checks": {"const": True}}, "required": ["do_checks"]},
            "then": {"required": ["check_command"]},
        },
    ],
}

ENVOY = _object(
    None,
    {
        "output_directory": {"type": "string", "minLength": 1},
        "admin_port": _PORT,
        "bind_address": _IP,
        "binary_path": {"type": "string", "minLength": 1},
        "resolve_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
    },
    required=("output_directory",),
)

CONFIG = _object(
    "",
    {
        "services": {
            "type": "object",
            # length and a leading ".": config_checks, with the other collisions, all at once
            "propertyNames": {
                "pattern": NAME_PATTERN,
                "description": f"a service name is {NAME_WORDS}",
            },
            "additionalProperties": SERVICE,
        },
        "service_conf_dir": {"type": "string", "minLength": 1},
        "haproxy": HAPROXY,
        "file_output": _object(None, {"output_directory": _STR}, required=("output_directory",)),
        "envoy": ENVOY,
        "zk_session_timeout": {"type": "number", "minimum": 1, "maximum": 3600},
        "state_file_path": {"type": "string", "minLength": 1},
        "state_file_ttl": {"type": "number", "exclusiveMinimum": 0},
        "status_file_path": {"type": "string", "minLength": 1},
        "zk_auth": AUTH_SCHEMA,
        "zk_tls": TLS_SCHEMA,
        "metrics": METRICS_SCHEMA,
        "wait": _object(
            None,
            {
                "min": {"type": "number", "minimum": 0, "maximum": 60},
                "max": {"type": "number", "minimum": 0, "maximum": 600},
                "startup": {"type": "number", "minimum": 0, "maximum": 3600},
            },
        ),
        **{  # a generator plug-in's section: its own keys (base.GeneratorBase.keys, required)
            name: _object(None, dict(cls.keys), tuple(cls.required))
            for name, cls in _GENERATOR_PLUGINS.items()
        },
    },
)
