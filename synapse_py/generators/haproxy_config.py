"""The file side of the HAProxy generator: template context, structural signature, validation."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import Any

from ..config import HaproxyConfig, ServiceConfig
from .haproxy_slots import ServerSlot, hostport

ServicePlan = tuple[ServiceConfig, tuple[ServerSlot, ...]]
GLOBAL_KEY = ""  # the signature entry for everything that is not one service's backend


class ConfigRejected(Exception):
    """`haproxy -c` or the operator's check_command refused a candidate config."""


def build_context(config: HaproxyConfig, services: Sequence[ServicePlan]) -> dict[str, Any]:
    """Everything templates/haproxy.cfg.j2 renders, with every decision already taken."""
    return {
        "socket_file_path": config.socket_file_path if config.do_socket else None,
        "global_lines": list(config.global_),
        "defaults": list(config.defaults),
        "extra_sections": [(header, list(lines)) for header, lines in config.extra_sections],
        "stats": _stats_context(config),
        "services": [_service_context(config, svc, slots) for svc, slots in services],
    }


def _stats_context(config: HaproxyConfig) -> dict[str, Any] | None:
    stats = config.stats
    if not stats.enabled:
        return None
    return {"bind": hostport(stats.bind_address, stats.port), "uri": stats.uri, "auth": stats.auth}


def _service_context(
    config: HaproxyConfig, svc: ServiceConfig, slots: Sequence[ServerSlot]
) -> dict[str, Any]:
    opts = svc.haproxy
    port = opts.port
    return {
        "name": svc.name,
        "backend_name": svc.backend_name,
        "bind": hostport(opts.bind_address or config.bind_address, port) if port else None,
        "listen": list(opts.listen),
        "frontend": list(opts.frontend),
        "backend": list(opts.backend),
        "servers": [{"name": s.name, "address": s.hostport, "options": s.options} for s in slots],
    }


def signature(config: HaproxyConfig, services: Sequence[ServicePlan]) -> dict[str, Any]:
    """What only a reload can change, per backend name (and GLOBAL_KEY for the rest).

    Addresses, weights and maintenance are left out: the runtime API sets those.
    """
    structure: dict[str, Any] = {GLOBAL_KEY: (config, tuple(s.name for s, _ in services))}
    for svc, slots in services:
        structure[svc.backend_name] = (svc.name, svc.haproxy, tuple(s.node_options for s in slots))
    return structure


def validate_candidate(
    path: str, haproxy_bin: str, check_command: str | None, timeout: float = 30.0
) -> None:
    """Raise ConfigRejected unless `haproxy -c` (and `check_command`, if any) accept the file."""
    _check([haproxy_bin, "-c", "-q", "-f", path], path, timeout, shell=False)
    if check_command:
        _check(check_command.replace("{candidate}", path), path, timeout, shell=True)


def _check(command: str | list[str], path: str, timeout: float, shell: bool) -> None:
    env = {**os.environ, "SYNAPSE_PY_CANDIDATE": path}
    try:
        proc = subprocess.run(
            command, shell=shell, env=env, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigRejected(f"{command}: {exc}") from exc
    if proc.returncode != 0:
        raise ConfigRejected(
            f"{command}: exit {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}"
        )
