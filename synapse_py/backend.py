"""A backend read from the registry: the reader side of the znode contract (see DESIGN.md).

Everything in a `Backend` has been validated: it is safe to render into a proxy config.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


class InvalidNode(ValueError):
    """A registry node failed validation; the node is skipped whole."""


@dataclass(frozen=True, order=True)
class Backend:
    """One live instance of a service, validated."""

    host: str
    port: int
    name: str
    weight: int | None = None
    haproxy_server_options: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # compared: a label-only change is a change
    node: str = field(default="", compare=False)  # the child name it came from ("" for defaults)

    @property
    def key(self) -> str:
        """Identity used by generators: the same host:port is one server."""
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict:
        """The backend as the Ruby synapse's file_output writes it."""
        d: dict = {"name": self.name, "host": self.host, "port": self.port}
        if self.weight is not None:
            d["weight"] = self.weight
        if self.haproxy_server_options:
            d["haproxy_server_options"] = self.haproxy_server_options
        if self.labels:
            d["labels"] = dict(self.labels)
        return d


# --- decoding and validating untrusted registry nodes ---

MAX_NODE_BYTES = 64 * 1024
MAX_NAME_LEN = 255
MAX_OPTIONS_LEN = 512
MAX_LABELS = 64
MAX_LABEL_KEY_LEN = 128
MAX_LABEL_VALUE_LEN = 512

_NAME_RE = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_NAME_LEN}}}")
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IP_CHARS_RE = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_ENCODED_NAME_RE = re.compile(r"base64_([0-9]{1,5})_(.*)", re.DOTALL)
_B64_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_SEQUENCE_RE = re.compile(r"_[0-9]*")  # empty for non-sequential node types


class ChildName(NamedTuple):
    """A parsed child name: plain (`instance_id` set) or path-encoded (`payload` set)."""

    instance_id: str | None
    payload: dict | None
    sequence: str


def decode_node(child_name: str, data: bytes | None) -> Backend:
    """Decode one registry child into a validated `Backend`; raise `InvalidNode` if anything is off.

    A path-encoded child is decoded from its name alone (`data` is not needed); a plain child needs
    its data.
    """
    parsed = parse_child_name(child_name)
    if parsed.payload is not None:
        return backend_from_dict(parsed.payload, node=child_name)
    if data is None:
        raise InvalidNode("no data")
    return backend_from_dict(_json_object(_utf8(data)), node=child_name)


def parse_child_name(child_name: str) -> ChildName:
    """Split a child name (plain or path-encoded); a bad `base64_<len>_...` name is invalid."""
    match = _ENCODED_NAME_RE.fullmatch(child_name)
    if match is None:
        instance_id, _, sequence = child_name.rpartition("_")
        return ChildName(instance_id or child_name, None, sequence if instance_id else "")
    length, rest = int(match.group(1)), match.group(2)
    encoded, tail = rest[:length], rest[length:]
    if len(encoded) != length or not _SEQUENCE_RE.fullmatch(tail):
        raise InvalidNode("malformed path-encoded child name")
    return ChildName(None, _json_object(_utf8(_b64decode(encoded))), tail[1:])


def backend_from_dict(d: object, node: str = "") -> Backend:
    """Validate a decoded registration (or default server, or state-file entry) into a `Backend`."""
    if not isinstance(d, dict):
        raise InvalidNode("not a JSON object")
    return Backend(
        host=_host(d.get("host")),
        port=_int_in(d.get("port"), "port", 1, 65535),
        name=_name(d.get("name")),
        weight=None if d.get("weight") is None else _int_in(d["weight"], "weight", 0, 256),
        haproxy_server_options=_server_options(d.get("haproxy_server_options")),
        labels=_labels(d.get("labels")),
        node=node,
    )


def matches_label_filters(backend: Backend, filters: Iterable[Mapping]) -> bool:
    """True if the backend passes every Ruby-synapse label filter (`equals` when no condition)."""
    labels = dict(backend.labels)
    for f in filters:
        equal = labels.get(f.get("label")) == f.get("value")
        if equal != (f.get("condition", "equals") == "equals"):
            return False
    return True


def _utf8(data: bytes) -> str:
    if len(data) > MAX_NODE_BYTES:
        raise InvalidNode(f"data larger than {MAX_NODE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNode("data is not UTF-8") from None


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise InvalidNode(f"data is not JSON: {str(e)[:80]}") from None
    if not isinstance(value, dict):
        raise InvalidNode("data is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("duplicate key")  # parsers disagree on which copy wins: trust neither
    return d


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _b64decode(encoded: str) -> bytes:
    if not _B64_RE.fullmatch(encoded):
        raise InvalidNode("path-encoded child name is not urlsafe base64")
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise InvalidNode("path-encoded child name is not urlsafe base64") from None


def _int_in(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # bool is an int subclass: excluded
        raise InvalidNode(f"{what} must be an integer in {low}..{high}")
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidNode("name must match [A-Za-z0-9_.:-]{1,255}")
    return value


def _host(value: object) -> str:
    if isinstance(value, str) and (is_ip_literal(value) or _is_hostname(value)):
        return value
    raise InvalidNode("host must be an IP address or an RFC 1123 hostname")


def is_ip_literal(host: str) -> bool:
    """An IPv4 or IPv6 address, written as one (no scope id, nothing around it)."""
    if not _IP_CHARS_RE.fullmatch(host):  # also rules out IPv6 scope ids ("%eth0 ...")
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_hostname(host: str) -> bool:
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()  # "1.2.3" would be read as an IPv4 shorthand by resolvers


def _labels(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise InvalidNode(f"labels must be an object of at most {MAX_LABELS} strings")
    for k, v in value.items():
        if not (isinstance(v, str) and 0 < len(k) <= MAX_LABEL_KEY_LEN):
            raise InvalidNode("label keys and values must be strings of bounded length")
        if len(v) > MAX_LABEL_VALUE_LEN:
            raise InvalidNode("label value too long")
    return tuple(sorted(value.items()))


# haproxy_server_options: keyword -> value check (None: a flag without a value). Anything else,
# e.g. `id`, `cookie`, `track`, `ca-file`, `disabled` (maintenance is ours to set), is refused.
_TIME_RE = re.compile(r"[0-9]{1,9}(?:us|ms|s|m|h|d)?")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SNI_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}(?:\([A-Za-z0-9_.,-]{0,128}\))?")
_COUNT_RE = re.compile(r"[0-9]{1,6}")
_OPTION_CHARS_RE = re.compile(r"[A-Za-z0-9 _.,:()-]*")


def _count(low: int, high: int):
    return lambda v: bool(_COUNT_RE.fullmatch(v)) and low <= int(v) <= high


def _one_of(*choices: str):
    return lambda v: v in choices


def _init_addr(value: str) -> bool:
    return all(m in ("last", "libc", "none") or is_ip_literal(m) for m in value.split(","))


_SERVER_KEYWORDS = {
    **dict.fromkeys(
        (
            "check",
            "backup",
            "send-proxy",
            "send-proxy-v2",
            "ssl",
            "check-ssl",
            "agent-check",
            "check-send-proxy",
            "no-check",
        ),
        None,
    ),
    **dict.fromkeys(
        ("inter", "fastinter", "downinter", "slowstart", "agent-inter"), _TIME_RE.fullmatch
    ),
    **dict.fromkeys(("rise", "fall", "error-limit"), _count(1, 1000)),
    **dict.fromkeys(("maxconn", "maxqueue", "minconn"), _count(0, 1000000)),
    **dict.fromkeys(("port", "agent-port"), _count(1, 65535)),
    "weight": _count(0, 256),
    "verify": _one_of("none", "required"),
    "observe": _one_of("layer4", "layer7"),
    "on-error": _one_of("fastinter", "fail-check", "sudden-death", "mark-down"),
    "resolve-prefer": _one_of("ipv4", "ipv6"),
    "sni": _SNI_RE.fullmatch,
    "resolvers": _TOKEN_RE.fullmatch,
    "init-addr": _init_addr,
}


def _server_options(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_OPTIONS_LEN:
        raise InvalidNode(f"haproxy_server_options must be a string of at most {MAX_OPTIONS_LEN}")
    if not _OPTION_CHARS_RE.fullmatch(value):
        raise InvalidNode("haproxy_server_options holds a forbidden character")
    return " ".join(_checked_options(value.split()))


def _checked_options(words: list[str]) -> Iterable[str]:
    it = iter(words)
    for word in it:
        if word not in _SERVER_KEYWORDS:
            raise InvalidNode(f"haproxy_server_options: keyword {word[:32]!r} is not allowed")
        check = _SERVER_KEYWORDS[word]
        yield word
        if check is not None:
            arg = next(it, "")
            if not check(arg):
                raise InvalidNode(f"haproxy_server_options: bad value for {word}")
            yield arg
