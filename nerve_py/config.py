"""Load and validate a nerve config (Ruby nerve compatible) into frozen dataclasses."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from . import schema
from .checks import CheckConfigError, build_check
from .errors import ConfigError
from .zk_security import SECRET_KEYS, SecurityConfigError, ZkSecurity, load_security

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = "/var/lib/nerve-py"


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
    labels: tuple[tuple[str, str], ...] = ()
    node_type: str = "ephemeral_sequential"
    use_path_encoding: bool = False
    rate_limiting: RateLimit = RateLimit()
    check_mocked: bool = False
    ttl_seconds: float | None = None

    @property
    def ensemble(self) -> str:
        """The ZooKeeper connection string; services with the same one share a client."""
        return ",".join(sorted(self.zk_hosts))


@dataclass(frozen=True)
class MetricsConfig:
    """Our addition: where the Prometheus endpoint listens (localhost unless told otherwise)."""

    port: int
    bind: str = "127.0.0.1"


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

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)


def load_config(path: str | Path) -> NerveConfig:
    """Read, validate and freeze the config at `path` (plus its service_conf_dir)."""
    source = str(path)
    raw = _read_json(source)
    warnings = _validate(raw, schema.CONFIG_SCHEMA, source, schema.RUBY_UNIMPLEMENTED_TOP)
    services = dict(_services_in(raw, source, warnings))
    if not services:
        raise ConfigError(source, "services", "no services defined (services or service_conf_dir)")
    built = tuple(_service(n, s, raw["instance_id"], src) for n, (s, src) in services.items())
    security = _security(raw, source, warnings)
    for w in warnings:
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
    )


def _security(raw: dict, source: str, warnings: list[str]) -> ZkSecurity:
    try:
        security, found = load_security(raw, source)
    except SecurityConfigError as e:
        raise ConfigError(source, e.key_path, e.problem) from None
    warnings += [f"{source}: {w}" for w in found]
    return security


def _read_json(source: str) -> Any:
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(source, "", f"cannot read: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(source, "", f"not valid JSON: {e}") from None


def _services_in(raw: dict, source: str, warnings: list[str]) -> Iterator[tuple[str, tuple]]:
    """Yield (name, (service dict, file)) from `services` and every file of `service_conf_dir`."""
    for name, svc in raw.get("services", {}).items():
        yield name, (svc, source)
    conf_dir = raw.get("service_conf_dir")
    if conf_dir:
        folder = Path(source).parent / conf_dir
        if not folder.is_dir():
            raise ConfigError(source, "service_conf_dir", f"{folder} is not a directory")
        for file in sorted(folder.glob("*.json")):
            svc = _read_json(str(file))
            warnings += _validate(
                svc, schema.SERVICE_SCHEMA, str(file), schema.RUBY_UNIMPLEMENTED_SERVICE
            )
            yield file.stem, (svc, str(file))


def _service(name: str, svc: dict, instance_id: str, source: str) -> ServiceConfig:
    prefix = f"services.{name}" if not source.endswith(f"{name}.json") else ""
    checks = tuple(
        _check(c, svc, source, _join(prefix, f"checks[{i}]")) for i, c in enumerate(svc["checks"])
    )
    return ServiceConfig(
        name=name,
        instance_id=instance_id,
        host=svc["host"],
        port=svc["port"],
        zk_hosts=tuple(svc["zk_hosts"]),
        zk_path=svc["zk_path"],
        checks=checks,
        check_interval=float(svc.get("check_interval", 0.5)),
        weight=svc.get("weight"),
        haproxy_server_options=svc.get("haproxy_server_options"),
        labels=tuple(sorted(svc.get("labels", {}).items())),
        node_type=svc.get("node_type", "ephemeral_sequential"),
        use_path_encoding=bool(svc.get("use_path_encoding", False)),
        rate_limiting=RateLimit(**svc.get("rate_limiting", {})),
        check_mocked=svc.get("check_mocked", False),
        ttl_seconds=svc.get("ttl_seconds"),
    )


def _check(conf: dict, svc: dict, source: str, key_path: str) -> CheckSpec:
    try:
        build_check(conf, svc["host"], svc["port"]).close()
    except CheckConfigError as e:
        raise ConfigError(source, key_path, str(e)) from None
    return CheckSpec(conf["type"], json.dumps(conf, sort_keys=True))


def _validate(doc: Any, sch: Mapping, source: str, ruby_only: frozenset[str]) -> list[str]:
    """Raise ConfigError for the first schema violation; return warnings for Ruby-only keys.

    `ruby_only` is the set that applies to `doc`'s own keys: the main file's top level and a
    service_conf_dir file (one service) differ, and a top-level `zk_auth` is ours, implemented.
    """
    validator = jsonschema.Draft7Validator(sch)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise ConfigError(source, *_describe(error, ""))
    return [
        f"{source}: {key}: accepted for compatibility with Ruby nerve but not implemented; ignored"
        for key in _ruby_only_keys(doc, ruby_only)
    ]


def _ruby_only_keys(doc: dict, ruby_only: frozenset[str]) -> Iterator[str]:
    yield from sorted(set(doc) & ruby_only)
    for name, svc in doc.get("services", {}).items():
        for k in sorted(set(svc) & schema.RUBY_UNIMPLEMENTED_SERVICE):
            yield f"services.{name}.{k}"


def _describe(error: jsonschema.ValidationError, prefix: str) -> tuple[str, str]:
    path = _join(prefix, _key_path(error.absolute_path))
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return _join(path, extra[0]), "unknown key"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return _join(path, missing[0]), "required key is missing"
    if path.startswith(SECRET_KEYS):
        return path, f"invalid value ({error.validator}; not shown: it may hold a secret)"
    return path or "(top level)", error.message


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _join(prefix: str, rest: str) -> str:
    if not prefix:
        return rest
    if not rest:
        return prefix
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"
