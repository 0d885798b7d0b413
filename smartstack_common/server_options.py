"""A registration's `haproxy_server_options`, checked word by word against HAProxy 2.6's server
keywords (each one in the tables below was checked with `haproxy -c` of 2.6).

Ruby synapse appends the string to the `server` line as it is, so fleets use any server keyword.
We accept every keyword whose value(s) are single well-formed tokens, and refuse what cannot be
safe whatever the value: a newline, `#`, a control character or a quote (anything but the
characters below), a word that is not a server keyword (a second directive), a value of the
wrong shape, `crt` (it would present this host's private key to whoever registered) and
`disabled`/`enabled` (the up/maintenance state is ours to set through the runtime API).
`%{host}`, `%{port}` and `%{name}` are Ruby's templates, replaced by the HAProxy generator.

synapse-py skips a registration whose options break a rule (synapse_py/backend.py); nerve-py's
config check warns about configured options that would be (registration_rules.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator

MAX_OPTIONS_LEN = 512

Check = Callable[[str], bool]

_CHARS_RE = re.compile(r"[A-Za-z0-9 _.,:()/%{}=+!@\[\]-]*")
_TEMPLATE_RE = re.compile(r"%\{(?:host|port|name)\}")
_TIME_RE = re.compile(r"[0-9]{1,9}(?:us|ms|s|m|h|d)?")
_COUNT_RE = re.compile(r"-?[0-9]{1,9}")
_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_LIST_RE = re.compile(r"[A-Za-z0-9_.:,+!@/=-]{1,512}")  # alpn, ciphers, npn
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PATH_RE = re.compile(r"/[A-Za-z0-9_./-]{1,255}")
_TRACK_RE = re.compile(r"(?:[A-Za-z0-9_.:-]{1,128}/)?[A-Za-z0-9_.:-]{1,128}")
_SAMPLE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}(?:\([A-Za-z0-9_.,:-]{0,128}\))?")
_URL_RE = re.compile(r"https?://[A-Za-z0-9_.:\[\]-]{1,255}(?:/[A-Za-z0-9_./-]*)?")
_NETS_RE = re.compile(r"[0-9A-Fa-f.:/,]{2,512}")
_IP_CHARS_RE = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_SCOPE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # an interface name or number


def _count(low: int, high: int) -> Check:
    return lambda v: bool(_COUNT_RE.fullmatch(v)) and low <= int(v) <= high


def _one_of(*choices: str) -> Check:
    return lambda v: v in choices


def _matches(pattern: re.Pattern) -> Check:
    return lambda v: bool(pattern.fullmatch(v))


def _address(value: str) -> bool:
    return is_ip_literal(value, scope_id=True) or bool(_HOST_RE.fullmatch(value))


def _address_port(value: str) -> bool:
    host, _, port = value.rpartition(":")
    return _address(host.strip("[]")) and _count(1, 65535)(port)


def _file(*suffixes: str) -> Check:
    """An absolute path to a certificate-like file, no `..` (ca-file: also `@system-ca`)."""

    def check(value: str) -> bool:
        if value == "@system-ca" and ".pem" in suffixes:
            return True
        parts = value.split("/")
        return bool(_PATH_RE.fullmatch(value)) and ".." not in parts and value.endswith(suffixes)

    return check


def _sni(value: str) -> bool:
    return all(_SAMPLE_RE.fullmatch(part) for part in _split_converters(value))


def _split_converters(value: str) -> list[str]:
    """`req.hdr(host),lower` -> the fetch and its converters (commas inside () stay)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(value):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    return [*parts, value[start:]]


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # what ip_address takes, no leading 0s


def is_ip_literal(value: str, scope_id: bool = False) -> bool:
    """An IPv4 or IPv6 address, written as one, nothing around it. `scope_id`: an IPv6 scope id
    may follow (`fe80::1%eth0`, which a server option's address may carry; a registry host may
    not: backend.py)."""
    if _IPV4_RE.fullmatch(value):  # the common case, without ipaddress's slower parse
        return True
    address, percent, scope = value.partition("%") if scope_id else (value, "", "")
    if not _IP_CHARS_RE.fullmatch(address) or (percent and not _SCOPE_RE.fullmatch(scope)):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _init_addr(value: str) -> bool:
    return all(
        m in ("last", "libc", "none") or is_ip_literal(m, scope_id=True) for m in value.split(",")
    )


_TLS_VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_TIME = _matches(_TIME_RE)
_NAME = _matches(_NAME_RE)
_LIST = _matches(_LIST_RE)

FLAGS = frozenset(
    (
        "agent-check",
        "allow-0rtt",
        "backup",
        "check",
        "check-send-proxy",
        "check-ssl",
        "check-via-socks4",
        "force-sslv3",
        "force-tlsv10",
        "force-tlsv11",
        "force-tlsv12",
        "force-tlsv13",
        "no-agent-check",
        "no-backup",
        "no-check",
        "no-check-ssl",
        "no-send-proxy",
        "no-send-proxy-v2",
        "no-send-proxy-v2-ssl",
        "no-send-proxy-v2-ssl-cn",
        "no-ssl",
        "no-ssl-reuse",
        "no-sslv3",
        "no-tfo",
        "no-tls-tickets",
        "no-tlsv10",
        "no-tlsv11",
        "no-tlsv12",
        "no-tlsv13",
        "non-stick",
        "send-proxy",
        "send-proxy-v2",
        "send-proxy-v2-ssl",
        "send-proxy-v2-ssl-cn",
        "ssl",
        "ssl-reuse",
        "stick",
        "tfo",
        "tls-tickets",
    )
)

VALUED: dict[str, Check] = {
    **dict.fromkeys(
        ("inter", "fastinter", "downinter", "slowstart", "agent-inter", "pool-purge-delay"),
        _TIME,
    ),
    "tcp-ut": _TIME,
    **dict.fromkeys(("rise", "fall", "error-limit"), _count(1, 100000)),
    **dict.fromkeys(
        ("maxconn", "maxqueue", "minconn", "pool-low-conn", "pool-max-conn"), _count(0, 10**9)
    ),
    "max-reuse": _count(-1, 10**9),
    **dict.fromkeys(("port", "agent-port"), _count(1, 65535)),
    "weight": _count(0, 256),
    "id": _count(1, 2**31 - 1),
    "cookie": _NAME,
    "resolvers": _NAME,
    "track": _matches(_TRACK_RE),
    **dict.fromkeys(("alpn", "check-alpn", "npn", "ciphers", "ciphersuites"), _LIST),
    **dict.fromkeys(("proto", "check-proto"), _matches(re.compile(r"[a-z0-9]{1,16}"))),
    "proxy-v2-options": _LIST,
    "agent-send": _matches(re.compile(r"[A-Za-z0-9_.:,=/-]{1,128}")),
    **dict.fromkeys(("addr", "agent-addr"), _address),
    "socks4": _address_port,
    **dict.fromkeys(("check-sni", "verifyhost"), _matches(_HOST_RE)),
    "sni": _sni,
    "ca-file": _file(".pem", ".crt", ".cer", ".ca", ".bundle"),
    "crl-file": _file(".pem", ".crl"),
    "redir": _matches(_URL_RE),
    "init-addr": _init_addr,
    "resolve-net": _matches(_NETS_RE),
    "resolve-prefer": _one_of("ipv4", "ipv6"),
    "resolve-opts": _one_of("allow-dup-ip", "ignore-weight", "prevent-dup-ip"),
    "verify": _one_of("none", "required"),
    "observe": _one_of("layer4", "layer7"),
    "on-error": _one_of("fastinter", "fail-check", "sudden-death", "mark-down"),
    "on-marked-down": _one_of("shutdown-sessions"),
    "on-marked-up": _one_of("shutdown-backup-sessions"),
    "log-proto": _one_of("legacy", "octet-count"),
    "ws": _one_of("auto", "h1", "h2"),
    **dict.fromkeys(("ssl-min-ver", "ssl-max-ver"), _one_of(*_TLS_VERSIONS)),
}


class BadOptions(ValueError):
    """The options string fails a rule; the message says which."""


def checked_options(value: str) -> str:
    """The options with single spaces between words; raise `BadOptions` if a rule fails."""
    if len(value) > MAX_OPTIONS_LEN:
        raise BadOptions(f"longer than {MAX_OPTIONS_LEN} characters")
    if not _CHARS_RE.fullmatch(value):
        raise BadOptions("holds a forbidden character")
    return " ".join(_checked_words(value.split()))


def _checked_words(words: Iterable[str]) -> Iterator[str]:
    it = iter(words)
    for word in it:
        yield word
        if word in FLAGS:
            continue
        if word not in VALUED:
            raise BadOptions(f"keyword {word[:32]!r} is not allowed")
        value = next(it, "")
        if not VALUED[word](_TEMPLATE_RE.sub("x", value)):
            raise BadOptions(f"bad value for {word}")
        yield value
