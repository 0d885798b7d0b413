"""Generators turn the desired membership into proxy config or files; they register by name.

The contract is in `base`. The built-in generators (`haproxy`, `file_output`, `envoy`) are
imported by `generators()`, not here, so `synapse_py.config` can import `base` and the HAProxy
keyword screen without loading them. A third-party generator is a class implementing
`base.Generator` (usually a `GeneratorBase` subclass), published under the entry point group
`synapse_py.generators` with its section name as the entry point's name (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping

from smartstack_common import plugins

from .base import FIGURES, Generator, GeneratorBase, Location

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIGURES",
    "GENERATORS",
    "Generator",
    "GeneratorBase",
    "Location",
    "generators",
    "load_entry_points",
    "plugin_generators",
    "register",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "synapse_py.generators"
BUILT_IN = {  # name -> module that registers it
    "haproxy": "synapse_py.generators.haproxy.generator",
    "file_output": "synapse_py.generators.file_output",
    "envoy": "synapse_py.generators.envoy.generator",
}
GENERATORS: dict[str, type[GeneratorBase]] = {}
_plugins: dict[str, type[GeneratorBase]] | None = None


def register(name: str) -> Callable[[type[GeneratorBase]], type[GeneratorBase]]:
    """Class decorator: make a generator class available under `name` (its config section)."""

    def add(cls: type[GeneratorBase]) -> type[GeneratorBase]:
        if GENERATORS.get(name, cls) is not cls:
            raise ValueError(f"generator {name!r} is already registered")
        GENERATORS[name] = cls
        return cls

    return add


def plugin_generators() -> Mapping[str, type[GeneratorBase]]:
    """The generators of installed plug-ins (loaded once; they import no built-in one)."""
    global _plugins
    if _plugins is None:
        _plugins = {}
        load_entry_points(registry=_plugins)
    return _plugins


def generators() -> Mapping[str, type[GeneratorBase]]:
    """Every generator, built in or from a plug-in, by section name."""
    for module in BUILT_IN.values():
        importlib.import_module(module)
    for name, cls in plugin_generators().items():
        GENERATORS.setdefault(name, cls)
    return GENERATORS


def load_entry_points(
    group: str = ENTRY_POINT_GROUP, registry: dict[str, type[GeneratorBase]] | None = None
) -> list[str]:
    """Register the generators installed distributions publish under `group`; their names.

    A plug-in's class must subclass `GeneratorBase` (the class-level hooks the daemon calls);
    one that does not is logged and left out."""
    target = GENERATORS if registry is None else registry
    found: dict[str, type] = {}
    plugins.load_entry_points(group, found, BUILT_IN, "generator")
    for name, cls in found.items():
        if isinstance(cls, type) and issubclass(cls, GeneratorBase):
            target[name] = cls
        else:
            log.error(
                "generator plug-in %r: %r is not a GeneratorBase subclass; ignored", name, cls
            )
    return [name for name in found if name in target]
