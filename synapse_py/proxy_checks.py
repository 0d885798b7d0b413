"""`validate`'s checks by the proxies themselves: `haproxy -c` on the haproxy.cfg synapse-py
renders, `envoy --mode validate` on the Envoy resources it generates.

`validate` does not read ZooKeeper, so each service is rendered with what it serves before
discovery answers (its default_servers, else no servers): the checks cover the structure (the
global and defaults lines, each service's sections and server options), which is what a config
change can break. A binary that is not there is said, never passed over in silence.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import NamedTuple

from .config import SynapseConfig
from .desired import served_defaults
from .generators.envoy.files import (
    CLUSTER,
    LISTENER,
    EnvoyFileError,
    EnvoyLayout,
    parse_resources,
    render_cds,
    render_lds,
    validate_with_envoy,
)
from .generators.haproxy.config import ConfigRejected, validate_candidate
from .generators.haproxy.generator import HaproxyGenerator

HAPROXY_BINARIES = ("haproxy", "/usr/sbin/haproxy")  # the generator's own search


class Verdict(NamedTuple):
    """One proxy check: `problem` (an error) or `note` (what ran, or why it did not)."""

    problem: str | None
    note: str


def proxy_checks(config: SynapseConfig) -> list[Verdict]:
    """One verdict per proxy section of `config` (haproxy, envoy)."""
    return list(_haproxy(config)) + list(_envoy(config))


def _haproxy(config: SynapseConfig) -> Iterator[Verdict]:
    if config.haproxy is None:
        return
    binary = next((found for b in HAPROXY_BINARIES if (found := shutil.which(b))), None)
    if binary is None:
        yield Verdict(None, "haproxy -c: skipped: no haproxy binary on PATH nor /usr/sbin/haproxy")
        return
    gen = HaproxyGenerator(config.haproxy, haproxy_bin=binary, offline=True)
    try:
        text = gen.render(config.services, {s.name: served_defaults(s) for s in config.services})
    finally:
        gen.stop()
    with tempfile.TemporaryDirectory(prefix="synapse-validate-") as folder:
        path = os.path.join(folder, "haproxy.cfg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            validate_candidate(path, binary, None)
        except ConfigRejected as e:
            status = str(e).partition(": exit ")[2] or str(e)  # not the temp file's command
            why = status.replace(path, "haproxy.cfg")
            problem = f"{config.source}: haproxy: haproxy -c refused the rendered file: exit {why}"
            yield Verdict(problem, f"haproxy -c: failed ({binary})")
            return
    yield Verdict(None, f"haproxy -c: OK ({binary}, each service with its default_servers)")


def _envoy(config: SynapseConfig) -> Iterator[Verdict]:
    envoy = config.envoy
    if envoy is None:
        return
    binary = envoy.binary_path or shutil.which("envoy")
    if binary is None or not os.access(binary, os.X_OK):
        where = (
            f"envoy.binary_path {envoy.binary_path} is not an executable here"
            if envoy.binary_path
            else "no envoy.binary_path, and no envoy on PATH"
        )
        yield Verdict(None, f"envoy --mode validate: skipped: {where}")
        return
    served = [s for s in config.services if s.envoy is not None]
    layout = EnvoyLayout(envoy.output_directory)
    try:
        clusters = parse_resources(render_cds(served, layout), CLUSTER)
        listeners = parse_resources(render_lds(envoy, served), LISTENER)
        validate_with_envoy(binary, listeners, clusters, [])
    except EnvoyFileError as e:
        yield Verdict(f"{config.source}: envoy: {e}", f"envoy --mode validate: failed ({binary})")
        return
    yield Verdict(None, f"envoy --mode validate: OK ({binary}, listeners and clusters)")
