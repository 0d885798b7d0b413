"""The dns discovery methods' lookups: `servers` entries resolved into backends (`dns`, and
`zookeeper_dns`, whose entries are the ZooKeeper nodes).

As Ruby's DnsWatcher (lib/synapse/service_watcher/dns.rb): each entry `{name, host, port, labels}`
gives one backend per address its host resolves to, named by the entry's `name`, with the entry's
port and labels; entries keep their configured order, each entry's addresses sorted as strings.
AAAA records are asked for when the host has a global IPv6 address (Ruby's `Resolv::DNS` rule),
or as `ipv6` says. A name that does not exist (NXDOMAIN) or has no address records resolves to
nothing, as in Ruby: the entry's backends go, and an empty result is left to
`use_previous_backends`. A lookup that fails (timeout, SERVFAIL, REFUSED, no route) keeps the
name's last answer (Ruby empties the whole round then, which leaves the service on its previous
or default servers; docs/migration.md); one round of lookups is bounded by `timeout` seconds, and
asks once for a name several entries share. `nameserver` is a
host as in Ruby (port 53), a `host:port` (`[v6]:port`), or a list of them; without one,
/etc/resolv.conf is used, search list included.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ..backend import Backend, InvalidNode, backend_from_dict, is_ip_literal
from ..last_answers import Answer, LastAnswers

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 30.0  # Ruby's check_interval
DEFAULT_TIMEOUT = 5.0  # one round of lookups, all entries
DNS_PORT = 53
_NO_RECORDS = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)


class LookupFailed(Exception):
    """The nameserver gave no usable answer (not an authoritative "no such name")."""


@dataclass(frozen=True)
class DnsServer:
    """One `servers` entry, validated, with Ruby's raw values (a port "8080" stays a string)."""

    host: str
    port: int | str
    name: str | None = None
    labels_json: str = "null"  # JSON text: the frozen form of the entry's labels object

    def backend(self, address: str) -> Backend:
        """The backend Ruby's watcher makes for one address (keys and order as Ruby's hash)."""
        record = {"host": address, "port": self.port, "name": self.name}
        return backend_from_dict({**record, "labels": json.loads(self.labels_json)})


def parse_servers(
    entries: object, where: str = "servers", warnings: list[str] | None = None
) -> tuple[DnsServer, ...]:
    """Validate a `servers` list; ValueError naming the entry. A string entry is skipped with a
    warning (added to `warnings`, else logged): Ruby reads `host` and `port` from it as a hash
    and resolves nothing for it."""
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: a non-empty list of servers is required")
    servers = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            warning = f"{where}.{i}: {entry!r} is a string, not {{host, port}}: no backends"
            if warnings is None:
                log.warning("%s", warning)
            else:
                warnings.append(warning)
            continue
        servers.append(_server(entry, f"{where}.{i}"))
    return tuple(servers)


def _server(entry: object, where: str) -> DnsServer:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with host and port")
    if not isinstance(entry.get("host"), str):
        raise ValueError(f"{where}.host: a hostname is required")
    port = entry.get("port")
    if not isinstance(port, int | str):
        raise ValueError(f"{where}: port must be an integer (or a digit string) in 1..65535")
    try:
        labels = json.dumps(entry.get("labels"))
        server = DnsServer(entry["host"], port, entry.get("name"), labels)
        server.backend("127.0.0.1")  # port, name and labels, as a backend would carry them
        backend_from_dict({"host": entry["host"], "port": 1})  # the host itself
    except (InvalidNode, TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return server


def parse_nameserver(value: object) -> tuple[tuple[str, int], ...]:
    """`nameserver` as (host, port) pairs; () for none (use /etc/resolv.conf)."""
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    hosts = [v for v in values if isinstance(v, str) and v]
    if not values or len(hosts) != len(values):
        raise ValueError("nameserver: a host, host:port, or a list of them")
    return tuple(_host_port(v) for v in hosts)


def _host_port(text: str) -> tuple[str, int]:
    host, port = text, str(DNS_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (rest or port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"nameserver {text!r}: port must be in 1..65535")
    try:
        backend_from_dict({"host": host, "port": 1})
    except InvalidNode:
        raise ValueError(f"nameserver {text!r}: not an IP address or hostname") from None
    return host, int(port)


def host_has_ipv6(if_inet6: str = "/proc/net/if_inet6") -> bool:
    """Ruby's `Resolv::DNS#use_ipv6?`: some address is IPv6, neither loopback nor link-local."""
    try:
        with open(if_inet6) as f:
            hexes = [line.split()[0] for line in f if line.strip()]
    except OSError:
        return False  # no IPv6 in this kernel
    ips = (ipaddress.IPv6Address(int(h, 16)) for h in hexes)
    return any(not (ip.is_loopback or ip.is_link_local) for ip in ips)


class DnsLookup:
    """Resolves one service's `servers` each round, keeping a name's last answer on failure."""

    def __init__(
        self,
        servers: Sequence[DnsServer],
        nameserver: Sequence[tuple[str, int]] = (),
        timeout: float = DEFAULT_TIMEOUT,
        ipv6: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.servers = tuple(servers)
        self.timeout = timeout
        self.healthy = True  # the last round had no failed lookup
        self._nameserver = tuple(nameserver)
        self._types = ("A", "AAAA") if (host_has_ipv6() if ipv6 is None else ipv6) else ("A",)
        self._clock = clock
        self._answers = LastAnswers("dns:", log)
        self.invalid = 0  # entry and address pairs skipped: the backend failed validation
        self._skipped: set[tuple[DnsServer, str]] = set()

    @property
    def failures(self) -> int:
        """Names whose lookup failed, counted once per name and outage."""
        return self._answers.failures

    def set_servers(self, servers: Sequence[DnsServer]) -> None:
        """Resolve `servers` from the next round on; names no entry has any more are forgotten."""
        self.servers = tuple(servers)
        self._answers.retain(s.host for s in self.servers)

    def resolve(self) -> tuple[Backend, ...]:
        """One round: the backends, in Ruby's order, one per host:port (the first one wins)."""
        deadline = self._clock() + self.timeout
        resolver = self._resolver()
        backends: dict[str, Backend] = {}
        answers: dict[str, tuple[Answer, bool]] = {}  # this round's, by name
        for server in self.servers:
            if server.host not in answers:
                answers[server.host] = self._answer(server.host, resolver, deadline)
            for address in answers[server.host][0]:
                backend = self._backend(server, address)
                if backend is not None:
                    backends.setdefault(backend.key, backend)
        self.healthy = all(ok for _, ok in answers.values())
        return tuple(backends.values())

    def _backend(self, server: DnsServer, address: str) -> Backend | None:
        """The entry's backend at `address`; None (logged once, counted) if it fails validation
        (an answer or a ZooKeeper node's values are untrusted)."""
        try:
            return server.backend(address)
        except (InvalidNode, TypeError, ValueError) as e:
            if (server, address) not in self._skipped:
                self._skipped.add((server, address))
                self.invalid += 1
                log.warning("dns: %r at %s skipped: %s", server.host, address, e)
            return None

    def _answer(self, host: str, resolver, deadline: float) -> tuple[Answer, bool]:
        """The name's addresses, and whether the lookup answered (else: its last answer)."""
        try:
            addresses = self._addresses(host, resolver, deadline)
        except LookupFailed as e:
            return self._answers.failed(host, str(e), "retried every round") or (), False
        self._answers.answered(host, addresses)
        return addresses, True

    def _addresses(self, host: str, resolver, deadline: float) -> Answer:
        if is_ip_literal(host):
            return (host,)
        if resolver is None:
            raise LookupFailed("the nameserver does not resolve")
        found: set[str] = set()
        for rdtype in self._types:
            found.update(self._query(resolver, host, rdtype, deadline))
        return tuple(sorted(found))  # Ruby sorts the address strings

    def _query(self, resolver, host: str, rdtype: str, deadline: float) -> list[str]:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise LookupFailed(f"no time left in this round ({self.timeout:g}s)")
        try:
            answer = resolver.resolve(host, rdtype, lifetime=remaining, search=True)
        except _NO_RECORDS:
            return []
        except (dns.exception.DNSException, OSError) as e:
            raise LookupFailed(f"{type(e).__name__}: {e}") from None
        return [r.to_text() for r in answer if r.rdtype == dns.rdatatype.from_text(rdtype)]

    def _resolver(self) -> dns.resolver.Resolver | None:
        if not self._nameserver:
            try:
                return dns.resolver.Resolver()  # /etc/resolv.conf, with its search list
            except dns.exception.DNSException:
                return None
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for host, port in self._nameserver
            for address in _addresses_of(host)
        ]
        if not resolver.nameservers:
            return None
        domain = socket.gethostname().partition(".")[2]  # Ruby's search list without resolv.conf
        resolver.search = [dns.name.from_text(domain)] if domain else []
        return resolver


def _addresses_of(host: str) -> list[str]:
    if is_ip_literal(host):
        return [host]
    try:
        infos = socket.getaddrinfo(host, DNS_PORT, type=socket.SOCK_DGRAM)
        return sorted({str(info[4][0]) for info in infos})
    except OSError:
        return []
