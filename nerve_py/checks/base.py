"""The contract every health check plugin implements.

A check is built once from its config and called from one service watcher thread. `check()` returns
True when the service answered as healthy. It must finish within `timeout` seconds and may raise
any exception: the caller (ServiceWatcher via `run_check`) treats an exception as a failure. A check
that wants to say why the service is unhealthy raises `CheckFailed("HTTP 503")`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, overload

#: keys every check accepts, whatever its type (as Ruby nerve's BaseServiceCheck)
COMMON_KEYS = frozenset({"type", "name", "host", "port", "timeout", "rise", "fall"})

#: wildcard bind addresses and the loopback address a local check should dial instead
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class CheckConfigError(ValueError):
    """A check's own keys are wrong (raised at construction time)."""


class CheckFailed(Exception):
    """The service answered, but not as healthy; the message is the reason shown to operators."""


#: check type name -> class, filled by `register` when the plugin modules are imported
CHECKS: dict[str, type[Check]] = {}


def register(name: str) -> Callable[[type[Check]], type[Check]]:
    """Class decorator: make a Check subclass available as config `type: name`."""

    def add(cls: type[Check]) -> type[Check]:
        CHECKS[name] = cls
        return cls

    return add


class Check(ABC):
    """A health check of one kind (`type` in the config)."""

    #: keys this check type accepts besides COMMON_KEYS
    own_keys: frozenset[str] = frozenset()

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        reject_unknown_keys(conf, COMMON_KEYS | self.own_keys)
        self.conf = dict(conf)
        self.host = dialable_host(str_key(conf, "host", host))
        self.port = int_key(conf, "port", port, high=65535)
        self.timeout = number_key(conf, "timeout", 0.1)
        self.rise = int_key(conf, "rise", 1)
        self.fall = int_key(conf, "fall", 1)
        self.name = str_key(conf, "name", f"{conf.get('type')}-{self.host}:{self.port}")

    @abstractmethod
    def check(self) -> bool:
        """Probe the service once; True when healthy."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not every check holds anything
        """Release anything the check holds (sessions, sockets)."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it, outermost first (requests wraps urllib3 wraps socket)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        seen.append(current)
        yield current
        nested = current.args[0] if current.args else None
        current = current.__cause__ or current.__context__
        if current is None and isinstance(nested, BaseException):
            current = nested


def is_timeout(exc: BaseException) -> bool:
    """True when a timeout is anywhere in the chain.

    requests and urllib3 each define timeout classes that do not derive from the builtin one.
    """
    return any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in causes(exc))


def dialable_host(host: str) -> str:
    """The address to probe: a service bound to a wildcard address is checked on loopback."""
    return _WILDCARDS.get(host, host)


def reject_unknown_keys(conf: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Raise CheckConfigError naming the first key a check type does not know."""
    unknown = sorted(set(conf) - allowed)
    if unknown:
        kind = conf.get("type", "?")
        raise CheckConfigError(f"check key {unknown[0]!r}: unknown for type {kind!r}")


def _typed_key(
    conf: Mapping[str, Any], key: str, default: Any, valid: Callable[[Any], bool], what: str
) -> Any:
    value = conf.get(key, default)
    if value is None and default is None:
        return None
    if not valid(value):
        raise CheckConfigError(f"check key {key!r}: must be {what}, got {value!r}")
    return value


@overload
def str_key(conf: Mapping[str, Any], key: str, default: str) -> str: ...
@overload
def str_key(conf: Mapping[str, Any], key: str, default: None = None) -> str | None: ...
def str_key(conf: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """A non-empty string value (None only when absent and without default)."""
    return _typed_key(
        conf, key, default, lambda v: isinstance(v, str) and v != "", "a non-empty string"
    )


@overload
def number_key(conf: Mapping[str, Any], key: str, default: float) -> float: ...
@overload
def number_key(conf: Mapping[str, Any], key: str, default: None = None) -> float | None: ...
def number_key(conf: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    """A positive number of seconds (None only when absent and without default)."""

    def valid(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and v > 0

    value = _typed_key(conf, key, default, valid, "a positive number")
    return None if value is None else float(value)


def int_key(
    conf: Mapping[str, Any], key: str, default: int, low: int = 1, high: int = 1_000_000
) -> int:
    """An integer within [low, high]."""

    def valid(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

    return _typed_key(conf, key, default, valid, f"an integer from {low} to {high}")


def required_str_key(conf: Mapping[str, Any], key: str) -> str:
    """A non-empty string value that must be given (null counts as absent, as in Ruby nerve)."""
    value = str_key(conf, key)
    if value is None:
        raise CheckConfigError(f"check key {key!r}: required for type {conf.get('type', '?')!r}")
    return value
