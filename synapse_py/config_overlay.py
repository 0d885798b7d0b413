"""`--config-overlay`: a second file merged over the main config, so the main file keeps only
the Ruby synapse's keys (and stays loadable by it, for a rollback) while ours live beside it.

The merge (docs/synapse.md): an object in the overlay is merged key by key into the object at
the same key path, recursively (so `services.web.envoy` adds to the service `web`, wherever it
was defined, also in `service_conf_dir`); any other value (a string, a number, `null`, a list)
replaces the main file's value whole. Nothing is ever deleted. The merge itself is
smartstack_common.overlay's, the same as nerve-py's; this module knows which file a key came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_file import ConfigError, KeyPath, read_document


def read_overlay(source: str) -> dict:
    """The overlay file, which must be an object."""
    raw = read_document(source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: an overlay must be an object (a mapping of keys)")
    return raw


def holds(document: Any, path: KeyPath) -> bool:
    """Whether `document` has a value at `path` (so an error there is the overlay's)."""
    for key in path:
        if not _has(document, key):
            return False
        document = document[key]
    return True


def _has(document: Any, key: Any) -> bool:
    if isinstance(document, list):
        return isinstance(key, int) and 0 <= key < len(document)
    return isinstance(document, Mapping) and key in document


def overlay_owns(overlay: Any, merged_from: Any, path: KeyPath) -> bool:
    """Whether the value at `path` is the overlay's: it holds it, and did not only merge into it."""
    if not holds(overlay, path):
        return False
    value = overlay
    for key in path:
        value = value[key]
    return not (isinstance(value, Mapping) and holds(merged_from, path))
