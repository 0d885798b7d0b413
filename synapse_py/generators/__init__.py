"""Generators turn the desired membership into proxy config or files; they register by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..backend import Backend
    from ..config import ServiceConfig

GENERATORS: dict[str, type] = {}


class Generator(Protocol):
    """What the reconciler calls: make the output match `membership` (service name -> backends)."""

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None: ...


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a generator class available under `name` (a config section name)."""

    def add(cls: type) -> type:
        if GENERATORS.get(name, cls) is not cls:
            raise ValueError(f"generator {name!r} is already registered")
        GENERATORS[name] = cls
        return cls

    return add
