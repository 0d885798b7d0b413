"""The file side of the HAProxy generator: template context, structural signature, validation."""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from smartstack_common.atomic import write_atomic

from ...backend import Backend
from ...config import HaproxyConfig, ServiceConfig, ServiceHaproxyConfig, StatsConfig
from ...config_checks import STATS_USERLIST
from ...render import render
from ...schema import PROMETHEUS_PATH
from .keywords import Sections, log_dropped, screen, sort_lines
from .members import Server, hostport
from .servers import (
    cookie_directive,
    cookie_value,
    line_options,
    server_name,
    writes_cookies,
)

ServicePlan = tuple[ServiceConfig, tuple[Server, ...]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """One desired state: the services with their servers, its structure, and the rendered file."""

    services: tuple[ServicePlan, ...]
    structure: dict[str, Any]
    text: str


GLOBAL_KEY = ""  # the signature entry for everything that is not one service's backend


class ConfigRejected(Exception):
    """`haproxy -c` or the operator's check_command refused a candidate config."""


def build_context(
    config: HaproxyConfig,
    services: Sequence[ServicePlan],
    service_text: Callable[[ServicePlan], str] | None = None,
    seed_comment: str | None = None,
) -> dict[str, Any]:
    """Everything templates/haproxy.cfg.j2 renders, with every decision already taken; each
    service's section is `service_text(plan)` (default: rendered here); `seed_comment` records
    a drawn server_order_seed in the header."""
    text = service_text or functools.partial(render_service, config)
    return {
        "seed_comment": seed_comment,
        "socket_file_path": config.socket_file_path if config.do_socket else None,
        "global_lines": list(config.global_),
        "defaults": list(config.defaults),
        "extra_sections": [(header, list(lines)) for header, lines in config.extra_sections],
        "stats": _stats_context(config),
        "services": [text(plan) for plan in services],
        "shared_frontend": shared_frontend(config, [svc for svc, _ in services]),
    }


def sections(svc: ServiceConfig) -> Sections:
    """The service's frontend and backend lines as Ruby sorts them (dropped ones logged once)."""
    opts = svc.haproxy
    found = sort_lines(opts.listen, opts.frontend, opts.backend)
    log_dropped(f"{svc.name}: haproxy", found.dropped)
    return found


def shared_frontend(config: HaproxyConfig, services: Sequence[ServiceConfig]) -> list[str] | None:
    """Ruby's `frontend shared-frontend`: the global lines, then each service's (frontend
    keywords only); None without the global `shared_frontend`."""
    if config.shared_frontend is None:
        for svc in services:
            if svc.haproxy.shared_frontend:
                _no_shared_frontend(svc.name)
        return None
    lines = list(_screened("haproxy.shared_frontend", config.shared_frontend))
    for svc in services:
        lines += _screened(f"{svc.name}: haproxy.shared_frontend", svc.haproxy.shared_frontend)
    return lines


@lru_cache(maxsize=1024)
def _no_shared_frontend(service: str) -> None:
    log.warning(
        "%s: haproxy.shared_frontend is not written: the top-level haproxy section has no"
        " shared_frontend (as in Ruby synapse)",
        service,
    )


def _screened(where: str, lines: tuple[str, ...]) -> tuple[str, ...]:
    kept, dropped = screen(lines, "frontend")
    log_dropped(where, dropped)
    return kept


def server_options(
    config: HaproxyConfig, svc: ServiceConfig
) -> Callable[[Backend], tuple[str, str | None]]:
    """A backend's (options, cookie value or None), as Ruby writes them: see haproxy/servers.py."""
    opts = svc.haproxy
    cookies = writes_cookies(sections(svc).backend)

    def of(backend: Backend) -> tuple[str, str | None]:
        name = server_name(backend)
        cookie = cookie_value(name, opts.cookie_value_method) if cookies else None
        return line_options(backend, opts.server_options, config.use_nerve_weights), cookie

    return of


def runtime_refusal(config: HaproxyConfig, svc: ServiceConfig) -> str | None:
    """Why HAProxy 2.6 would not take this backend's joins right by `add server`, or None."""
    return _refusal(sections(svc).backend, config.defaults)


@lru_cache(maxsize=4096)  # asked per service at every change: the lines rarely differ
def _refusal(lines: tuple[str, ...], defaults: tuple[str, ...]) -> str | None:
    if cookie_directive(lines, defaults):
        return "it has a `cookie` directive and `add server` refuses a server cookie"
    if _directive(lines, defaults, "default-server"):
        return "it has `default-server` lines, which dynamic servers do not inherit"
    balance = (_directive(lines, defaults, "balance") or ["roundrobin"])[0]
    hashing = (_directive(lines, defaults, "hash-type") or ["map-based"])[0]
    if balance not in _DYNAMIC_BALANCE and hashing != "consistent":
        return f"`balance {balance}` is not dynamic (HAProxy refuses `add server`)"
    return None


def restores_state(config: HaproxyConfig, svc: ServiceConfig) -> bool:
    """The backend (or `defaults`) has HAProxy restore its servers' state from a file at a
    reload: their state is then not the rendered one."""
    return _restores_state(sections(svc).backend, config.defaults)


@lru_cache(maxsize=4096)
def _restores_state(lines: tuple[str, ...], defaults: tuple[str, ...]) -> bool:
    found = _directive(lines, defaults, "load-server-state-from-file")
    return found is not None and found[:1] != ["none"]


_DYNAMIC_BALANCE = {"roundrobin", "leastconn", "first", "random"}


def _directive(lines: Sequence[str], defaults: Sequence[str], keyword: str) -> list[str] | None:
    """The arguments of the last `keyword` line of the backend, else of `defaults`."""
    for group in (lines, defaults):
        found = [line.split()[1:] for line in group if line.split()[:1] == [keyword]]
        if found:
            return found[-1]
    return None


def _stats_context(config: HaproxyConfig) -> dict[str, Any] | None:
    stats = config.stats
    if not stats.enabled:
        return None
    return {
        "bind": hostport(stats.bind_address, stats.port),
        "uri": stats.uri,
        "auth": stats.auth,
        "show_legends": stats.show_legends,
        "prometheus": _exporter_context(stats),
    }


def _exporter_context(stats: StatsConfig) -> dict[str, Any] | None:
    """HAProxy's exporter answers before `stats auth` is asked: with `auth`, a userlist of the
    same credentials guards it."""
    if not stats.prometheus:
        return None
    user, _, password = (stats.auth or "").partition(":")
    guard = {"userlist": STATS_USERLIST, "user": user, "password": password}
    return {"path": PROMETHEUS_PATH, "auth": guard if stats.auth else None}


def _bind(config: HaproxyConfig, opts: ServiceHaproxyConfig) -> str | None:
    """Ruby's bind line: `<address>:<port>`, the address alone for `port: null`, options after."""
    if not opts.has_frontend:
        return None
    address = opts.bind_address or config.bind_address
    bind = address if opts.port is None else hostport(address, opts.port)
    return bind if opts.bind_options is None else f"{bind} {opts.bind_options}"


def render_service(config: HaproxyConfig, plan: ServicePlan) -> str:
    """One service's frontend and backend sections (templates/haproxy_service.cfg.j2)."""
    svc, servers = plan
    return render("haproxy_service.cfg.j2", {"svc": _service_context(config, svc, servers)})


def _service_context(
    config: HaproxyConfig, svc: ServiceConfig, servers: Sequence[Server]
) -> dict[str, Any]:
    found = sections(svc)
    return {
        "name": svc.name,
        "backend_name": svc.backend_name,
        "bind": _bind(config, svc.haproxy),
        "frontend": list(found.frontend),
        "backend": list(found.backend),
        "servers": [{"name": s.name, "address": s.hostport, "options": s.line} for s in servers],
    }


def signature(config: HaproxyConfig, services: Sequence[ServicePlan]) -> dict[str, Any]:
    """What only a reload can change, per backend name (and GLOBAL_KEY for the rest).

    Weights and maintenance are left out: the runtime API sets those. So are the servers of a
    backend that takes them by `add server`/`del server` (runtime_refusal is None); the servers
    of the others are structure, so a join or a leave there reloads.
    """
    structure: dict[str, Any] = {GLOBAL_KEY: (config, tuple(s.name for s, _ in services))}
    for svc, servers in services:
        listed = (
            ()
            if runtime_refusal(config, svc) is None
            else tuple((s.name, s.structure) for s in servers)
        )
        structure[svc.backend_name] = (svc.name, svc.haproxy, listed)
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
