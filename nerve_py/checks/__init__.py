"""Health check plugins, registered by config `type` (as Ruby nerve's `CHECKS['tcp'] = ...`).

`build_check` turns one check's config into a Check; `run_check` probes once and never raises.
A third-party check type is a `Check` subclass published under the entry point group
`nerve_py.checks` with the type name as the entry point's name (docs/architecture.md); the
installed ones are registered when this package is imported, next to the built-in types.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from smartstack_common import plugins

from . import http, noop, process, rabbitmq, redis, tcp  # noqa: F401 - importing registers each type
from .base import CHECKS, Check, CheckConfigError, CheckFailed, causes, is_timeout, register

__all__ = [
    "CHECKS",
    "Check",
    "CheckConfigError",
    "CheckFailed",
    "build_check",
    "build_checks",
    "describe_failure",
    "load_entry_points",
    "register",
    "run_check",
]


def build_check(
    conf: Mapping[str, Any], host: str, port: int, *, registry: Mapping[str, type[Check]] = CHECKS
) -> Check:
    """The check `conf` describes for a service on host:port; CheckConfigError when it is wrong."""
    if not isinstance(conf, Mapping):
        raise CheckConfigError(f"a check must be a mapping, got {conf!r}")
    kind = conf.get("type")
    if not isinstance(kind, str) or kind not in registry:
        known = ", ".join(sorted(registry))
        raise CheckConfigError(f"check key 'type': unknown check type {kind!r} (known: {known})")
    return registry[kind](conf, host, port)


def build_checks(confs: Iterable[Mapping[str, Any]], host: str, port: int) -> list[Check]:
    """A service's checks, each with a name of its own: a name an earlier check of the service
    has gets the suffix `#<position in the list>` (one metric series and log line per check)."""
    checks = [build_check(conf, host, port) for conf in confs]
    seen: set[str] = set()
    for position, check in enumerate(checks, 1):
        if check.name in seen:
            check.name = f"{check.name}#{position}"
        seen.add(check.name)
    return checks


def run_check(check: Check, probe: Callable[[], bool] | None = None) -> tuple[bool, str]:
    """Probe once (`check.check()`, or `probe` for one that ends a round begun elsewhere):
    (True, "ok") or (False, why). Any exception is a failure, never raised."""
    try:
        ok = (probe or check.check)()
    except Exception as exc:  # a broken check must mark the service down, not kill the watcher
        return False, describe_failure(exc, check.timeout)
    return (True, "ok") if ok else (False, "check failed")


def describe_failure(exc: BaseException, timeout: float) -> str:
    """A short reason for operators: "HTTP 503", "timed out after 0.5s", "connection refused"."""
    for cause in causes(exc):
        if isinstance(cause, CheckFailed):
            return str(cause)
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message}"
    if is_timeout(exc):
        return f"timed out after {timeout:g}s"
    return f"{type(exc).__name__}: {exc}"[:200]


ENTRY_POINT_GROUP = "nerve_py.checks"
_BUILT_IN = frozenset(CHECKS)


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Register the check types installed distributions publish under `group`; their names.

    One that fails to load or would replace a built-in type is logged and left out, so a config
    that uses it is refused as an unknown check type."""
    return plugins.load_entry_points(group, CHECKS, _BUILT_IN, "check type")


load_entry_points()
