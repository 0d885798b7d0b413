"""Third-party plug-ins through Python entry points, one loader for every registry.

A distribution publishes a class under a group (`nerve_py.checks`, `synapse_py.discovery`,
`synapse_py.generators`) with the registry name as the entry point's name; `load_entry_points`
adds each to the registry. A plug-in that fails to import, or that would replace a built-in, is
logged and left out, so a config that names it is refused by `validate` as unknown, and one
broken plug-in never stops the daemon or the other plug-ins.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, MutableMapping
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)


def load_entry_points(
    group: str, registry: MutableMapping[str, Any], built_in: Collection[str], kind: str
) -> list[str]:
    """Register what the installed distributions publish under `group`; the names added.

    `kind` names what is registered in messages ("discovery method", "check type", ...).
    """
    added = []
    for entry in metadata.entry_points(group=group):
        if entry.name in built_in:
            log.error("%s plug-in %s: %r is a built-in %s; ignored", group, entry.value,
                      entry.name, kind)  # fmt: skip
            continue
        try:
            registry[entry.name] = entry.load()
        except Exception as e:  # noqa: BLE001 - one broken plug-in must not stop the others
            log.error("%s plug-in %r (%s) failed to load: %s", group, entry.name, entry.value, e)
            continue
        added.append(entry.name)
    return added
