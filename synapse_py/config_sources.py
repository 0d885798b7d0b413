"""The files a synapse config is made of, and the key policy applied to them.

The main file, its `service_conf_dir` service files (which win, as in Ruby) and the
`--config-overlay` file merged over both; `Sources.blame` names the file a key path came from, so
that every message does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from smartstack_common.overlay import merge_overlay

from . import schema
from .config_file import ConfigError, KeyPath, check_schema, read_document
from .config_overlay import overlay_owns, read_overlay
from .discovery import methods as discovery_methods
from .discovery import multi


class RawService(NamedTuple):
    """A schema-valid service dict and where it came from, for messages."""

    source: str
    prefix: str  # its key path in that file: "services.web." or "" for a service_conf_dir file
    data: Mapping[str, Any]


class Sources(NamedTuple):
    """The files one config is made of, to name the one a key came from."""

    main: str
    conf_dir: dict[str, str]  # service name -> its service_conf_dir file
    overlay: str | None = None
    overlay_data: Mapping = {}
    before_overlay: Mapping = {}

    def blame(self, path: KeyPath) -> tuple[str, str]:
        """(file, key path in it) of the value at `path` of the merged config."""
        dotted = ".".join(str(p) for p in path)
        if self.overlay and overlay_owns(self.overlay_data, self.before_overlay, path):
            return self.overlay, dotted
        if len(path) >= 2 and path[0] == "services" and path[1] in self.conf_dir:
            return self.conf_dir[path[1]], ".".join(str(p) for p in path[2:])
        return self.main, dotted

    def blame_in_service(self, name: str, rest: str) -> tuple[str, str]:
        """blame for the key `rest` (e.g. "haproxy.port") of the service `name`."""
        return self.blame(("services", name, *rest.split(".")))

    def service(self, name: str, data: Mapping) -> RawService:
        source, shown = self.blame(("services", name))
        return RawService(source, f"{shown}." if shown else "", data)


def read_all(main: str, overlay: str | None) -> tuple[dict, Sources]:
    """The main file, its service_conf_dir services (which win, as in Ruby), then the overlay."""
    raw = read_document(main)
    check_schema(main, raw, {"type": "object"})
    extra = read_overlay(overlay) if overlay else {}
    combined = dict(raw)
    services = raw.get("services", {})
    conf_dir = merge_overlay(raw, extra).get("service_conf_dir")
    found = _conf_dir_services(main, conf_dir) if isinstance(conf_dir, str) else {}
    if found and isinstance(services, dict):
        combined["services"] = {**services, **{name: data for name, (_, data) in found.items()}}
    elif found:
        combined["services"] = services  # not an object: the schema check says so
    sources = Sources(main, {name: file for name, (file, _) in found.items()}, overlay, extra,
                       combined)  # fmt: skip
    return merge_overlay(combined, extra), sources


def policy(sources: Sources, raw: Mapping, services: Mapping[str, RawService]) -> tuple[str, ...]:
    """Apply the key policy: errors (all at once) are raised, warnings returned, one per key."""
    found = [(f, (*f.key.split("."),)) for f in findings(raw)]
    for name in sorted(services):
        for f in service_findings(services[name].data):
            found.append((f, ("services", name, *f.key.split("."))))
    messages = [(f.error, *sources.blame(path), f.problem, path) for f, path in found]
    errors = [f"{where}: {key}: {problem}" for error, where, key, problem, _ in messages if error]
    if errors:
        raise ConfigError("\n".join(errors))
    return tuple(_once_per_key(m[1:] for m in messages))


def refused(services: Mapping[str, RawService]) -> set[str]:
    """The services the policy refuses (an unknown discovery method, ...): not built further,
    whose other problems would mean nothing."""
    return {n for n, s in services.items() if any(f.error for f in service_findings(s.data))}


def _once_per_key(warnings: Iterable[tuple[str, str, str, KeyPath]]) -> Iterator[str]:
    """A knob set in many services is one warning, naming the first and counting the others."""
    by_key: dict[tuple, list[tuple[str, str]]] = {}
    for where, key, problem, path in warnings:
        generic = (path[2:], problem) if path[0] == "services" else (path, problem)
        by_key.setdefault(generic, []).append((where, key))
    for (_, problem), places in by_key.items():
        (where, key), others = places[0], len(places) - 1
        more = f" (and in {others} more service(s))" if others else ""
        yield f"{where}: {key}: {problem}{more}"


def _conf_dir_services(source: str, directory: str) -> dict[str, tuple[str, Any]]:
    """Ruby synapse: every `<name>.json` and `<name>.yaml` in the folder is the service `<name>`
    (it replaces one of that name in `services`). A relative folder is relative to the working
    directory, as Ruby's File.expand_path makes it (systemd: WorkingDirectory=, default /).
    """
    folder = Path(directory).expanduser().absolute()
    if not folder.is_dir():
        raise ConfigError(f"{source}: service_conf_dir: {folder} is not a folder")
    try:
        files = sorted(folder.iterdir())
    except OSError as e:
        raise ConfigError(
            f"{source}: service_conf_dir: {folder}: cannot read: {e.strerror}"
        ) from None
    services: dict[str, tuple[str, Any]] = {}
    problems: list[str] = []  # every file's, at once
    for file in files:
        if file.suffix not in (".json", ".yaml") or not file.is_file():
            continue  # Ruby's glob: *.{json,yaml} (so not .yml)
        try:
            name, entry = _service_file(file, services)
        except ConfigError as e:
            problems.append(str(e))
            continue
        services[name] = entry
    if problems:
        raise ConfigError("\n".join(problems))
    return services


def _service_file(file: Path, services: Mapping[str, tuple[str, Any]]) -> tuple[str, Any]:
    """(service name, (file, its document)) of one service_conf_dir file."""
    name = _name_from_file(file)
    if name in services:
        raise ConfigError(f"{file}: service {name!r} is also defined by {services[name][0]}")
    return name, (str(file), read_document(str(file)))


def _name_from_file(file: Path) -> str:
    if not re.fullmatch(schema.NAME_PATTERN, file.stem):
        raise ConfigError(
            f"{file}: the service name from the file name must be {schema.NAME_WORDS}"
        )
    return file.stem


# --- the key policy (schema.KNOBS, schema.UNSUPPORTED) -------------------------------------


class Finding(NamedTuple):
    """One policy result for a schema-valid config: an error (refused) or a warning."""

    error: bool
    key: str  # key path from the top (findings) or from the service (service_findings)
    problem: str


def findings(config: Mapping) -> Iterator[Finding]:
    """The policy's findings for the top level and the `haproxy` section of a valid config."""
    yield from _apply("", "", config)
    haproxy = config.get("haproxy", {})
    yield from _apply("haproxy", "haproxy.", haproxy)
    sockets = haproxy.get("socket_file_path")
    if isinstance(sockets, list) and len(sockets) > 1:
        yield Finding(False, "haproxy.socket_file_path", "several sockets: only the first is used")


def service_findings(service: Mapping) -> Iterator[Finding]:
    """The same for one valid service (keys relative to it, e.g. "discovery.method")."""
    haproxy = service.get("haproxy", {})
    yield from _apply("service", "", service)
    yield from _apply("service.haproxy", "haproxy.", haproxy)
    yield from _discovery_findings(service["discovery"], "discovery.")
    if "discovery_multi" in service:
        yield from _discovery_multi_findings(service["discovery_multi"], service["discovery"])


def _discovery_findings(section: Mapping, prefix: str, child: bool = False) -> Iterator[Finding]:
    """A discovery section's findings; `child`: it is a watcher of a method that nests others,
    which may not nest any itself (schema.CHILD_DISCOVERY_SCHEMA let it through)."""
    method = section["method"]
    cls = discovery_methods().get(method) if method in schema.DISCOVERY else None
    if cls is None:
        known = ", ".join(sorted(schema.DISCOVERY))
        why = (
            f"discovery method {method!r} is not implemented by synapse-py (it implements {known})"
        )
        yield Finding(True, f"{prefix}method", why)
        return  # the other keys of an unknown method mean nothing to us
    nested: tuple[str, ...] = getattr(cls, "nested", ())
    if child and nested:
        yield Finding(True, f"{prefix}method", f"a {method!r} discovery cannot be a watcher")
        return
    yield from _apply("service.discovery", prefix, section)
    if "label_filter" in section:
        yield Finding(False, f"{prefix}label_filter", "deprecated (as in Ruby); use label_filters")
    for key, problem in getattr(cls, "problems", _no_problems)(section):
        yield Finding(True, f"{prefix}{key}", problem)
    for key in nested:
        for name, watcher in section.get(key, {}).items():
            yield from _discovery_findings(watcher, f"{prefix}{key}.{name}.", child=True)


def _discovery_multi_findings(section: Mapping, primary: Mapping) -> Iterator[Finding]:
    """Ruby's `discovery_multi` (see synapse_py/discovery/multi.py, `merged`)."""
    watchers = section.get("watchers", {})
    if multi.PRIMARY in watchers:
        why = "ignored, as in Ruby: the watcher primary is the service's discovery"
        yield Finding(False, f"discovery_multi.watchers.{multi.PRIMARY}", why)
    if getattr(discovery_methods().get(primary["method"]), "nested", ()):
        why = "the service's discovery, its primary watcher, cannot be a multi discovery"
        yield Finding(True, "discovery_multi", why)
        return
    for key, problem in multi.MultiDiscovery.problems(multi.merged(section, primary)):
        yield Finding(True, f"discovery_multi.{key}", problem)
    for name, watcher in watchers.items():
        if name != multi.PRIMARY:
            yield from _discovery_findings(watcher, f"discovery_multi.watchers.{name}.", child=True)


def _no_problems(raw: Mapping) -> Iterator[tuple[str, str]]:
    return iter(())


def _apply(section: str, prefix: str, section_config: Mapping) -> Iterator[Finding]:
    for key, instead in schema.KNOBS[section].items():
        if key in section_config:
            why = f"accepted but not implemented by synapse-py; {instead}"
            yield Finding(False, f"{prefix}{key}", why)
    for key, why in schema.UNSUPPORTED.get(section, {}).items():
        if key in section_config and section_config[key] not in schema.HARMLESS.get(key, ()):
            yield Finding(True, f"{prefix}{key}", f"not supported: {why}")
