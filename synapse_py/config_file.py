"""Read config files (JSON or YAML), refuse control characters, check them against a schema.

Every error names the file, the key path and the problem; values that may be secrets are never
quoted. As the Ruby synapse does, a file is an ERB template first; synapse-py renders only
`<%= ENV['NAME'] %>` (and `ENV["NAME"]`, `ENV.fetch('NAME'[, 'default'])`), the form the Ruby
project's own example uses, and refuses any other ERB with the line it is on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from smartstack_common.schema_errors import SchemaProblem, schema_problems
from smartstack_common.zk_security import SECRET_KEYS

from .errors import ConfigError

KeyPath = tuple[Any, ...]
Blame = Callable[[KeyPath], tuple[str, str]]  # key path -> (file, key path as shown there)

SECRET_PATHS = (*SECRET_KEYS, "haproxy.stats.auth")  # schema errors here never quote the value
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_VALIDATOR = jsonschema.Draft202012Validator
_Q = r"""(?:'([A-Za-z_][A-Za-z0-9_]*)'|"([A-Za-z_][A-Za-z0-9_]*)")"""
_ENV_RE = re.compile(
    rf"<%=\s*ENV(?:\[{_Q}\]|\.fetch\(\s*{_Q}\s*(?:,\s*(?:'([^'\\]*)'|\"([^\"\\]*)\")\s*)?\))\s*-?%>"
)


def read_document(source: str) -> Any:
    """Parse one file (JSON if it ends in .json, else YAML) and check its keys and strings."""
    text = _render_env(source, _read(source))
    raw = _parse_json(source, text) if source.endswith(".json") else _parse_yaml(source, text)
    _check_strings(source, raw, "")
    return raw


def check_value(source: str, raw: Any, json_schema: Mapping) -> Any:
    """Refuse control characters in `raw` (data not from a file), validate it; return `raw`."""
    _check_strings(source, raw, "")
    check_schema(source, raw, json_schema)
    return raw


def check_schema(source: str, raw: Any, json_schema: Mapping, blame: Blame | None = None) -> None:
    """Raise ConfigError naming every schema problem (one per line), each in the file `blame`
    names."""
    found = schema_problems(_VALIDATOR(json_schema), raw)
    if found:
        raise ConfigError("\n".join(_describe(source, p, blame) for p in found))


def _read(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{source}: cannot read: {e.strerror}") from None


def _render_env(source: str, text: str) -> str:
    """Ruby renders the file as ERB; we render its ENV lookups and refuse any other tag."""

    def value(match: re.Match) -> str:
        fetched = match.group(3) or match.group(4)
        name = match.group(1) or match.group(2) or fetched
        default = match.group(5) if match.group(5) is not None else match.group(6)
        if name in os.environ:
            return os.environ[name]
        if fetched and default is None:  # Ruby: KeyError
            raise ConfigError(f"{source}: {_line(text, match.start())}: {name} is not set")
        return default or ""  # ERB writes an unset ENV['X'] (nil) as ""

    rendered = _ENV_RE.sub(value, text)
    if "<%" in rendered:
        raise ConfigError(
            f"{source}: {_line(rendered, rendered.index('<%'))}: ERB templates other than "
            "<%= ENV['NAME'] %> are not supported; render the file first"
        )
    return rendered


def _line(text: str, offset: int) -> str:
    return f"line {text[:offset].count(chr(10)) + 1}"


def _parse_json(source: str, text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{source}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


class _StrictLoader(yaml.SafeLoader):
    """YAML 1.1 as Ruby's Psych reads it, but a key twice in one mapping is an error."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    pairs = [(loader.construct_object(k, deep=True), loader.construct_object(v, deep=True))
             for k, v in node.value]  # fmt: skip
    try:
        return _no_duplicates(pairs)
    except TypeError:  # an unhashable key (a list or mapping as a key)
        raise ValueError(f"line {node.start_mark.line + 1}: a key must be a scalar") from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(source: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{source}: not valid YAML: {e.problem}{where}") from None
    except (yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None


def _no_duplicates(pairs: list[tuple[Any, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate is not None:
        raise ValueError(f"key {duplicate!r} appears twice in one object")
    return dict(pairs)


def _check_strings(source: str, value: Any, path: str) -> None:
    """Control characters (and ERB a variable brought in) are refused, with the key path."""
    for key, child in _children(value):
        child_path = f"{path}.{key}" if path else str(key)
        for text in (key, child):
            if isinstance(text, str) and "<%" in text:
                raise ConfigError(f"{source}: {child_path}: ERB templates are not supported")
            if isinstance(text, str) and _CONTROL_RE.search(text):
                raise ConfigError(f"{source}: {child_path}: control character in string")
        _check_strings(source, child, child_path)


def _children(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from enumerate(value)


def _describe(source: str, found: SchemaProblem, blame: Blame | None) -> str:
    where, shown = blame(found.path) if blame else (source, ".".join(str(p) for p in found.path))
    problem = found.problem
    secret = found.validator not in ("additionalProperties", "required")
    if secret and shown.startswith(SECRET_PATHS):
        problem = f"invalid value ({found.validator}; not shown: it may hold a secret)"
    if len(problem) > 200:
        problem = problem[:200] + "..."
    return f"{where}: {shown}: {problem}" if shown else f"{where}: {problem}"
