"""The contract every discovery method implements, and what the reconciler gives it.

A discovery method is a class registered under its config `method` name (`@register("dns")`).
The reconciler builds one instance per service, `cls(service, context)`, and then:

- calls `start()` (must not block: start a thread, a timer or async requests) and `stop()`;
- hands it, on the reconciler's thread, every event it published for its service (events with
  a `service` attribute equal to the service's name) and every event without a `service`
  (broadcast, e.g. a ZooKeeper client that connected): `handle(event)` says what it touched;
- asks `ready()` (has discovery answered enough to compute the membership?) and, once ready,
  `backends()`: the service's validated backends, before default_servers, label filters and the
  mass-expiry guard, which the reconciler applies the same way for every method.

The simplest method publishes `Membership(service, backends)` with the full membership from its
own thread and subclasses `Published`, which handles it. A `ServiceData` event carries the
service's own registry data (Ruby's generator config); the reconciler handles it. `healthy()`
reports whether the source answers (exported as the synapse_discovery_healthy metric); a method
never empties a backend because its source is down: it keeps publishing nothing new.

Each class declares the config keys it accepts besides `method` and the label filters: `keys`
(JSON Schema properties) and `required`; `settings(raw)` turns its schema-valid section into the
frozen value in `DiscoveryConfig.settings`. Two optional hooks: `problems(raw)` yields the
errors its schema cannot express, as (key in the section, message); `nested` names the keys whose
values map names to discovery sections of other (not nested) methods, each validated by its own
method (`multi`'s `watchers`). `snapshot(service, context, timeout)` reads the membership once,
for the CLI's `render`.
"""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from ..backend import Backend

if TYPE_CHECKING:
    from ..config import ServiceConfig, SynapseConfig

T = TypeVar("T")
Found = tuple[tuple["Backend", ...], bytes | None]  # a snapshot: the backends, the service's data


class Touched(enum.IntEnum):
    """What an event changed, as `handle` reports it to the reconciler."""

    NOTHING = 0  # bookkeeping only (a timer, a path that appeared)
    MEMBERS = 1  # the membership may have changed: recompute it once ready
    LISTING = 2  # ... and it is a join, leave or change that the quiet time (`wait`) waits for


@dataclass(frozen=True)
class Membership:
    """A service's full membership, as its discovery found it (published by `Published`)."""

    service: str
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class ServiceData:
    """The data of the service's own registry entry (it may carry generator config:
    registry_config); None: there is none."""

    service: str
    data: bytes | None


class Discovery(Protocol):
    """One service's discovery (see the module docstring)."""

    keys: ClassVar[Mapping[str, Any]]
    required: ClassVar[tuple[str, ...]]
    service: ServiceConfig
    invalid: int  # registry entries skipped (failed validation, unreadable)
    reads: int  # registry reads sent

    def __init__(self, service: ServiceConfig, context: DiscoveryContext) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def healthy(self) -> bool: ...
    def handle(self, event: object) -> Touched: ...
    def ready(self) -> bool: ...
    def backends(self) -> tuple[Backend, ...]: ...

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any: ...

    @classmethod
    def snapshot(
        cls, service: ServiceConfig, context: DiscoveryContext, timeout: float
    ) -> Found: ...


class DiscoveryContext:
    """What the daemon gives every discovery: the reconciler's queue, the config's top-level
    settings, and resources shared between services (one ZooKeeper client per ensemble), made by
    the first discovery that asks and stopped with the context."""

    def __init__(self, config: SynapseConfig, events: queue.Queue):
        self.config = config
        self.events = events
        self._shared: dict[object, Any] = {}
        self._lock = threading.Lock()

    def shared(self, key: object, make: Callable[[], T]) -> T:
        """The resource under `key`, made by `make` the first time."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]

    def existing(self, key: object) -> Any | None:
        """The resource under `key` if one was made (the metrics read it, never make it)."""
        with self._lock:
            return self._shared.get(key)

    def restart_only_changes(self, new: SynapseConfig) -> list[str]:
        """Top-level keys of `new` that the running shared resources cannot take on a SIGHUP."""
        found: list[str] = []
        for resource in list(self._shared.values()):
            pending = getattr(resource, "restart_only_changes", None)
            found += [key for key in (pending(new) if pending else ()) if key not in found]
        return found

    def stop(self) -> None:
        for resource in self._shared.values():
            stop = getattr(resource, "stop", None)
            if stop:
                stop()
        self._shared.clear()


class Published:
    """A base for methods that publish the full membership (`Membership`) from their own thread
    or timer: handles it, is ready from the first one on; subclasses add start/stop/healthy."""

    keys: ClassVar[Mapping[str, Any]] = {}
    required: ClassVar[tuple[str, ...]] = ()
    invalid: int = 0  # a subclass counts its skipped entries here (or makes it a property)
    reads: int = 0

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        self.service = service
        self.context = context
        self._backends: tuple[Backend, ...] | None = None

    def publish(self, backends: tuple[Backend, ...]) -> None:
        """From any thread: the service's membership is now `backends`."""
        self.context.events.put(Membership(self.service.name, tuple(backends)))

    def start(self) -> None:  # noqa: B027 - optional hooks
        """Start finding backends."""

    def stop(self) -> None:  # noqa: B027
        """Stop finding backends."""

    def healthy(self) -> bool:
        return True

    def handle(self, event: object) -> Touched:
        if not isinstance(event, Membership) or event.backends == self._backends:
            return Touched.NOTHING
        self._backends = event.backends
        return Touched.LISTING

    def ready(self) -> bool:
        return self._backends is not None

    def backends(self) -> tuple[Backend, ...]:
        return self._backends or ()

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        return None

    @classmethod
    def snapshot(cls, service: ServiceConfig, context: DiscoveryContext, timeout: float) -> Found:
        """Start one, take what it publishes until it is ready (at most `timeout`), stop it."""
        own = DiscoveryContext(context.config, queue.Queue())
        found = cls(service, own)
        deadline = time.monotonic() + timeout
        found.start()
        try:
            while not found.ready() and time.monotonic() < deadline:
                try:
                    found.handle(own.events.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
        finally:
            found.stop()
            own.stop()
        return found.backends(), None


#: method name -> class, filled by `register` (built-in modules) and by entry points
DISCOVERY: dict[str, type[Discovery]] = {}


def register(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a discovery class available as config `discovery.method: name`."""

    def add(cls: type[T]) -> type[T]:
        DISCOVERY[name] = cls  # type: ignore[assignment]
        return cls

    return add
