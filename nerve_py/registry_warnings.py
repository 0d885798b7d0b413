"""Warnings about a service whose node synapse-py would skip: a registration that breaks the
reader's rules (smartstack_common/registration_rules.py) is written, and no traffic follows.

Ruby synapse is laxer, so these are warnings, not errors: a fleet read only by Ruby synapse may
rely on such a value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from smartstack_common.registration_rules import (
    HOST_RULE,
    is_registry_host,
    server_options_problem,
)

from .config_file import join

SKIPPED = "synapse-py skips the node (registered, but sent no traffic)"


def skipped_by_synapse(svc: Mapping[str, Any], source: str, prefix: str) -> Iterator[str]:
    """One warning per value of the service (schema-valid) that synapse-py refuses."""
    if not is_registry_host(svc["host"]):
        yield f"{source}: {join(prefix, 'host')}: {svc['host']!r} is not {HOST_RULE}; {SKIPPED}"
    options = svc.get("haproxy_server_options")
    problem = server_options_problem(options) if options else None
    if problem:
        key = join(prefix, "haproxy_server_options")
        yield f"{source}: {key}: {problem}; {SKIPPED}"
