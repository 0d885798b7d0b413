"""Synapse configuration as frozen dataclasses (built from JSON after schema validation)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from smartstack_common.metrics import MetricsConfig
from smartstack_common.zk_security import (
    SecurityConfigError,
    ZkSecurity,
    load_security,
    world_readable,
)

from . import config_checks, discovery, schema
from .backend import Backend, InvalidNode, backend_from_dict
from .config_file import ConfigError, check_schema
from .config_sources import RawService, Sources, policy, read_all, refused
from .generators import plugin_generators
from .generators.haproxy import keywords as haproxy_keywords

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DiscoveryConfig:
    method: str  # a name in schema.DISCOVERY (a registered discovery method)
    hosts: tuple[str, ...] = ()
    path: str = ""
    # Ruby synapse: label_filter (deprecated) and label_filters, ANDed:
    # ({"label": ..., "value": ..., "condition": "equals" | "not-equals"}, ...)
    label_filters: tuple[dict, ...] = ()
    settings: Any = None  # the method's own keys, as its `settings` made them (frozen)


@dataclass(frozen=True)
class ServiceHaproxyConfig:
    port: int | None = None  # None: no frontend (unless bind_only)
    bind_only: bool = False  # Ruby's `"port": null`: bind to bind_address alone (unix@...)
    bind_address: str | None = None  # None: the top-level haproxy.bind_address
    bind_options: str | None = None  # appended to the bind line
    server_options: str = ""
    listen: tuple[str, ...] = ()
    frontend: tuple[str, ...] = ()
    backend: tuple[str, ...] = ()
    backend_name: str | None = None  # None: the service name
    shared_frontend: tuple[str, ...] = ()
    backend_order: str | None = None  # asc | desc | no_shuffle; else shuffled (Ruby)
    cookie_value_method: str | None = None  # hash; else the server name (Ruby)
    disabled: bool = False
    server_port_override: int | str | None = None  # legacy; backend_port_override wins

    @property
    def has_frontend(self) -> bool:
        return self.port is not None or self.bind_only


@dataclass(frozen=True)
class EnvoyHealthCheckConfig:
    """Our addition: Envoy active health checks (TCP connect, or HTTP GET of `http_path`)."""

    interval: float = 5.0
    timeout: float = 1.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 2
    http_path: str | None = None


@dataclass(frozen=True)
class ServiceEnvoyConfig:
    """Our addition: the service's Envoy listener and cluster."""

    port: int
    bind_address: str | None = None  # None: the top-level envoy.bind_address
    mode: str = "tcp"  # "tcp" | "http"
    connect_timeout: float = 1.0
    lb_policy: str = "round_robin"
    health_check: EnvoyHealthCheckConfig | None = None


@dataclass(frozen=True)
class ServiceFileOutputConfig:
    """Ruby synapse's per-service generator section: `"file_output": {"disabled": true}`."""

    disabled: bool = False


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    discovery: DiscoveryConfig
    haproxy: ServiceHaproxyConfig = field(default_factory=ServiceHaproxyConfig)
    envoy: ServiceEnvoyConfig | None = None
    file_output: ServiceFileOutputConfig = field(default_factory=ServiceFileOutputConfig)
    default_servers: tuple[Backend, ...] = ()
    keep_default_servers: bool = False
    use_previous_backends: bool = True
    backend_port_override: int | str | None = None  # as configured: "7778" stays a string
    mass_expiry_threshold: float = 0.5  # our addition: share of backends that may vanish at once
    mass_expiry_min_count: int = 3  # our addition: ... and how many must, for a hold
    mass_expiry_grace: float = 30.0  # our addition: seconds a sharper drop is held (0: off)
    # a generator plug-in's per-service section (read-only JSON), by generator name
    generator_sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def backend_name(self) -> str:
        return self.haproxy.backend_name or self.name

    @property
    def port_override(self) -> int | str | None:
        """The port every discovered backend gets (Ruby: backend_port_override, else the
        legacy haproxy.server_port_override), raw as configured; None: the registered port."""
        if self.backend_port_override is not None:
            return self.backend_port_override
        return self.haproxy.server_port_override


@dataclass(frozen=True)
class StatsConfig:
    """Our addition: the HAProxy stats page, bound to localhost by default."""

    enabled: bool = False
    bind_address: str = "127.0.0.1"
    port: int = 3212
    uri: str = "/"
    auth: str | None = None  # "user:password"
    show_legends: bool = False  # HAProxy's `stats show-legends`: addresses, ids, cookies
    prometheus: bool = False  # HAProxy's own exporter at schema.PROMETHEUS_PATH


@dataclass(frozen=True)
class HaproxyConfig:
    global_: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    extra_sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    bind_address: str = "localhost"
    config_file_path: str | None = None
    do_writes: bool = True
    do_reloads: bool = True
    reload_command: str | None = None
    do_socket: bool = True
    socket_file_path: str | None = None
    restart_interval: float = 2.0
    restart_jitter: float = 0.0
    state_file_path: str | None = None
    state_file_ttl: float = 86400.0
    do_checks: bool = False
    check_command: str | None = None
    candidate_config_file_path: str | None = None  # Ruby: where check_command finds the candidate
    stats: StatsConfig = field(default_factory=StatsConfig)
    shared_frontend: tuple[str, ...] | None = None  # None: no `frontend shared-frontend`
    use_nerve_weights: bool = False
    server_order_seed: int | None = None  # None: the generator draws one (Ruby: rand(2000))
    trust_registry_config: bool = False  # ours: use a service znode's own {"haproxy": ...}
    drain_timeout: float = 5.0  # ours: seconds a leaving server's sessions get before deletion


@dataclass(frozen=True)
class FileOutputConfig:
    output_directory: str


@dataclass(frozen=True)
class EnvoyConfig:
    """Our addition: where the Envoy files go and how Envoy's admin listener binds."""

    output_directory: str
    admin_port: int = 9901
    bind_address: str = "127.0.0.1"
    binary_path: str | None = None  # set: candidates are checked by `envoy --mode validate`
    resolve_timeout: float = 2.0


@dataclass(frozen=True)
class SynapseConfig:
    services: tuple[ServiceConfig, ...]
    haproxy: HaproxyConfig | None = None
    file_output: FileOutputConfig | None = None
    envoy: EnvoyConfig | None = None
    zk_session_timeout: float = 10.0
    metrics: MetricsConfig | None = None
    wait_min: float = (
        0.005  # quiet time the reconciler waits for after an event (consul-template's wait)
    )
    wait_max: float = 0.25  # ... but never longer than this after the first event of a burst
    wait_startup: float = 10.0  # the first apply waits this long at most for every service
    state_file_path: str | None = None  # top level, or Ruby's haproxy.state_file_path
    state_file_ttl: float = 86400.0
    # where the daemon publishes its status for `synapse-py status` (None: nowhere)
    status_file_path: str | None = None
    source: str = ""  # the file it was read from, for messages
    overlay: str | None = None  # the --config-overlay file merged over it
    zk_security: ZkSecurity = field(default_factory=ZkSecurity)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # accepted, not implemented
    # generator plug-ins' sections (their `settings`), by generator name
    generator_sections: Mapping[str, object] = field(default_factory=dict)

    def service(self, name: str) -> ServiceConfig:
        """The service called `name` (KeyError if none): a lookup, called per event."""
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, ServiceConfig]:
        return {s.name: s for s in self.services}


# --- loading ---------------------------------------------------------------------------------


def load_config(
    path: str | Path, overlay: str | Path | None = None, log_warnings: bool = True
) -> SynapseConfig:
    """Read, validate and convert a (Ruby synapse compatible) config; raise `ConfigError`.

    `overlay` (`--config-overlay`) is merged over it, see config_overlay. The warnings are in
    `.warnings`, and logged unless `log_warnings` is false.
    """
    raw, sources = read_all(str(path), None if overlay is None else str(overlay))
    check_schema(sources.main, raw, schema.CONFIG, sources.blame)  # every schema problem
    services = {name: sources.service(name, data) for name, data in raw.get("services", {}).items()}
    found: list[str] = []  # every problem past the schema, raised together
    no_security: tuple[ZkSecurity, tuple[str, ...]] = (ZkSecurity(), ())
    security, security_warnings = _collect(found, _security, sources.main, raw) or no_security
    warnings = (_collect(found, policy, sources, raw, services) or ()) + _dropped(services)
    warnings += security_warnings
    buildable = sorted(set(services) - refused(services))
    attempts = (_collect(found, _service, name, services[name]) for name in buildable)
    built = tuple(svc for svc in attempts if svc is not None)
    warnings += tuple(w for svc in built for w in _discovery_warnings(svc, services[svc.name]))
    config = SynapseConfig(
        services=built,
        haproxy=_haproxy(raw["haproxy"]) if "haproxy" in raw else None,
        file_output=FileOutputConfig(**raw["file_output"]) if "file_output" in raw else None,
        envoy=_collect(found, _envoy, sources.main, raw["envoy"]) if "envoy" in raw else None,
        zk_session_timeout=float(raw.get("zk_session_timeout", 10.0)),
        metrics=MetricsConfig(**raw["metrics"]) if "metrics" in raw else None,
        wait_min=float(raw.get("wait", {}).get("min", 0.005)),
        wait_max=float(raw.get("wait", {}).get("max", 0.25)),
        wait_startup=float(raw.get("wait", {}).get("startup", 10.0)),
        **(_collect(found, _state_file, sources.main, raw) or {}),
        status_file_path=_status_file(raw),
        source=sources.main,
        overlay=sources.overlay,
        zk_security=security,
        warnings=warnings,
        generator_sections={
            name: cls.settings(raw[name])
            for name, cls in plugin_generators().items()
            if name in raw
        },
    )
    found += _across(config, services, sources)  # the services that could be built
    if found:
        raise ConfigError("\n".join(found))
    for warning in warnings if log_warnings else ():
        log.warning("%s", warning)
    return config


def _collect(found: list[str], build: Callable[..., T], *args: Any) -> T | None:
    """`build(*args)`, or None with its ConfigError's lines added to `found`."""
    try:
        return build(*args)
    except ConfigError as e:
        found += str(e).splitlines()
        return None


def _across(
    config: SynapseConfig, services: Mapping[str, RawService], sources: Sources
) -> list[str]:
    """Names and addresses that collide between services (config_checks)."""
    origins = {
        name: config_checks.Origin(s.source, s.prefix, partial(sources.blame_in_service, name))
        for name, s in services.items()
    }
    return config_checks.problems(config, origins) + list(_portless_binds(config, services))


_SOCKET_ADDRESSES = ("unix@", "abns@", "fd@", "sockpair@", "/")


def _portless_binds(config: SynapseConfig, services: Mapping[str, RawService]) -> Iterator[str]:
    """`"port": null` binds to the address alone: only a socket address can do without a port."""
    for svc in config.services:
        hap = svc.haproxy
        address = hap.bind_address or (config.haproxy.bind_address if config.haproxy else "")
        if hap.bind_only and not hap.disabled and not address.startswith(_SOCKET_ADDRESSES):
            raw = services[svc.name]
            yield (
                f"{raw.source}: {raw.prefix}haproxy.port: null binds to {address!r} without a"
                " port, which HAProxy refuses; use a unix@/abns@/fd@ bind_address or a port"
            )


STATUS_FILE_NAME = "synapse-py-status.json"


def _status_file(raw: Mapping) -> str | None:
    """`status_file_path`, else a file beside haproxy.cfg (a folder synapse-py writes in)."""
    if "status_file_path" in raw:
        return str(raw["status_file_path"])
    cfg = raw.get("haproxy", {}).get("config_file_path")
    return str(Path(cfg).parent / STATUS_FILE_NAME) if cfg else None


def _state_file(source: str, raw: Mapping) -> dict[str, Any]:
    """The last-known-good state file: a top-level key (any generator) or Ruby's under haproxy."""
    hap = raw.get("haproxy", {})
    if "state_file_path" in raw and "state_file_path" in hap:
        raise ConfigError(
            f"{source}: state_file_path: set either the top-level key or "
            "haproxy.state_file_path, not both"
        )
    where = raw if "state_file_path" in raw else hap
    return {
        "state_file_path": where.get("state_file_path"),
        "state_file_ttl": float(where.get("state_file_ttl", 86400.0)),
    }


def _security(source: str, raw: Mapping) -> tuple[ZkSecurity, tuple[str, ...]]:
    try:
        security, warnings = load_security(raw, source)
    except SecurityConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if "auth" in raw.get("haproxy", {}).get("stats", {}) and world_readable(source):
        warnings.append(
            "haproxy.stats.auth: this file holds a password and is readable by every user; "
            "chmod o-r it"
        )
    return security, tuple(f"{source}: {w}" for w in warnings)


def _dropped(services: Mapping[str, RawService]) -> tuple[str, ...]:
    return tuple(w for name in sorted(services) for w in _dropped_lines(name, services[name]))


def _dropped_lines(name: str, service: RawService) -> Iterator[str]:
    """The service's haproxy lines Ruby's keyword lists (or HAProxy) would not take."""
    d = service.data.get("haproxy", {})
    lines = [_lines(d.get(k, [])) for k in ("listen", "frontend", "backend")]
    dropped = haproxy_keywords.sort_lines(*lines).dropped
    if dropped:
        haproxy_keywords.mark_said(f"{name}: haproxy", dropped)  # the generator says it here
        message = haproxy_keywords.dropped_message(dropped)
        yield f"{service.source}: {service.prefix}haproxy: lines {message}"


# --- raw (schema-valid) dicts to dataclasses -------------------------------------------------


def _service(name: str, raw: RawService) -> ServiceConfig:
    d = raw.data
    return ServiceConfig(
        name=name,
        discovery=discovery_config(_with_multi(d), raw),
        haproxy=service_haproxy(d.get("haproxy", {}), raw),
        envoy=_service_envoy(raw, d["envoy"]) if _enabled(d, "envoy") else None,
        file_output=ServiceFileOutputConfig(**d.get("file_output", {})),
        generator_sections={
            name: MappingProxyType(dict(d[name])) for name in plugin_generators() if name in d
        },
        default_servers=tuple(_default_servers(raw, d.get("default_servers", []))),
        keep_default_servers=d.get("keep_default_servers", False),
        use_previous_backends=d.get("use_previous_backends", True),
        backend_port_override=_port_override(raw, "backend_port_override", d),
        mass_expiry_threshold=float(d.get("mass_expiry_threshold", 0.5)),
        mass_expiry_min_count=int(d.get("mass_expiry_min_count", 3)),
        mass_expiry_grace=float(d.get("mass_expiry_grace", 30.0)),
    )


def _enabled(service: Mapping, generator: str) -> bool:
    """Whether the service has a section for `generator` without `"disabled": true`."""
    return generator in service and not service[generator].get("disabled", False)


def _with_multi(service: Mapping) -> Mapping:
    """The service's discovery section; with Ruby's `discovery_multi`, the multi it makes."""
    if "discovery_multi" not in service:
        return service["discovery"]
    return discovery.multi.merged(service["discovery_multi"], service["discovery"])


def discovery_config(d: Mapping, raw: RawService | None = None) -> DiscoveryConfig:
    """A schema-valid discovery section (a service's, or a watcher's of `multi`)."""
    try:  # the method's own checks beyond its schema (a dns entry's host, a nameserver's port)
        settings = discovery.DISCOVERY[d["method"]].settings(d)
    except ValueError as e:
        where = f"{raw.source}: {raw.prefix}" if raw else ""
        raise ConfigError(f"{where}discovery.{e}") from None
    path = d.get("path", "")
    return DiscoveryConfig(
        method=d["method"],
        hosts=tuple(d.get("hosts", ())),
        path=path.rstrip("/") or path,
        label_filters=tuple([d["label_filter"]] if "label_filter" in d else [])
        + tuple(d.get("label_filters", ())),
        settings=settings,
    )


def _discovery_warnings(svc: ServiceConfig, raw: RawService) -> Iterator[str]:
    """What the method's settings found harmless but worth saying (`warnings`, if it has any)."""
    for warning in getattr(svc.discovery.settings, "warnings", ()):
        yield f"{raw.source}: {raw.prefix}discovery.{warning}"


def service_haproxy(d: Mapping, raw: RawService | None = None) -> ServiceHaproxyConfig:
    """A schema-valid service `haproxy` section (local, or from the registry) as a dataclass."""
    keys = ("listen", "frontend", "backend", "shared_frontend")
    lines = {k: _lines(d[k]) for k in keys if k in d}
    port, options = d.get("port"), d.get("server_options", "")
    if isinstance(options, list):  # Ruby's YAML example writes a list of options
        options = " ".join(options)
    return _from_dict(
        ServiceHaproxyConfig,
        d,
        port=None if port is None else int(port),
        server_options=options,
        bind_only="port" in d and port is None,
        server_port_override=_port_override(raw, "haproxy.server_port_override", d),
        **lines,
    )


def _port_override(raw: RawService | None, key_path: str, d: Mapping) -> int | str | None:
    """A port override, raw as configured (Ruby: an integer or a digit string)."""
    value = d.get(key_path.rpartition(".")[2])
    if value is not None and not 1 <= int(value) <= 65535:
        where = f"{raw.source}: {raw.prefix}" if raw else ""
        raise ConfigError(f"{where}{key_path}: not a port in 1..65535")
    return value


def _service_envoy(raw: RawService, d: Mapping) -> ServiceEnvoyConfig:
    _check_ip(raw.source, f"{raw.prefix}envoy.bind_address", d.get("bind_address"))
    check = d.get("health_check")
    health = EnvoyHealthCheckConfig(**check) if check is not None else None
    return _from_dict(ServiceEnvoyConfig, {k: v for k, v in d.items() if k != "disabled"},
                      health_check=health)  # fmt: skip


def _envoy(source: str, d: Mapping) -> EnvoyConfig:
    _check_ip(source, "envoy.bind_address", d.get("bind_address"))
    return EnvoyConfig(**d)


def _check_ip(source: str, key_path: str, value: str | None) -> None:
    """Envoy binds IP literals only; the schema checked the characters, this the address."""
    try:
        if value is not None:
            ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{source}: {key_path}: not an IP address") from None


def _lines(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _default_servers(raw: RawService, servers: list[Mapping]) -> Iterator[Backend]:
    for i, server in enumerate(servers):
        try:
            yield backend_from_dict(server)
        except InvalidNode as e:
            raise ConfigError(f"{raw.source}: {raw.prefix}default_servers.{i}: {e}") from None


def _haproxy(d: Mapping) -> HaproxyConfig:
    sockets = d.get("socket_file_path")
    return _from_dict(
        HaproxyConfig,
        d,
        global_=tuple(d.get("global", ())),
        defaults=tuple(d.get("defaults", ())),
        extra_sections=tuple((k, tuple(v)) for k, v in d.get("extra_sections", {}).items()),
        socket_file_path=sockets[0] if isinstance(sockets, list) else sockets,
        stats=StatsConfig(**d.get("stats", {})),
        shared_frontend=_lines(d["shared_frontend"]) if "shared_frontend" in d else None,
    )


def _from_dict(cls: type, d: Mapping, **converted: Any) -> Any:
    """Build `cls` from the keys of `d` that are its field names, then the converted values."""
    plain = {f.name: d[f.name] for f in fields(cls) if f.name in d}
    return cls(**{**plain, **converted})
