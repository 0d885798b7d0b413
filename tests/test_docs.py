"""docs/configuration.md lists exactly the keys the JSON Schemas (and check plugins) accept."""

from __future__ import annotations

import re
from pathlib import Path

from nerve_py import schema as nerve_schema
from nerve_py.checks import CHECKS
from nerve_py.checks.base import COMMON_KEYS
from synapse_py import schema as synapse_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def schema_paths(node, prefix: str = "") -> set[str]:
    """Every key path a schema accepts; `<name>` for map values, `[]` for list items. A watcher
    of `multi` is a discovery section, whose keys are those of `discovery`: not walked again."""
    if not isinstance(node, dict) or node is synapse_schema.CHILD_DISCOVERY_SCHEMA:
        return set()
    found: set[str] = set()
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            found |= schema_paths(sub, prefix)
    for key in ("if", "then", "else"):
        found |= schema_paths(node.get(key), prefix)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found |= {path} | schema_paths(sub, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        found |= schema_paths(extra, f"{prefix}.<name>" if prefix else "<name>")
    found |= schema_paths(node.get("items"), prefix + "[]")
    return found


def documented(section: str) -> set[str]:
    text = DOC.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    return set(re.findall(r"^\| `([^`]+)` \|", body, flags=re.M))


def check_type_paths() -> set[str]:
    keys = set(COMMON_KEYS)
    for cls in CHECKS.values():
        keys |= cls.own_keys
    return {f"services.<name>.checks[].{k}" for k in keys}


def test_nerve_keys_match_schema():
    expected = schema_paths(nerve_schema.CONFIG_SCHEMA) | check_type_paths()
    assert documented("nerve-py") == expected


def test_synapse_keys_match_schema():
    assert documented("synapse-py") == schema_paths(synapse_schema.CONFIG)
