"""`base`: no discovery; the service's `default_servers` are its backends (Ruby's BaseWatcher)."""

from __future__ import annotations

from .protocol import Published, Touched, register


@register("base")
class BaseDiscovery(Published):
    """Ready at once with no discovered backend: the reconciler serves the default servers."""

    def ready(self) -> bool:
        return True

    def handle(self, event: object) -> Touched:
        return Touched.NOTHING
