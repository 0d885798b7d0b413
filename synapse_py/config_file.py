"""Read one JSON config file: parse it, refuse ERB and control characters, check its schema.

Every error names the file, the key path and the problem; values that may be secrets are never
quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from .zk_security import SECRET_KEYS


class ConfigError(Exception):
    """The config cannot be used; the message names the file, the key path and the problem."""


SECRET_PATHS = (*SECRET_KEYS, "haproxy.stats.auth")  # schema errors here never quote the value
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_VALIDATOR = jsonschema.Draft202012Validator


def load_checked(source: str, json_schema: Mapping) -> Any:
    """Parse one file, refuse ERB and control characters, validate it against `json_schema`."""
    return check_value(source, _parse(source, _read(source)), json_schema)


def check_value(source: str, raw: Any, json_schema: Mapping) -> Any:
    """Refuse ERB and control characters in `raw`, validate it against `json_schema`; `raw`."""
    _check_strings(source, raw, "")
    error = jsonschema.exceptions.best_match(_VALIDATOR(json_schema).iter_errors(raw))
    if error is not None:
        raise ConfigError(_describe(source, error))
    return raw


def _read(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{source}: cannot read: {e.strerror}") from None


def _parse(source: str, text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}: {_why_not_json(source, text, e)}") from None
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


def _why_not_json(source: str, text: str, e: json.JSONDecodeError) -> str:
    if "<%" in text:
        line = text[: text.index("<%")].count("\n") + 1
        return f"line {line}: ERB templates (<% ... %>) are not supported; render the file first"
    if source.endswith((".yaml", ".yml")):
        return "YAML config files are not supported; convert the file to JSON"
    return f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate is not None:
        raise ValueError(f"key {duplicate!r} appears twice in one object")
    return dict(pairs)


def _check_strings(source: str, value: Any, path: str) -> None:
    """ERB and control characters are refused in every key and string, with the key path."""
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


def _describe(source: str, error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    problem = error.message
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = sorted(k for k in error.instance if k not in known)
        path, problem = f"{path}.{unknown[0]}".lstrip("."), "unknown key"
    if error.validator != "additionalProperties" and path.startswith(SECRET_PATHS):
        problem = f"invalid value ({error.validator}; not shown: it may hold a secret)"
    if len(problem) > 200:
        problem = problem[:200] + "..."
    return f"{source}: {path}: {problem}" if path else f"{source}: {problem}"
