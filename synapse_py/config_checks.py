"""Checks across a whole synapse config that its schema cannot express, all reported at once.

- A service name becomes a file name (file_output's `<name>.json`, Envoy's `eds/<name>.yaml`).
- HAProxy refuses two proxies of one name on one side (frontend or backend; a `listen` section is
  both), so a duplicate `backend_name`, or a service named like our stats listener, would only
  fail at the first reload.
- HAProxy and Envoy bind with SO_REUSEPORT: two listeners on one address:port both start, and the
  kernel splits connections between two different services. Nothing would fail at all.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from .schema import PROMETHEUS_PATH

if TYPE_CHECKING:
    from .config import EnvoyConfig, HaproxyConfig, SynapseConfig

MAX_NAME_BYTES = 200  # the atomic write's temp file `.<name>.json.<8 chars>.tmp` must fit in 255
STATS_SECTION = "synapse_stats"  # the stats listener of templates/haproxy.cfg.j2
STATS_USERLIST = "synapse_stats_auth"  # guards HAProxy's exporter with haproxy.stats.auth
SHARED_FRONTEND = "shared-frontend"  # Ruby synapse's name for it
_SIDES = {"listen": ("frontend", "backend"), "frontend": ("frontend",), "backend": ("backend",)}


class Origin(NamedTuple):
    """Where a service was defined: its file, and its key path prefix ("" in service_conf_dir).

    `blame`, when given, names the file and key path of one of its keys (an overlay may set it).
    """

    source: str
    prefix: str
    blame: Callable[[str], tuple[str, str]] | None = None

    def key(self, rest: str = "") -> str:
        if not self.prefix:
            return rest or "(the service name, from the file name)"
        return f"{self.prefix}{rest}" if rest else self.prefix.removesuffix(".")

    def owner(self, rest: str = "") -> _Owner:
        if rest and self.blame is not None:
            return _Owner(*self.blame(rest))
        return _Owner(self.source, self.key(rest))


class _Owner(NamedTuple):
    source: str
    key: str

    def mention(self, other: _Owner) -> str:
        """How `other`'s message names this owner (with its file when that differs)."""
        return self.key if self.source == other.source else f"{self.key} (in {self.source})"


class _Section(NamedTuple):
    kind: str  # listen | frontend | backend
    name: str
    owner: _Owner


class _Listener(NamedTuple):
    host: str
    port: int
    owner: _Owner


def problems(config: SynapseConfig, origins: Mapping[str, Origin]) -> list[str]:
    """Every cross-service problem of `config`, one message each ("file: key path: problem")."""
    found = [p for s in config.services for p in _name_problems(s.name, origins[s.name])]
    found += _section_clashes(list(_sections(config, origins)))
    found += _bind_clashes(list(_listeners(config, origins)))
    found += _stats_problems(config)
    return found


def _stats_problems(config: SynapseConfig) -> Iterator[str]:
    haproxy = config.haproxy
    if haproxy is None or not (haproxy.stats.enabled and haproxy.stats.prometheus):
        return
    stats = haproxy.stats
    if stats.uri == PROMETHEUS_PATH:
        yield (
            f"{config.source}: haproxy.stats.uri: {PROMETHEUS_PATH} is where haproxy.stats."
            "prometheus serves HAProxy's exporter, which answers before the stats page would"
        )
    mine = ["userlist", STATS_USERLIST]
    for header in dict(haproxy.extra_sections) if stats.auth else ():
        if header.split() == mine:
            yield (
                f"{config.source}: haproxy.extra_sections.{header}: synapse-py renders this "
                "userlist to guard the exporter with haproxy.stats.auth; HAProxy would keep the "
                "first one and ignore the other"
            )


# --- names ---------------------------------------------------------------------------------


def _name_problems(name: str, origin: Origin) -> Iterator[str]:
    size = len(name.encode())
    if size > MAX_NAME_BYTES:
        why = f"is {size} bytes long, more than {MAX_NAME_BYTES}"
    elif name.startswith("."):
        why = "starts with '.' (it would be '.', '..' or a hidden file, which readers skip)"
    else:
        return
    where = "it becomes a file name (file_output <name>.json, envoy eds/<name>.yaml)"
    yield f"{origin.source}: {origin.key()}: the service name {why}; {where}"


# --- HAProxy section names -----------------------------------------------------------------


def _sections(config: SynapseConfig, origins: Mapping[str, Origin]) -> Iterator[_Section]:
    """The proxies haproxy.cfg.j2 renders, in its order, with the key that decides each name."""
    haproxy = config.haproxy
    if haproxy is None:
        return
    for header in dict(haproxy.extra_sections):
        kind, *rest = header.split() or [""]
        if kind in _SIDES and rest:
            yield _Section(kind, rest[0], _Owner(config.source, f"haproxy.extra_sections.{header}"))
    if haproxy.stats.enabled:
        yield _Section("listen", STATS_SECTION, _Owner(config.source, "haproxy.stats.enabled"))
    for svc in config.services:
        if svc.haproxy.disabled:
            continue
        origin = origins[svc.name]
        named = origin.owner()
        backend = origin.owner("haproxy.backend_name") if svc.haproxy.backend_name else named
        if svc.haproxy.has_frontend:
            yield _Section("frontend", svc.name, named)
        yield _Section("backend", svc.backend_name, backend)
    if haproxy.shared_frontend is not None:
        owner = _Owner(config.source, "haproxy.shared_frontend")
        yield _Section("frontend", SHARED_FRONTEND, owner)


def _section_clashes(sections: list[_Section]) -> Iterator[str]:
    by_name: dict[str, list[_Section]] = defaultdict(list)
    for section in sections:
        by_name[section.name].append(section)
    reported = set()  # a service's frontend and backend against one listen: one message
    for same_name in by_name.values():
        for i, later in enumerate(same_name):
            first = next((s for s in same_name[:i] if _share_a_side(s, later)), None)
            if first is not None and (first.owner, later.owner) not in reported:
                reported.add((first.owner, later.owner))
                yield _section_message(first, later)


def _share_a_side(a: _Section, b: _Section) -> bool:
    return bool(set(_SIDES[a.kind]) & set(_SIDES[b.kind]))


def _section_message(first: _Section, later: _Section) -> str:
    mine = f"{later.kind} '{later.name}'"
    theirs = f"the {first.kind} section of {first.owner.mention(later.owner)}"
    if first.owner.key.startswith("haproxy.stats"):
        theirs = "synapse-py's stats listener (haproxy.stats)"
    return (
        f"{later.owner.source}: {later.owner.key}: HAProxy {mine} has the same name as {theirs}; "
        "HAProxy refuses two frontends or two backends of one name"
    )


# --- listen addresses ----------------------------------------------------------------------


def _listeners(config: SynapseConfig, origins: Mapping[str, Origin]) -> Iterator[_Listener]:
    """Every address:port the proxies (and our metrics endpoint) listen on, with its key."""
    if config.haproxy is not None:
        yield from _haproxy_listeners(config, config.haproxy, origins)
    if config.envoy is not None:
        yield from _envoy_listeners(config, config.envoy, origins)
    if config.metrics is not None and config.metrics.port:  # port 0: the kernel picks a free one
        metrics = config.metrics
        yield _Listener(metrics.bind, metrics.port, _Owner(config.source, "metrics.port"))


def _haproxy_listeners(
    config: SynapseConfig, haproxy: HaproxyConfig, origins: Mapping[str, Origin]
) -> Iterator[_Listener]:
    stats = haproxy.stats
    if stats.enabled:
        yield _Listener(stats.bind_address, stats.port, _Owner(config.source, "haproxy.stats.port"))
    for svc in config.services:
        if svc.haproxy.port and not svc.haproxy.disabled:
            owner = origins[svc.name].owner("haproxy.port")
            yield _Listener(
                svc.haproxy.bind_address or haproxy.bind_address, svc.haproxy.port, owner
            )


def _envoy_listeners(
    config: SynapseConfig, envoy: EnvoyConfig, origins: Mapping[str, Origin]
) -> Iterator[_Listener]:
    yield _Listener(envoy.bind_address, envoy.admin_port, _Owner(config.source, "envoy.admin_port"))
    for svc in config.services:
        if svc.envoy is not None:
            owner = origins[svc.name].owner("envoy.port")
            yield _Listener(svc.envoy.bind_address or envoy.bind_address, svc.envoy.port, owner)


def _bind_clashes(listeners: list[_Listener]) -> Iterator[str]:
    by_port: dict[int, list[_Listener]] = defaultdict(list)
    for listener in listeners:
        by_port[listener.port].append(listener)
    for same_port in by_port.values():
        for i, later in enumerate(same_port):
            first = next((x for x in same_port[:i] if _overlap(x.host, later.host)), None)
            if first is not None:
                yield (
                    f"{later.owner.source}: {later.owner.key}: listens on "
                    f"{later.host}:{later.port}, as does {first.owner.mention(later.owner)} on "
                    f"{first.host}:{first.port}; both would bind (SO_REUSEPORT) and connections "
                    "would be split between them"
                )


def _overlap(a: str, b: str) -> bool:
    """Whether two bind addresses can receive the same connection (wildcards cover everything)."""
    return any(
        fa == fb or fa[1] == "*" or fb[1] == "*"
        for fa in _endpoints(a)
        for fb in _endpoints(b)
        if fa[0] == fb[0] or None in (fa[0], fb[0])
    )


def _endpoints(host: str) -> set[tuple[int | None, str]]:
    """(IP version or None for a name, address or "*"): what a bind address may listen on."""
    bare = host.strip("[]").lower()
    if bare in ("", "*", "0.0.0.0"):  # HAProxy: an empty address or "*" is IPv4's any
        return {(4, "*")}
    if bare == "::":
        return {(4, "*"), (6, "*")}  # HAProxy and Envoy bind :: dual-stack unless told v6only
    if bare == "localhost":
        return {(4, "127.0.0.1"), (6, "::1")}
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return {(None, bare)}  # a name resolved at start-up: the same name, or any wildcard
    if ip.is_unspecified:
        return _endpoints("0.0.0.0" if ip.version == 4 else "::")
    return {(ip.version, str(ip))}
