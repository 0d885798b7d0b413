"""Where each service's config comes from: `services`, `service_conf_dir` files, the overlay.

Ruby nerve's order, then ours on top: the main file's `services`; each `*.json` / `*.yaml` file of
`service_conf_dir` (taken relative to the working directory, as Ruby's `File.expand_path` does)
defines the service named after the file and replaces a same-named one; last, the overlay's
`services` entries are merged over those (key by key) or added.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smartstack_common.overlay import merge_overlay

from . import schema
from .config_file import read_document
from .errors import ConfigError
from .validation import PARTIAL_SERVICE, problems, ruby_only_warnings

SERVICE_SUFFIXES = (".json", ".yaml")  # Ruby nerve 0.9.7 globs `*.{yaml,json}`


@dataclass(frozen=True)
class RawService:
    """One service's config as read, with the file(s) it came from for error messages."""

    name: str
    doc: dict
    source: str
    prefix: str  # key path of the service in `source`: "services.<name>", or "" for its own file


def gather_services(
    main: tuple[str, dict],
    overlay: tuple[str, dict] | None,
    warnings: list[str],
    problems_found: list[ConfigError],
) -> dict[str, RawService]:
    """Every service by name, from the main file, its service_conf_dir and the overlay."""
    source, doc = main
    found = {n: RawService(n, s, source, f"services.{n}") for n, s in _services(doc)}
    merged_top = merge_overlay(doc, overlay[1]) if overlay else doc
    if isinstance(merged_top.get("service_conf_dir"), str):  # else: a schema problem
        for svc in conf_dir_services(
            merged_top["service_conf_dir"], source, warnings, problems_found
        ):
            if svc.name in found:
                warnings.append(f"{svc.source}: replaces services.{svc.name} of {source}")
            found[svc.name] = svc
    if overlay:
        for name, override in _services(overlay[1]):
            found[name] = _overlaid(found.get(name), name, override, overlay[0])
    return found


def _services(doc: dict) -> Iterator[tuple[str, dict]]:
    services = doc.get("services", {})  # not a mapping: a schema problem, said already
    yield from services.items() if isinstance(services, dict) else ()


def _overlaid(base: RawService | None, name: str, svc: dict, overlay: str) -> RawService:
    if base is None:
        return RawService(name, svc, overlay, f"services.{name}")
    source = f"{base.source} (with overlay {overlay})"
    return RawService(name, merge_overlay(base.doc, svc), source, base.prefix)


def conf_dir_services(
    conf_dir: str, source: str, warnings: list[str], found: list[ConfigError]
) -> Iterator[RawService]:
    """One RawService per service file of `conf_dir`, in name order; the schema problems of
    each file are added to `found`."""
    folder = Path(os.path.abspath(os.path.expanduser(conf_dir)))
    if not folder.is_dir():
        raise ConfigError(source, "service_conf_dir", _not_a_folder(folder, conf_dir, source))
    try:
        files = sorted(folder.iterdir())
    except OSError as e:
        raise ConfigError(
            source, "service_conf_dir", f"{folder}: cannot read: {e.strerror}"
        ) from None
    seen: dict[str, Path] = {}
    for file in files:
        if file.name.startswith(".") or not file.is_file():
            continue
        if file.suffix == ".yml":
            warnings.append(f"{file}: ignored, as Ruby nerve ignores it (rename it to .yaml)")
        if file.suffix not in SERVICE_SUFFIXES:
            continue
        if file.stem in seen:
            raise ConfigError(str(file), "", f"service {file.stem!r} is also {seen[file.stem]}")
        seen[file.stem] = file
        try:
            yield _service_file(file, warnings, found)
        except ConfigError as e:  # a file that cannot be read: the others are checked all the same
            found.append(e)


def _service_file(file: Path, warnings: list[str], found: list[ConfigError]) -> RawService:
    doc = read_document(str(file))
    found += problems(doc, PARTIAL_SERVICE, str(file))
    warnings += ruby_only_warnings(doc, str(file), schema.RUBY_UNIMPLEMENTED_SERVICE)
    return RawService(file.stem, doc, str(file), "")


def _not_a_folder(folder: Path, conf_dir: str, source: str) -> str:
    problem = f"{folder} is not a directory"
    beside = Path(source).parent / conf_dir
    if not os.path.isabs(conf_dir) and beside.is_dir():
        problem += (
            f" (a relative path is taken from the working directory, {os.getcwd()}, as Ruby nerve"
            f" takes it; {beside} exists: run from the config's folder or use an absolute path)"
        )
    return problem
