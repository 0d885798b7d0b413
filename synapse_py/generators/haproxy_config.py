"""The file side of the HAProxy generator: template context, structural signature, validation."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from ..atomic import write_atomic
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
    path: str,
    haproxy_bin: str,
    check_command: str | None,
    timeout: float = 30.0,
    candidate_path: str | None = None,
) -> None:
    """Raise ConfigRejected unless `haproxy -c` (and `check_command`, if any) accept the file.

    As in Ruby synapse, `check_command` checks the candidate at `candidate_path`
    (`candidate_config_file_path`): the text is written there first. Without one, `{candidate}`
    in the command stands for the candidate's temp file. Not `-q`: with it HAProxy prints
    nothing, and the reason of a refusal would be lost.
    """
    _check([haproxy_bin, "-c", "-f", path], path, timeout, shell=False)
    if check_command and candidate_path:
        with _CANDIDATE_LOCK:  # the installer's and the node screen's threads both check
            with open(path, encoding="utf-8") as f:
                write_atomic(candidate_path, f.read(), mode=0o600)  # may hold a stats password
            _check(check_command.replace("{candidate}", candidate_path), candidate_path, timeout)
    elif check_command:
        _check(check_command.replace("{candidate}", path), path, timeout)


def validate_text(
    text: str,
    target: str,
    haproxy_bin: str,
    check_command: str | None,
    timeout: float = 30.0,
    candidate_path: str | None = None,
) -> None:
    """validate_candidate on `text` in a temp file beside `target`, named as write_atomic does."""
    folder, name = os.path.split(os.path.abspath(target))
    fd, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        validate_candidate(path, haproxy_bin, check_command, timeout, candidate_path)
    finally:
        os.unlink(path)


_CANDIDATE_LOCK = threading.Lock()


def _check(command: str | list[str], path: str, timeout: float, shell: bool = True) -> None:
    env = {**os.environ, "SYNAPSE_PY_CANDIDATE": path}
    try:
        proc = subprocess.run(
            command, shell=shell, env=env, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigRejected(f"{command}: {exc}") from exc
    if proc.returncode != 0:
        raise ConfigRejected(f"{command}: exit {proc.returncode}: {_reason(proc)}")


_ALERT_RE = re.compile(r"^\[(ALERT|WARNING)\] +\(\d+\) : ", re.MULTILINE)
_GENERIC = ("Fatal errors found in configuration", "Error(s) found in configuration file")


def _reason(proc: subprocess.CompletedProcess) -> str:
    """HAProxy's alerts and warnings (not its version notices), else the end of the output."""
    output = (proc.stderr or "") + (proc.stdout or "")
    lines = [
        _ALERT_RE.sub(r"\1: ", line)
        for line in output.splitlines()
        if _ALERT_RE.match(line) and not any(g in line for g in _GENERIC)
    ]
    return " | ".join(lines)[-2000:] if lines else output.strip()[-2000:] or "no output"
