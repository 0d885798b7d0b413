"""The Envoy files: what goes into each template, and the checks a candidate passes before install.

Layout of `output_directory`: `bootstrap.yaml` (read by Envoy at start only), `lds.yaml`
(listeners), `cds.yaml` (clusters) and `eds/<service>.yaml` (one ClusterLoadAssignment each).
The templates in templates/envoy/ hold the YAML shape only; every value is decided here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from ...config import EnvoyConfig, EnvoyHealthCheckConfig, ServiceConfig, ServiceEnvoyConfig
from ...render import render

LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
NODE_ID = "synapse-py"
VALIDATE_TIMEOUT = 30.0


class EnvoyFileError(ValueError):
    """A candidate Envoy file failed a check; it is not installed."""


@dataclass(frozen=True, order=True)
class Endpoint:
    """One EDS endpoint: an IP literal (hostnames are resolved first), a port, an HAProxy weight."""

    address: str
    port: int
    weight: int | None = None

    def context(self) -> dict:
        # Envoy weights are 1..; weight 0 means "no new traffic", which is Envoy's DRAINING.
        return {
            "address": self.address,
            "port": self.port,
            "weight": self.weight or None,
            "draining": self.weight == 0,
        }


@dataclass(frozen=True)
class EnvoyLayout:
    """Where each file lives."""

    directory: str

    @property
    def bootstrap(self) -> str:
        return os.path.join(self.directory, "bootstrap.yaml")

    @property
    def lds(self) -> str:
        return os.path.join(self.directory, "lds.yaml")

    @property
    def cds(self) -> str:
        return os.path.join(self.directory, "cds.yaml")

    @property
    def eds_directory(self) -> str:
        return os.path.join(self.directory, "eds")

    def eds(self, service: str) -> str:
        return os.path.join(self.eds_directory, f"{service}.yaml")


def render_bootstrap(config: EnvoyConfig, layout: EnvoyLayout) -> str:
    context = {
        "node_id": NODE_ID,
        "admin_address": config.bind_address,
        "admin_port": config.admin_port,
        "lds_path": os.path.abspath(layout.lds),
        "cds_path": os.path.abspath(layout.cds),
    }
    return render("envoy/bootstrap.yaml.j2", context)


def render_lds(config: EnvoyConfig, services: Sequence[ServiceConfig]) -> str:
    listeners = [_listener(config, s) for s in services]
    return render("envoy/lds.yaml.j2", _versioned({"listeners": listeners}))


def render_cds(services: Sequence[ServiceConfig], layout: EnvoyLayout) -> str:
    clusters = [_cluster(s, os.path.abspath(layout.eds(s.name))) for s in services]
    return render("envoy/cds.yaml.j2", _versioned({"clusters": clusters}))


def render_eds(service: str, endpoints: Iterable[Endpoint]) -> str:
    unique: dict[tuple[str, int], Endpoint] = {}
    for endpoint in sorted(endpoints):  # one host:port registered twice is one endpoint
        unique.setdefault((endpoint.address, endpoint.port), endpoint)
    context = {"name": service, "endpoints": [e.context() for e in unique.values()]}
    return render("envoy/eds.yaml.j2", _versioned(context))


def _service_envoy(service: ServiceConfig) -> ServiceEnvoyConfig:
    """The service's envoy section (the generator serves only services that have one)."""
    if service.envoy is None:
        raise ValueError(f"service {service.name!r} has no envoy section")
    return service.envoy


def _listener(config: EnvoyConfig, service: ServiceConfig) -> dict:
    envoy = _service_envoy(service)
    address = envoy.bind_address or config.bind_address
    return {"name": service.name, "address": address, "port": envoy.port, "mode": envoy.mode}


def _cluster(service: ServiceConfig, eds_path: str) -> dict:
    envoy = _service_envoy(service)
    return {
        "name": service.name,
        "connect_timeout": duration(envoy.connect_timeout),
        "lb_policy": envoy.lb_policy.upper(),
        "eds_path": eds_path,
        "health_check": _health_check(envoy.health_check),
    }


def _health_check(check: EnvoyHealthCheckConfig | None) -> dict | None:
    if check is None:
        return None
    return {
        "timeout": duration(check.timeout),
        "interval": duration(check.interval),
        "healthy_threshold": check.healthy_threshold,
        "unhealthy_threshold": check.unhealthy_threshold,
        "http_path": check.http_path,
    }


def duration(seconds: float) -> str:
    """Envoy's JSON duration: "1s", "0.25s" (millisecond precision, at least 1ms)."""
    text = f"{max(seconds, 0.001):.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _versioned(context: dict) -> dict:
    """version_info is a digest of the content: it shows in /config_dump which file is applied."""
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:16]
    return {**context, "version": digest}


# --- checks on candidates --------------------------------------------------------------------


# libyaml's safe loader when PyYAML has it: the pure-Python one was most of an apply's time
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_resources(text: str, type_url: str) -> list[dict]:
    """Parse a rendered xDS file; raise `EnvoyFileError` unless it is resources of `type_url`."""
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as e:
        raise EnvoyFileError(f"not YAML: {str(e)[:200]}") from None
    resources = doc.get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, list):
        raise EnvoyFileError("no resources list")
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("@type") != type_url:
            raise EnvoyFileError(f"a resource is not a {type_url.rsplit('.', 1)[-1]}")
    return resources


def check_endpoints(assignment: Mapping) -> None:
    """Every endpoint address in a parsed ClusterLoadAssignment is an IP literal and a port."""
    for group in assignment.get("endpoints") or ():
        for lb_endpoint in group["lb_endpoints"]:
            socket = lb_endpoint["endpoint"]["address"]["socket_address"]
            try:
                ipaddress.ip_address(socket["address"])
            except ValueError:
                raise EnvoyFileError(f"endpoint address {socket['address']!r:.80}") from None
            if type(socket["port_value"]) is not int or not 0 < socket["port_value"] < 65536:
                raise EnvoyFileError("endpoint port out of range")


def validate_with_envoy(
    binary: str,
    listeners: Sequence[dict],
    clusters: Sequence[dict],
    assignments: Sequence[dict],
) -> None:
    """Run `envoy --mode validate` on a bootstrap that holds every candidate resource statically.

    Envoy's validate mode does not read dynamic (file) resources, so the candidates are put into
    `static_resources` verbatim: listeners, clusters, and each assignment as a STATIC cluster's
    `load_assignment`. Raise `EnvoyFileError` with Envoy's reason if it refuses.
    """
    with tempfile.TemporaryDirectory(prefix="synapse-envoy-check-") as folder:
        placeholder = os.path.join(folder, "eds.json")  # validate mode insists the path exists
        open(placeholder, "w").close()
        static = {
            "listeners": [_untyped(r) for r in listeners],
            "clusters": [_with_eds_path(_untyped(r), placeholder) for r in clusters]
            + [
                {"name": f"eds-check-{i}", "type": "STATIC", "load_assignment": _untyped(a)}
                for i, a in enumerate(assignments)
            ],
        }
        path = os.path.join(folder, "candidate.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"node": {"id": NODE_ID, "cluster": NODE_ID}, "static_resources": static}, f)
        _run_validate(binary, path)


def _untyped(resource: Mapping) -> dict:
    return {k: v for k, v in resource.items() if k != "@type"}


def _with_eds_path(cluster: dict, path: str) -> dict:
    """The cluster with its EDS file path replaced (the real one is installed only after)."""
    eds_config = cluster.get("eds_cluster_config", {}).get("eds_config", {})
    if "path_config_source" in eds_config:
        eds_config["path_config_source"]["path"] = path
    return cluster


def _run_validate(binary: str, path: str) -> None:
    try:
        done = subprocess.run(
            [binary, "--mode", "validate", "-c", path, "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=VALIDATE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvoyFileError(f"cannot run {binary} --mode validate: {e}") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EnvoyFileError(f"envoy --mode validate refused the candidate: {reason[0][:400]}")
