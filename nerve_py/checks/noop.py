"""`noop`: always healthy (a service registered unconditionally)."""

from __future__ import annotations

from .base import Check, register


@register("noop")
class NoopCheck(Check):
    """Passes every time."""

    def check(self) -> bool:
        return True
