"""Read one nerve config file as Ruby nerve does (YAML, so JSON too); key paths for errors.

Ruby nerve parses every config file, whatever its name, with a YAML parser; JSON is (nearly) a
subset of YAML. We parse `.yaml`/`.yml` files as YAML and any other file as JSON first, then as
YAML, so a JSON file gets JSON's clearer error messages.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")
_PLAIN = (str, int, float, bool, type(None), list, dict)


def read_document(source: str) -> dict:
    """The top-level mapping of the file at `source`; ConfigError naming the file otherwise."""
    text = _read_text(source)
    if "<%" in text:
        line = text[: text.index("<%")].count("\n") + 1
        problem = "ERB templates (<% ... %>) are not supported; render the file first"
        raise ConfigError(source, f"line {line}", problem)
    doc = _parse(text, source)
    if not isinstance(doc, dict):
        raise ConfigError(source, "", f"the top level must be a mapping, not {_kind(doc)}")
    check_plain(doc, source)
    return doc


def _read_text(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(source, "", f"cannot read: {e}") from None


def _parse(text: str, source: str) -> Any:
    if source.endswith(YAML_SUFFIXES):
        return _parse_yaml(text, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        json_error = e
    try:  # Ruby reads a .json file with its YAML parser: YAML content there works
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        raise ConfigError(source, "", f"not valid JSON (nor YAML): {json_error}") from None


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(source, "", f"not valid YAML: {e}") from None


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe subset: no Ruby/Python objects, ever."""


def check_plain(node: Any, source: str, path: str = "") -> None:
    """Refuse what JSON cannot hold (YAML dates, binary, non-string keys, NaN, lone surrogates)."""
    if not isinstance(node, _PLAIN):
        raise ConfigError(source, path or "(top level)", f"a YAML {_kind(node)} is not supported")
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(source, path, f"{node!r} is not a finite number")
    if isinstance(node, str):
        _check_text(node, source, path)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_plain(item, source, f"{path}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ConfigError(source, join(path, repr(key)), "a key must be a string")
            _check_text(key, source, join(path, key))
            check_plain(value, source, join(path, key))


def _check_text(text: str, source: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(source, path, "not valid Unicode (a lone surrogate escape)") from None


def _kind(node: Any) -> str:
    return {list: "list", str: "string", type(None): "null"}.get(type(node), type(node).__name__)


def key_path(parts) -> str:
    """`a.b[0].c` from a sequence of keys and list indexes."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def join(prefix: str, rest: str) -> str:
    if not prefix:
        return rest
    if not rest:
        return prefix
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"
