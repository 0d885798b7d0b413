"""`--config-overlay`, as both daemons merge it: the overlay file over the main config.

Keys we add can live in the overlay, so the main file stays loadable by the Ruby daemon for a
rollback (docs/configuration.md). Which file a key came from is each daemon's own affair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_overlay(base: Any, overlay: Any) -> Any:
    """`overlay` over `base`: objects merge key by key (recursively); every other value replaces.

    Lists are replaced whole (an overlay's `checks` replaces the service's list); keys keep
    `base`'s order, with new ones after them. Nothing is ever deleted.
    """
    if not (isinstance(base, Mapping) and isinstance(overlay, Mapping)):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = merge_overlay(base[key], value) if key in base else value
    return merged
