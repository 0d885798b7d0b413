"""`multi`: several discoveries (`watchers`) of one service, combined by a `resolver`.

Ruby's MultiWatcher, both spellings: `discovery.method: multi` with `watchers` (name -> a
discovery section of any other registered method) and `resolver`; or the service key
`discovery_multi` (`watchers`, `resolver`) next to an ordinary `discovery`, which becomes the
watcher named `primary` (`merged`). Resolvers (Ruby's rules, see docs/synapse.md):

- `union`: the backends of every watcher, in the watchers' order (duplicates are left to the
  generators, as for one path); healthy when any watcher is.
- `sequential`: the backends of the first watcher in `sequential_order` that is healthy and has
  backends; none if none has; healthy when any watcher is.

Readiness (ours; Ruby has no such notion): ready when at least one watcher is ready and the
result cannot change once the others answer. Union: every healthy watcher is ready (one whose
source is down adds what it last found, as in Ruby). Sequential: walking `sequential_order`,
unhealthy watchers are skipped, the first ready one with backends decides, an unready healthy
one before it waits. A multi none of whose watchers is healthy is not ready: the reconciler
keeps what it serves, as for any method whose source is down.

Each watcher is built from the registry with the service's config and its own discovery
section, on a view of the daemon's context whose queue tags the watcher's events
(`ChildEvent`) so that they come back to this class and go to that watcher alone. A watcher's
own label filters apply to its backends; default_servers, the service's label filters and the
mass-expiry guard are applied by the reconciler as for any method.
"""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from ..backend import Backend
from .protocol import DISCOVERY, Discovery, DiscoveryContext, Found, ServiceData, Touched, register

if TYPE_CHECKING:
    from ..config import DiscoveryConfig, ServiceConfig, SynapseConfig

T = TypeVar("T")
RESOLVERS = ("union", "sequential")
# Ruby's resolvers synapse-py refuses, and why
REFUSED_RESOLVERS = {
    "s3_toggle": (
        "it picks the watcher from weights in a file it downloads from S3 at run time, so "
        "routing would depend on a file synapse-py cannot read (it has no S3 client); "
        "use `sequential` or `union`"
    ),
}
RESOLVER_KEYS = {"union": ("method",), "sequential": ("method", "sequential_order")}
PRIMARY = "primary"  # the watcher `discovery_multi` makes of the service's `discovery`
WATCHER_NAME = "^[A-Za-z0-9_:-]+$"  # a watcher's name is part of a key path: no dots

_RESOLVER: Mapping[str, Any] = {
    "type": "object",
    "required": ["method"],
    # other keys: refused by `problems`, after the resolver itself (s3_toggle has its own)
    "properties": {
        "method": {"type": "string", "minLength": 1},
        "sequential_order": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "uniqueItems": True,
        },
    },
}


def watchers_schema(child: Mapping[str, Any], min_watchers: int = 1) -> dict[str, Any]:
    """The `watchers` key: names -> a discovery section validated by `child` (schema.py gives
    the schema of every method that is not itself `nested`)."""
    return {
        "type": "object",
        "minProperties": min_watchers,
        "propertyNames": {
            "pattern": WATCHER_NAME,
            "description": "a watcher name is letters, digits, _ : and - only (no dots)",
        },
        "additionalProperties": child,
    }


def merged(discovery_multi: Mapping[str, Any], discovery: Mapping[str, Any]) -> dict[str, Any]:
    """Ruby's merge of a service's `discovery_multi` and `discovery`: a multi discovery whose
    watcher `primary` is `discovery` (one of that name in `discovery_multi` is replaced)."""
    watchers = {**discovery_multi.get("watchers", {}), PRIMARY: discovery}
    return {**discovery_multi, "method": "multi", "watchers": watchers}


@dataclass(frozen=True)
class MultiSettings:
    resolver: str  # one of RESOLVERS
    order: tuple[str, ...]  # the watchers in the order the resolver reads them
    watchers: tuple[tuple[str, DiscoveryConfig], ...]  # in the config's order


@dataclass(frozen=True)
class ChildEvent:
    """An event a watcher of a multi published, tagged with the watcher's name."""

    service: str
    child: str
    event: object

    @property
    def figure(self) -> str | None:  # the reconciler counts events by their `figure`
        return getattr(self.event, "figure", None)


class _TaggingQueue(queue.Queue):
    """What a watcher sees as the reconciler's queue: its own events are tagged (`ChildEvent`);
    those for every service (a ZooKeeper client that connected, ...) pass as they are."""

    def __init__(self, target: queue.Queue, service: str, child: str):
        super().__init__()
        self.target, self.service, self.child = target, service, child

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        if getattr(item, "service", None) == self.service:
            item = ChildEvent(self.service, self.child, item)
        self.target.put(item, block, timeout)


class ChildContext(DiscoveryContext):
    """The daemon's context as one watcher of a multi sees it: the same config and shared
    resources (one ZooKeeper client per ensemble for all), its events tagged."""

    def __init__(self, parent: DiscoveryContext, service: str, child: str):
        self.parent = parent
        self.events = _TaggingQueue(parent.events, service, child)

    @property
    def config(self) -> SynapseConfig:  # type: ignore[override]  # a SIGHUP sets the parent's
        return self.parent.config

    def shared(self, key: object, make: Callable[[], T]) -> T:
        return self.parent.shared(key, make)

    def restart_only_changes(self, new: SynapseConfig) -> list[str]:
        return self.parent.restart_only_changes(new)

    def stop(self) -> None:
        """The parent's resources are the parent's to stop."""


class Child(Protocol):
    """What the resolvers read of a watcher."""

    def healthy(self) -> bool: ...
    def ready(self) -> bool: ...
    def backends(self) -> tuple[Backend, ...]: ...


def union(children: Sequence[Child]) -> tuple[Backend, ...] | None:
    """Every watcher's backends, in order; None: not ready (see the module docstring)."""
    if not any(c.ready() for c in children) or any(c.healthy() and not c.ready() for c in children):
        return None
    return tuple(b for c in children if c.ready() for b in c.backends())


def sequential(children: Sequence[Child]) -> tuple[Backend, ...] | None:
    """The first healthy watcher's backends that are not empty; None: not ready."""
    answered = False
    for c in children:
        if not c.healthy():
            continue
        if not c.ready():
            return None
        answered = True
        found = c.backends()
        if found:
            return found
    return () if answered else None


_RESOLVE = {"union": union, "sequential": sequential}


@register("multi")
class MultiDiscovery:
    """The service's watchers, each its own method's discovery, combined by the resolver."""

    keys: ClassVar[Mapping[str, Any]] = {
        "watchers": watchers_schema({"type": "object"}),  # each: see `nested`
        "resolver": _RESOLVER,
    }
    required: ClassVar[tuple[str, ...]] = ("watchers", "resolver")
    nested: ClassVar[tuple[str, ...]] = ("watchers",)  # keys of child discovery sections

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        self.service = service
        self.context = context
        settings: MultiSettings = service.discovery.settings
        self.resolve = _RESOLVE[settings.resolver]
        self.children: dict[str, Discovery] = {
            name: DISCOVERY[section.method](
                child_service(service, section), ChildContext(context, service.name, name)
            )
            for name, section in settings.watchers
        }
        self.order = tuple(self.children[name] for name in settings.order)
        self._data: dict[str, bytes | None] = {}  # each watcher's ServiceData
        self._published: tuple[bytes | None] | None = None

    @property
    def invalid(self) -> int:
        return sum(c.invalid for c in self.children.values())

    @property
    def reads(self) -> int:
        return sum(c.reads for c in self.children.values())

    def start(self) -> None:
        for child in self.children.values():
            child.start()

    def stop(self) -> None:
        for child in self.children.values():
            child.stop()

    def healthy(self) -> bool:
        return any(c.healthy() for c in self.children.values())

    def handle(self, event: object) -> Touched:
        if isinstance(event, ChildEvent):
            if event.child not in self.children:
                return Touched.NOTHING  # a watcher a SIGHUP removed
            if isinstance(event.event, ServiceData):
                self._service_data(event.child, event.event.data)
                return Touched.NOTHING
            return self.children[event.child].handle(event.event)
        touched = [c.handle(event) for c in self.children.values()]  # for every service
        return max(touched, default=Touched.NOTHING)

    def ready(self) -> bool:
        return self.resolve(self._filtered()) is not None

    def backends(self) -> tuple[Backend, ...]:
        return self.resolve(self._filtered()) or ()

    def _filtered(self) -> list[Child]:
        return [_Filtered(c) for c in self.order]

    def _service_data(self, child: str, data: bytes | None) -> None:
        """The registry data (generator config) of the first watcher in order that has some,
        as Ruby's resolvers take it, published for the reconciler when it changes."""
        self._data[child] = data
        settings: MultiSettings = self.service.discovery.settings
        chosen = next(
            (self._data[name] for name in settings.order
             if self._data.get(name) and (self.resolve is union or self.children[name].healthy())),
            None,
        )  # fmt: skip
        if (chosen,) != self._published:
            self._published = (chosen,)
            self.context.events.put(ServiceData(self.service.name, chosen))

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> MultiSettings:
        from ..config import discovery_config  # config imports this package: at call time

        resolver = raw["resolver"]
        watchers = tuple((n, discovery_config(s)) for n, s in raw["watchers"].items())
        sequential = resolver["method"] == "sequential"
        order = tuple(resolver.get("sequential_order", ())) if sequential else ()
        return MultiSettings(resolver["method"], order or tuple(n for n, _ in watchers), watchers)

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Errors the schema cannot say, as (key in the section, message): the resolver."""
        resolver = raw["resolver"]
        method = resolver["method"]
        if method in REFUSED_RESOLVERS:
            why = REFUSED_RESOLVERS[method]
            yield "resolver.method", f"resolver {method!r} is not supported: {why}"
            return
        if method not in RESOLVERS:
            yield (
                "resolver.method",
                (f"resolver {method!r} does not exist (the resolvers are {', '.join(RESOLVERS)})"),
            )
            return
        for key in resolver:
            if key not in RESOLVER_KEYS[method]:
                yield f"resolver.{key}", f"unknown key for the {method} resolver"
        if method == "sequential":
            yield from _order_problems(resolver.get("sequential_order"), raw["watchers"])

    @classmethod
    def snapshot(cls, service: ServiceConfig, context: DiscoveryContext, timeout: float) -> Found:
        """Each watcher's snapshot, resolved: a watcher whose snapshot fails counts as down; the
        first failure is raised when every watcher's failed."""
        settings: MultiSettings = service.discovery.settings
        found: dict[str, _Snapshot] = {}
        failures: list[Exception] = []
        for name, section in settings.watchers:
            try:
                backends, data = DISCOVERY[section.method].snapshot(
                    child_service(service, section), context, timeout
                )
            except Exception as e:  # noqa: BLE001 - one source down must not hide the others
                failures.append(e)
                found[name] = _Snapshot((), None, up=False)
            else:
                found[name] = _Snapshot(_filter(section, backends), data)
        if len(failures) == len(found):
            raise failures[0]
        ordered = [found[name] for name in settings.order]
        backends = _RESOLVE[settings.resolver](ordered) or ()
        data = next((s.data for s in ordered if s.data and s.healthy()), None)
        return backends, data


def child_service(service: ServiceConfig, section: DiscoveryConfig) -> ServiceConfig:
    """The service as one of its watchers sees it: its own discovery section."""
    return dataclasses.replace(service, discovery=section)


def _order_problems(order: Sequence[str] | None, watchers: Mapping[str, Any]) -> Iterator:
    if order is None:
        yield "resolver.sequential_order", "required by the sequential resolver"
        return
    for name in order:
        if name not in watchers:
            yield "resolver.sequential_order", f"names {name!r}, which is not a watcher"
    for name in watchers:
        if name not in order:
            yield "resolver.sequential_order", f"does not name the watcher {name!r}"


def _filter(section: DiscoveryConfig, backends: tuple[Backend, ...]) -> tuple[Backend, ...]:
    """A watcher's backends through its own label filters (as Ruby's watchers apply theirs)."""
    if not section.label_filters:
        return backends
    from ..desired import matches_label_filters  # desired imports config: at call time

    return tuple(b for b in backends if matches_label_filters(b, section.label_filters))


@dataclass(frozen=True)
class _Snapshot:
    found: tuple[Backend, ...]
    data: bytes | None
    up: bool = True

    def healthy(self) -> bool:
        return self.up

    def ready(self) -> bool:
        return self.up

    def backends(self) -> tuple[Backend, ...]:
        return self.found


class _Filtered:
    """A watcher as the resolvers read it: its backends through its label filters."""

    def __init__(self, child: Discovery):
        self.child = child

    def healthy(self) -> bool:
        return self.child.healthy()

    def ready(self) -> bool:
        return self.child.ready()

    def backends(self) -> tuple[Backend, ...]:
        return _filter(self.child.service.discovery, self.child.backends())
