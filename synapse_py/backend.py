"""A backend read from the registry: the reader side of the znode contract
(docs/architecture.md; the validation rules: docs/security.md "What the validator guarantees").

Everything in a `Backend` has been validated: its host, port, name, integer weight and server
options are safe to render into a proxy config. `record` is what Ruby synapse's file_output
writes for it, byte for byte (raw values: a port given as "8080", a weight of "7" or 2.5).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from smartstack_common.registration_rules import HOST_RULE, is_registry_host
from smartstack_common.server_options import (
    BadOptions,
    checked_options,
    is_ip_literal,  # noqa: F401 - re-exported for discovery and generators
)

log = logging.getLogger(__name__)


class InvalidNode(ValueError):
    """A registry node failed validation; the node is skipped whole."""


@dataclass(frozen=True, order=True)
class Backend:
    """One live instance of a service, validated."""

    host: str
    port: int
    name: str = ""  # "" when the registration has none: Ruby names the server host:port
    weight: int | None = None  # an integer weight (clamped to 256); None: none, or not an integer
    haproxy_server_options: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # the string-valued labels, for label filters
    node: str = field(default="", compare=False)  # the child name it came from ("" for defaults)
    id: int | None = field(default=None, compare=False)  # the child name's numeric suffix
    record: str = ""  # compared: a change in any raw value is a change

    def __post_init__(self) -> None:
        if not self.record:
            object.__setattr__(self, "record", _dump(ruby_record(self._fields(), self.id)))

    @property
    def key(self) -> str:
        """Identity used by generators: the same host:port is one server."""
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict:
        """The backend as Ruby synapse's file_output writes it (keys in Ruby's order)."""
        return json.loads(self.record)

    def with_port(self, port: int | str) -> Backend:
        """The backend with its port overridden (`backend_port_override`, raw as configured)."""
        return replace(self, port=int(port), record=_dump({**self.to_json(), "port": port}))

    def _fields(self) -> dict:
        return {
            "name": self.name or None,
            "host": self.host,
            "port": self.port,
            "weight": self.weight,
            "haproxy_server_options": self.haproxy_server_options,
            "labels": dict(self.labels) if self.labels else None,
        }


def ruby_record(d: Mapping, node_id: int | None) -> dict:
    """A registration as Ruby's ZooKeeper watcher keeps it: these keys, this order, nulls."""
    return {
        "name": d.get("name"),
        "host": d.get("host"),
        "port": d.get("port"),
        "id": node_id,
        "weight": d.get("weight"),
        "haproxy_server_options": d.get("haproxy_server_options"),
        "labels": d.get("labels"),
    }


def _dump(value: object) -> str:
    """Compact JSON with raw UTF-8, as Ruby's `to_json` writes it."""
    return _ENCODER.encode(value)


# one of each, not one per call (json.dumps/loads with options build them every time): at the
# initial sync of 20,000 nodes the builds were a tenth of the decoding
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# --- decoding and validating untrusted registry nodes ---

MAX_NODE_BYTES = 64 * 1024
MAX_NAME_LEN = 255
MAX_LABELS = 64
MAX_LABEL_KEY_LEN = 128
MAX_LABEL_VALUE_LEN = 512
MAX_WEIGHT = 256  # HAProxy's
MAX_RAW_WEIGHT_LEN = 32  # a non-integer weight (Ruby ignores it) is kept for file_output

_NAME_RE = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_NAME_LEN}}}")
_ENCODED_NAME_RE = re.compile(r"base64_([0-9]{1,5})_(.*)", re.DOTALL)
_B64_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_SEQUENCE_RE = re.compile(r"_[0-9]*")  # empty for non-sequential node types
_DIGITS_RE = re.compile(r"[0-9]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_clamp_warned: set[object] = set()


def decode_node(child_name: str, data: bytes | None) -> Backend:
    """Decode one registry child into a validated `Backend`; raise `InvalidNode` if anything is off.

    As Ruby synapse: a `base64_` child name that decodes to a JSON object is the registration
    (its data is not needed); any other name, including a `base64_` one that does not decode,
    needs the data.
    """
    payload = name_payload(child_name)
    if payload is None:
        if data is None:
            raise InvalidNode("no data")
        payload = _json_object(_utf8(data))
    return backend_from_registration(payload, child_name)


def name_payload(child_name: str) -> dict | None:
    """The registration a path-encoded child name carries; None if the name carries none."""
    match = _ENCODED_NAME_RE.fullmatch(child_name)
    if match is None:
        return None
    length, rest = int(match.group(1)), match.group(2)
    encoded, tail = rest[:length], rest[length:]
    if len(encoded) != length or not _SEQUENCE_RE.fullmatch(tail):
        return None
    try:
        return _json_object(_utf8(_b64decode(encoded)))
    except InvalidNode:
        return None


def numeric_id(child_name: str) -> int | None:
    """Ruby's `id`: the part of the child name after its last `_` if all digits (a trailing `_`
    is dropped first, as Ruby's `split` does), else None."""
    suffix = child_name.rstrip("_").rpartition("_")[2]
    return int(suffix) if _DIGITS_RE.fullmatch(suffix) else None


def backend_from_registration(d: object, child_name: str) -> Backend:
    """Validate a decoded registration into a `Backend`, recorded in Ruby's form."""
    node_id = numeric_id(child_name)
    record = _dump(ruby_record(_mapping(d), node_id))
    return backend_from_dict(d, child_name, node_id, record)


def backend_from_dict(
    d: object, node: str = "", node_id: int | None = None, record: str | None = None
) -> Backend:
    """Validate a registration, a default server or a state-file entry into a `Backend`.

    The record is `record`, else the dict as it is (default servers are written as configured).
    """
    d = _mapping(d)
    if node_id is None and type(d.get("id")) is int:
        node_id = d["id"]  # a state-file entry: the record of a discovered node
    return Backend(
        host=_host(d.get("host")),
        port=_port(d.get("port")),
        name=_name(d.get("name")),
        weight=_weight(d.get("weight")),
        haproxy_server_options=_server_options(d.get("haproxy_server_options")),
        labels=_labels(d.get("labels")),
        node=node,
        id=node_id,
        record=_dump(d) if record is None else record,
    )


def _mapping(d: object) -> dict:
    if not isinstance(d, dict):
        raise InvalidNode("not a JSON object")
    return d


def _utf8(data: bytes) -> str:
    if len(data) > MAX_NODE_BYTES:
        raise InvalidNode(f"data larger than {MAX_NODE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNode("data is not UTF-8") from None


def _json_object(text: str) -> dict:
    try:
        value = _DECODER.decode(text)
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


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _b64decode(encoded: str) -> bytes:
    if not _B64_RE.fullmatch(encoded):
        raise InvalidNode("path-encoded child name is not urlsafe base64")
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise InvalidNode("path-encoded child name is not urlsafe base64") from None


def _port(value: object) -> int:
    """An integer, or a digit string as Ruby passes it through, in 1..65535."""
    if isinstance(value, str) and _PORT_RE.fullmatch(value):
        value = int(value)
    if type(value) is not int or not 1 <= value <= 65535:  # bool is an int subclass: excluded
        raise InvalidNode("port must be an integer (or a digit string) in 1..65535")
    return value


def _weight(value: object) -> int | None:
    """Ruby applies only an integer weight; other scalars are kept (file_output) and ignored."""
    if value is None or type(value) is float or isinstance(value, str):
        if isinstance(value, str) and len(value) > MAX_RAW_WEIGHT_LEN:
            raise InvalidNode("weight string too long")
        return None
    if type(value) is not int or value < 0:
        raise InvalidNode("weight must be a number >= 0 (or a string, which is ignored)")
    if value > MAX_WEIGHT:
        _warn_clamped(value)
        return MAX_WEIGHT
    return value


def _warn_clamped(value: int) -> None:
    if value not in _clamp_warned and len(_clamp_warned) < 100:  # once per value, bounded
        _clamp_warned.add(value)
        log.warning(
            "a registration has weight %d, above HAProxy's %d: using %d",
            value,
            MAX_WEIGHT,
            MAX_WEIGHT,
        )


def _name(value: object) -> str:
    if value is None or value == "":
        return ""  # Ruby's fallback: the server is named host:port
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidNode("name must be 1 to 255 letters, digits, _ . : and - only")
    return value


def _host(value: object) -> str:
    if isinstance(value, str) and is_registry_host(value):
        return value
    raise InvalidNode(f"host must be {HOST_RULE}")


def _labels(value: object) -> tuple[tuple[str, str], ...]:
    """Labels are never rendered into a proxy config; values may be any JSON scalar (as nerve
    passes them through); the string ones are what label filters compare."""
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise InvalidNode(f"labels must be an object of at most {MAX_LABELS} entries")
    for k, v in value.items():
        if not 0 < len(k) <= MAX_LABEL_KEY_LEN or isinstance(v, dict | list):
            raise InvalidNode("label keys must be short strings and values JSON scalars")
        if isinstance(v, str) and len(v) > MAX_LABEL_VALUE_LEN:
            raise InvalidNode("label value too long")
    return tuple((k, v) for k, v in value.items() if isinstance(v, str))


def _server_options(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidNode("haproxy_server_options must be a string")
    try:
        return checked_options(value) or None
    except BadOptions as e:
        raise InvalidNode(f"haproxy_server_options: {e}") from None
