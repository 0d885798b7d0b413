"""What Ruby synapse 0.18.9 writes after a server's address: cookie, options, weight; and the order.

Ruby's line is `server <name> <host>:<port> id N cookie <value> <server_options>
<haproxy_server_options>`, where:

- `<name>` is `<name>_<host>:<port>`, or `<host>:<port>` for a node without a name;
- `id N` is the server's stable number (haproxy_members.IdTable);
- `cookie <value>` is the server name (`cookie_value_method: hash`: its SHA-1, hex), on every
  server of a backend whose lines do not include exactly `mode tcp`, as Ruby writes it. HAProxy
  uses it only where a `cookie` directive (the backend's or `defaults`') asks for one; `add
  server` refuses the keyword, so such backends take joins by a reload (haproxy_config);
- `%{host}`, `%{port}` and `%{name}` (the server name) in `server_options` and in a node's
  `haproxy_server_options` are replaced by the server's values;
- with `use_nerve_weights` and an integer nerve weight, the first `weight N` of both option
  strings is removed and `weight <nerve weight>` is appended; otherwise a node's weight is not
  used and the option strings are written as they are.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from ...backend import Backend

_WEIGHT = re.compile(r"weight +[0-9]+")
_SPACES = re.compile(r" +")


def server_name(backend: Backend) -> str:
    """Ruby synapse's HAProxy server name for a backend."""
    address = f"{backend.host}:{backend.port}"
    return f"{backend.name}_{address}" if backend.name else address


def expand(template: str, host: str, port: int | str, name: str) -> str:
    """Ruby's `%{host}`, `%{port}` and `%{name}` placeholders, replaced."""
    for key, value in (("%{host}", host), ("%{port}", str(port)), ("%{name}", name)):
        template = template.replace(key, value)
    return template


def cookie_value(name: str, method: str | None) -> str:
    """The value of a server's `cookie`: its name, or the SHA-1 of it (`hash`)."""
    return hashlib.sha1(name.encode()).hexdigest() if method == "hash" else name


def writes_cookies(backend_lines: Sequence[str]) -> bool:
    """Ruby writes a server cookie unless a backend line is exactly `mode tcp`."""
    return "mode tcp" not in backend_lines


def cookie_directive(backend_lines: Sequence[str], defaults: Sequence[str]) -> bool:
    """A `cookie` directive (the backend's or `defaults`') makes HAProxy use server cookies."""
    return any(line.split()[:1] == ["cookie"] for line in (*backend_lines, *defaults))


def line_options(
    backend: Backend,
    server_options: str,
    use_nerve_weights: bool,
) -> str:
    """What Ruby writes after `id N cookie V`: see the module docstring."""
    name = server_name(backend)
    service = expand(server_options, backend.host, backend.port, name)
    node = expand(backend.haproxy_server_options or "", backend.host, backend.port, name)
    parts: list[str] = []
    if not (use_nerve_weights and type(backend.weight) is int):
        return " ".join(p.strip() for p in (*parts, service, node) if p.strip())
    parts += [_WEIGHT.sub("", service, count=1), _WEIGHT.sub("", node, count=1)]
    parts.append(f"weight {backend.weight}")
    return _SPACES.sub(" ", " ".join(parts)).strip()  # Ruby squeezes this line's spaces


def ordered(backends: Sequence[Backend], order: str | None, seed: int) -> list[Backend]:
    """Ruby's `backend_order`: `asc`/`desc` by server name (byte-wise), `no_shuffle` as given
    (ZooKeeper's order), anything else shuffled with `server_order_seed`."""
    by_name = sorted(backends, key=lambda b: server_name(b).encode())
    if order == "asc":
        return by_name
    if order == "desc":
        return by_name[::-1]
    if order == "no_shuffle":
        return list(backends)
    random.Random(seed).shuffle(by_name)
    return by_name
