"""Schema checks of nerve config documents, with errors that name the file and the key path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from smartstack_common.schema_errors import SchemaProblem, schema_problems
from smartstack_common.zk_security import SECRET_KEYS

from . import schema
from .config_file import join, key_path
from .errors import ConfigError, ConfigProblems

# Why a value of these keys is wrong, in words (jsonschema's anyOf message says only "not valid").
_HINTS = {
    "port": "must be a port 1..65535: an integer, or a digit string as Ruby nerve accepts",
    "weight": "must be a non-negative integer or a digit string (Ruby nerve's rule)",
}


def without_required(node: Any) -> Any:
    """`node` with every `required` dropped: the check of one file that an overlay may complete."""
    if isinstance(node, dict):
        return {k: without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [without_required(v) for v in node]
    return node


PARTIAL_CONFIG = without_required(schema.CONFIG_SCHEMA)
PARTIAL_SERVICE = without_required(schema.SERVICE_SCHEMA)


def validate(doc: Any, sch: Mapping, source: str, prefix: str = "") -> None:
    """Raise ConfigError naming every schema violation of `doc` (ConfigProblems if several)."""
    found = problems(doc, sch, source, prefix)
    if found:
        raise ConfigProblems.of(found)


def problems(doc: Any, sch: Mapping, source: str, prefix: str = "") -> list[ConfigError]:
    """Every schema violation of `doc`, each naming the file and the key path."""
    found = schema_problems(jsonschema.Draft7Validator(sch), doc)
    return [ConfigError(source, *_describe(p, prefix)) for p in found]


def ruby_only_warnings(doc: dict, source: str, ruby_only: frozenset[str], prefix: str = "") -> list:
    """One warning per Ruby nerve key we accept without implementing it.

    `ruby_only` is the set that applies to `doc`'s own keys: the main file's top level and a
    service_conf_dir file (one service) differ, and a top-level `zk_auth` is ours, implemented.
    """
    return [
        f"{source}: {key}: accepted for compatibility with Ruby nerve but not implemented; ignored"
        for key in _ruby_only_keys(doc, ruby_only, prefix)
    ]


def _ruby_only_keys(doc: dict, ruby_only: frozenset[str], prefix: str) -> Iterator[str]:
    yield from (join(prefix, k) for k in sorted(set(doc) & ruby_only))
    for name, svc in doc.get("services", {}).items():
        for k in sorted(set(svc) & schema.RUBY_UNIMPLEMENTED_SERVICE):
            yield f"services.{name}.{k}"


def _describe(found: SchemaProblem, prefix: str) -> tuple[str, str]:
    path = join(prefix, key_path(found.path))
    last = found.path[-1] if found.path else ""
    if found.missing is not None:
        return join(path, found.missing), "required key is missing"
    if found.validator == "additionalProperties":
        return path, found.problem
    if path.startswith(SECRET_KEYS):
        return path, f"invalid value ({found.validator}; not shown: it may hold a secret)"
    if last == "reporter_type" and found.validator == "enum":
        return path, f"the {found.instance} reporter is not supported (only zookeeper is)"
    if last in _HINTS and "anyOf" in found.context:
        return path, f"{found.instance!r}: {_HINTS[last]}"
    return path or "(top level)", found.problem
