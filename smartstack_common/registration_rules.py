"""What a registration's host and haproxy_server_options must be for synapse-py to use the node
(docs/security.md "What the validator guarantees").

synapse-py skips a node that breaks a rule (synapse_py/backend.py); nerve-py warns when it checks
its config about a value that would (nerve_py/registry_warnings.py): such a service is registered
and no synapse-py sends it traffic. One copy of the rules keeps the two in step.
"""

from __future__ import annotations

import re

from .server_options import BadOptions, checked_options, is_ip_literal

_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

HOST_RULE = "an IP address or an RFC 1123 hostname"


def is_registry_host(value: object) -> bool:
    """`value` is an IP address (without an IPv6 scope id) or an RFC 1123 hostname."""
    return isinstance(value, str) and (is_ip_literal(value) or _is_hostname(value))


def _is_hostname(host: str) -> bool:
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()  # "1.2.3" would be read as an IPv4 shorthand by resolvers


def server_options_problem(value: str) -> str | None:
    """Why synapse-py refuses these haproxy_server_options; None when it takes them."""
    try:
        checked_options(value)
    except BadOptions as e:
        return str(e)
    return None
