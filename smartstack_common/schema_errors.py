"""Every JSON Schema error of a config, each in words a reader can act on.

Both daemons' `validate` print all of a file's problems at once, so each run fixes them all:

- every violation is reported, the most relevant error of each (jsonschema's best_match
  narrows an `anyOf` to the branch that fits best);
- an unknown key is named with the closest known one ("did you mean checks?"), and the
  "required" error of the key it was probably meant to be is left out: the typo is the problem;
- a `pattern` never prints its regular expression: the schema's `description` says in words
  what is allowed (tests/smartstack_common check that every pattern has one).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import jsonschema

KeyPath = tuple[Any, ...]


class SchemaProblem(NamedTuple):
    """One violation: the key path it is at, the problem in words, the jsonschema keyword (so
    a caller can hide the value of a secret key), for `required` the missing key; the value
    and the keywords from the error up through the branches that held it (`anyOf`, ...), for
    a caller's own wording."""

    path: KeyPath
    problem: str
    validator: str
    missing: str | None = None
    instance: Any = None
    context: tuple[str, ...] = ()


def schema_problems(validator: jsonschema.protocols.Validator, doc: Any) -> list[SchemaProblem]:
    """Every problem of `doc`, in document order of the errors jsonschema finds."""
    errors = [jsonschema.exceptions.best_match([e]) or e for e in validator.iter_errors(doc)]
    unknown = [p for e in errors if e.validator == "additionalProperties" for p in _unknown(e)]
    meant = {(p.path[:-1], p.suggestion) for p in unknown if p.suggestion}
    found: list[SchemaProblem] = []
    for error in errors:
        if error.validator == "additionalProperties":
            found += [p.problem for p in _unknown(error)]
        elif error.validator == "required":
            path = tuple(error.absolute_path)
            found += [
                SchemaProblem(path, f"{key!r} is a required property", "required", key)
                for key in _missing(error)
                if (path, key) not in meant
            ]
        else:
            found.append(_problem(error))
    unique = {(p.path, p.problem): p for p in found}  # an anyOf branch can repeat a sibling's
    return sorted(unique.values(), key=lambda p: [str(k) for k in p.path])


def _problem(error: jsonschema.ValidationError) -> SchemaProblem:
    keywords, parent = [str(error.validator)], error.parent
    while parent is not None:
        keywords.append(str(parent.validator))
        parent = parent.parent
    path = tuple(error.absolute_path)
    return SchemaProblem(path, words(error), str(error.validator), None, error.instance,
                         tuple(keywords))  # fmt: skip


def suggestion(key: str, known: Iterator[str] | list[str]) -> str | None:
    """The known key `key` was probably meant to be, or None."""
    close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.7)
    return close[0] if close else None


class _Unknown(NamedTuple):
    path: KeyPath
    suggestion: str | None

    @property
    def problem(self) -> SchemaProblem:
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        problem = f"unknown key {self.path[-1]}{hint}"
        return SchemaProblem(self.path, problem, "additionalProperties")


def _unknown(error: jsonschema.ValidationError) -> Iterator[_Unknown]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    candidates = [k for k in known if k not in instance]  # a key already there is not meant
    for key in sorted((k for k in instance if k not in known), key=str):
        yield _Unknown((*error.absolute_path, key), suggestion(str(key), candidates))


def _missing(error: jsonschema.ValidationError) -> list[str]:
    required = error.validator_value if isinstance(error.validator_value, list) else []
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return [k for k in required if k not in instance]


def words(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, except for a `pattern`: the schema's description, never the regex."""
    if error.validator != "pattern":
        return error.message
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    allowed = schema.get("description", "is not in the allowed form")
    return f"{error.instance!r}: {allowed}"


def patterns(schema: Any, path: str = "") -> Iterator[tuple[str, Mapping]]:
    """Every (where, subschema) with a `pattern` in `schema`, to check each has a description."""
    if isinstance(schema, Mapping):
        if isinstance(schema.get("pattern"), str):
            yield path, schema
        for key, value in schema.items():
            yield from patterns(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from patterns(value, f"{path}/{i}")
