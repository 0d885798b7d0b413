"""A backend read from the registry: the reader side of the znode contract (see DESIGN.md).

Everything in a `Backend` has been validated: it is safe to render into a proxy config.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class InvalidNode(ValueError):
    """A registry node failed validation; the node is skipped whole."""


@dataclass(frozen=True, order=True)
class Backend:
    """One live instance of a service, validated."""

    host: str
    port: int
    name: str
    weight: int | None = None
    haproxy_server_options: str | None = None
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    node: str = field(default="", compare=False)  # the child name it came from ("" for defaults)

    @property
    def key(self) -> str:
        """Identity used by generators: the same host:port is one server."""
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict:
        """The backend as the Ruby synapse's file_output writes it."""
        d: dict = {"name": self.name, "host": self.host, "port": self.port}
        if self.weight is not None:
            d["weight"] = self.weight
        if self.haproxy_server_options:
            d["haproxy_server_options"] = self.haproxy_server_options
        if self.labels:
            d["labels"] = dict(self.labels)
        return d
