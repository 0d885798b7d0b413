"""Load and validate a nerve config (Ruby nerve compatible) into frozen dataclasses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from smartstack_common.metrics import MetricsConfig
from smartstack_common.overlay import merge_overlay
from smartstack_common.zk_security import SecurityConfigError, ZkSecurity, load_security

from . import schema
from .checks import CheckConfigError, build_check
from .config_file import join, read_document
from .errors import ConfigError, ConfigProblems
from .registry_warnings import skipped_by_synapse
from .service_files import RawService, gather_services
from .validation import PARTIAL_CONFIG, problems, ruby_only_warnings, validate

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_STATE_DIR = "/var/lib/nerve-py"
INSTANCE_ID_FLAG = "-i/--instance_id (or NERVE_INSTANCE_ID)"
_INSTANCE_ID_ONLY = {
    "properties": {"instance_id": schema.CONFIG_SCHEMA["properties"]["instance_id"]}
}


@dataclass(frozen=True)
class CheckSpec:
    """One check's config, frozen; `params()` gives the mapping the check plugin is built from."""

    type: str
    canonical: str  # the whole check config as canonical JSON

    def params(self) -> dict[str, Any]:
        return json.loads(self.canonical)


@dataclass(frozen=True)
class RateLimit:
    """Ruby nerve's `rate_limiting`, with its defaults: shadow mode logs, never throttles."""

    shadow_mode: bool = True
    average_rate: float = 10.0
    max_burst: float = 100.0


@dataclass(frozen=True)
class ServiceConfig:
    """One service to check and register."""

    name: str
    instance_id: str
    host: str
    port: int
    zk_hosts: tuple[str, ...]
    zk_path: str
    checks: tuple[CheckSpec, ...]
    check_interval: float = 0.5
    weight: int | None = None
    haproxy_server_options: str | None = None
    labels: tuple[tuple[str, Any], ...] | None = None  # config order; None when not configured
    node_type: str = "ephemeral_sequential"
    use_path_encoding: bool = False
    rate_limiting: RateLimit = RateLimit()
    port_string: str | None = None  # the port as the config spelled it, when a digit string
    check_mocked: bool = False
    ttl_seconds: float | None = None

    @property
    def ensemble(self) -> str:
        """The ZooKeeper connection string; services with the same one share a client."""
        return ",".join(sorted(self.zk_hosts))

    @property
    def wire_port(self) -> int | str:
        """The port as the node carries it: Ruby nerve publishes a digit string verbatim."""
        return self.port if self.port_string is None else self.port_string


@dataclass(frozen=True)
class NerveConfig:
    instance_id: str
    services: tuple[ServiceConfig, ...]
    source: str = ""
    heartbeat_path: str | None = None
    max_repeated_report_failures: int = 10
    zk_session_timeout: float = 10.0
    state_dir: str = DEFAULT_STATE_DIR
    metrics: MetricsConfig | None = None
    zk_security: ZkSecurity = field(default_factory=ZkSecurity)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    overlay: str | None = None  # --config-overlay
    instance_id_override: str | None = None  # -i / NERVE_INSTANCE_ID

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)


def load_config(
    path: str | Path,
    overlay: str | Path | None = None,
    instance_id: str | None = None,
    log_warnings: bool = True,
) -> NerveConfig:
    """Read, validate and freeze the config at `path`, its service_conf_dir and `overlay`.

    `instance_id` (Ruby's `-i`) replaces the file's instance_id when given and not empty. The
    warnings are in `.warnings`, and logged unless `log_warnings` is false (`validate` prints
    them itself: logged too, each would be printed twice). Every problem found is raised at
    once (ConfigProblems when there are several).
    """
    source = str(path)
    warnings: list[str] = []
    found: list[ConfigError] = []  # every problem, raised together at the end
    main = (source, _read_top(source, warnings, found))
    over = (str(overlay), _read_top(str(overlay), warnings, found)) if overlay else None
    raw, where = _top_level(main, over, instance_id, found)
    services = gather_services(main, over, warnings, found)
    if not services:  # Ruby nerve runs (and a SIGHUP reaps every watcher): so do we, and say so
        warnings.append(f"{where}: no services defined (services or service_conf_dir)")
    instance = raw.get("instance_id", "")
    built = tuple(_collect(found, _service, s, instance, warnings) for s in services.values())
    if not found:  # zk_auth and zk_tls are read only once the schema holds
        security = _collect(found, _security, raw, source, over, warnings)
    if found:
        raise ConfigProblems.of(found)
    for w in warnings if log_warnings else ():
        log.warning("%s", w)
    return NerveConfig(
        instance_id=raw["instance_id"],
        services=built,
        source=source,
        heartbeat_path=raw.get("heartbeat_path"),
        max_repeated_report_failures=raw.get("max_repeated_report_failures", 10),
        zk_session_timeout=float(raw.get("zk_session_timeout", 10.0)),
        state_dir=raw.get("state_dir", DEFAULT_STATE_DIR),
        metrics=MetricsConfig(**raw["metrics"]) if "metrics" in raw else None,
        zk_security=security,
        warnings=tuple(warnings),
        overlay=over[0] if over else None,
        instance_id_override=instance_id or None,
    )


def _top_level(
    main: tuple, over: tuple | None, instance_id: str | None, found: list[ConfigError]
) -> tuple[dict, str]:
    """The merged top level, validated whole, and how to name the files in an error."""
    raw = merge_overlay(main[1], over[1]) if over else dict(main[1])
    if instance_id:
        found += problems({"instance_id": instance_id}, _INSTANCE_ID_ONLY, INSTANCE_ID_FLAG)
        raw["instance_id"] = instance_id
    where = f"{main[0]} (with overlay {over[0]})" if over else main[0]
    found += problems({**raw, "services": {}}, schema.CONFIG_SCHEMA, where)
    return raw, where


def _collect(found: list[ConfigError], build: Callable[..., T], *args: Any) -> T:
    """`build(*args)`; a ConfigError is added to `found` (the caller raises them all)."""
    try:
        return build(*args)
    except ConfigError as e:
        found.append(e)
        return None  # type: ignore[return-value]  # never used: `found` is raised first


def reload_config(config: NerveConfig) -> NerveConfig:
    """Read `config`'s files again, the same way (SIGHUP)."""
    return load_config(config.source, config.overlay, config.instance_id_override)


def _read_top(source: str, warnings: list[str], found: list[ConfigError]) -> dict:
    doc = read_document(source)
    found += problems(doc, PARTIAL_CONFIG, source)
    warnings += ruby_only_warnings(doc, source, schema.RUBY_UNIMPLEMENTED_TOP)
    return doc


def _security(raw: dict, source: str, over: tuple | None, warnings: list[str]) -> ZkSecurity:
    """zk_auth and zk_tls, each read relative to the file that holds it."""
    found = {}
    for key in ("zk_auth", "zk_tls"):
        holder = over[0] if over and key in over[1] else source
        found[key] = _security_part({key: raw[key]} if key in raw else {}, holder, warnings)
    return ZkSecurity(found["zk_auth"].auth, found["zk_tls"].tls)


def _security_part(raw: dict, source: str, warnings: list[str]) -> ZkSecurity:
    try:
        security, found = load_security(raw, source)
    except SecurityConfigError as e:
        raise ConfigError(source, e.key_path, e.problem) from None
    warnings += [f"{source}: {w}" for w in found]
    return security


def _service(raw: RawService, instance_id: str, warnings: list[str]) -> ServiceConfig:
    svc, at = raw.doc, _At(raw.source, raw.prefix)
    validate(svc, schema.SERVICE_SCHEMA, raw.source, raw.prefix)
    warnings += skipped_by_synapse(svc, raw.source, raw.prefix)
    found: list[ConfigError] = []
    port, port_string = _collect(found, _port, svc["port"], at) or (0, None)
    listed = enumerate(svc.get("checks", []))
    checks = tuple(_collect(found, _check, c, svc["host"], port, at, f"checks[{i}]")
                   for i, c in listed)  # fmt: skip
    weight = _collect(found, _weight, svc, at, warnings)
    if found:
        raise ConfigProblems.of(found)
    return ServiceConfig(
        name=raw.name,
        instance_id=instance_id,
        host=svc["host"],
        port=port,
        zk_hosts=tuple(svc["zk_hosts"]),
        zk_path=svc["zk_path"],
        checks=checks,
        check_interval=float(svc.get("check_interval", 0.5)),
        weight=weight,
        haproxy_server_options=svc.get("haproxy_server_options"),
        labels=tuple(svc["labels"].items()) if "labels" in svc else None,
        node_type=svc.get("node_type", "ephemeral_sequential"),
        use_path_encoding=_path_encoding(svc, at, warnings),
        rate_limiting=_rate_limit(svc, at),
        port_string=port_string,
        check_mocked=svc.get("check_mocked", False),
        ttl_seconds=svc.get("ttl_seconds"),
    )


@dataclass(frozen=True)
class _At:
    """Where a service is: its file and key path, for messages."""

    source: str
    prefix: str

    def key(self, rest: str) -> str:
        return join(self.prefix, rest)

    def error(self, rest: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(rest), problem)


def _port(value: int | str, at: _At) -> tuple[int, str | None]:
    """(port as a number, the digit string the config gave or None)."""
    if type(value) is not int and not isinstance(value, str):  # 8080.0 passes the schema
        raise at.error("port", f"{value!r}: must be an integer or a digit string")
    if not 1 <= int(value) <= 65535:
        raise at.error("port", f"{value!r}: must be 1..65535")
    return int(value), value if isinstance(value, str) else None


_FLAT_RATE_KEYS = {  # Ruby nerve revisions that spell rate limiting as flat service keys
    "rate_limit_enabled": "shadow_mode",  # false (their default): log only, as shadow_mode true
    "rate_limit_avg": "average_rate",
    "rate_limit_burst": "max_burst",
}


def _rate_limit(svc: dict, at: _At) -> RateLimit:
    """`rate_limiting` ({shadow_mode, average_rate, max_burst}) or the flat `rate_limit_*` keys."""
    flat = {_FLAT_RATE_KEYS[k]: v for k, v in svc.items() if k in _FLAT_RATE_KEYS}
    if flat and "rate_limiting" in svc:
        raise at.error("rate_limiting", "set either rate_limiting or the rate_limit_* keys")
    if "shadow_mode" in flat:
        flat["shadow_mode"] = not flat["shadow_mode"]
    return RateLimit(**svc.get("rate_limiting", flat))


def _weight(svc: dict, at: _At, warnings: list[str]) -> int | None:
    """Ruby nerve's rule: a non-negative integer or digit string, published as the integer."""
    if "weight" not in svc:
        return None
    if type(svc["weight"]) is not int and not isinstance(svc["weight"], str):
        raise at.error("weight", f"{svc['weight']!r}: must be an integer or a digit string")
    weight = int(svc["weight"])
    if weight > 256:
        warnings.append(
            f"{at.source}: {at.key('weight')}: {weight} is above HAProxy's maximum (256); "
            "published as is, synapse-py clamps it to 256"
        )
    return weight


def _path_encoding(svc: dict, at: _At, warnings: list[str]) -> bool:
    value = svc.get("use_path_encoding", False)
    if not isinstance(value, bool):
        warnings.append(
            f"{at.source}: {at.key('use_path_encoding')}: {value!r} is not the boolean true; "
            "path encoding stays off, as in Ruby nerve"
        )
    return value is True


def _check(conf: dict, host: str, port: int, at: _At, key: str) -> CheckSpec:
    try:
        build_check(conf, host, port).close()
    except CheckConfigError as e:
        raise at.error(key, str(e)) from None
    return CheckSpec(conf["type"], json.dumps(conf, sort_keys=True))
