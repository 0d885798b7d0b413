"""Discovery methods, registered by config `discovery.method` (as Ruby synapse loads
`service_watcher/<method>`): the contract is in `protocol`, one module per method.

A third-party method is a class implementing `protocol.Discovery`, published under the entry
point group `synapse_py.discovery` with the method name as the entry point's name (see
docs/architecture.md); `methods()` loads them once, next to the built-in ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from smartstack_common import plugins

# importing registers each method
from . import base, dns, multi, zookeeper, zookeeper_dns, zookeeper_poll  # noqa: F401
from .protocol import (
    DISCOVERY,
    Discovery,
    DiscoveryContext,
    Membership,
    Published,
    ServiceData,
    Touched,
    register,
)

__all__ = [
    "DISCOVERY",
    "ENTRY_POINT_GROUP",
    "Discovery",
    "DiscoveryContext",
    "Membership",
    "Published",
    "ServiceData",
    "Touched",
    "load_entry_points",
    "methods",
    "register",
]

ENTRY_POINT_GROUP = "synapse_py.discovery"
_BUILT_IN = frozenset(DISCOVERY)
_loaded = False


def methods() -> Mapping[str, type[Discovery]]:
    """Every discovery method: the built-in ones and those of installed plug-ins."""
    global _loaded
    if not _loaded:
        _loaded = True
        load_entry_points()
    return DISCOVERY


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Register the methods the installed distributions publish under `group`; their names.

    A plug-in that fails to load, or that would replace a built-in method, is logged and left
    out: a config that uses it is then refused by `validate` as an unknown method.
    """
    return plugins.load_entry_points(group, DISCOVERY, _BUILT_IN, "method")
