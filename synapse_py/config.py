"""Synapse configuration as frozen dataclasses (built from JSON after schema validation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .backend import Backend


@dataclass(frozen=True)
class DiscoveryConfig:
    method: str  # "zookeeper" | "base"
    hosts: tuple[str, ...] = ()
    path: str = ""
    label_filters: tuple[dict, ...] = ()  # Ruby synapse: [{"label":..., "value":..., "condition": "equals"}]


@dataclass(frozen=True)
class ServiceHaproxyConfig:
    port: int | None = None
    bind_address: str | None = None  # None: the top-level haproxy.bind_address
    server_options: str = ""
    listen: tuple[str, ...] = ()
    frontend: tuple[str, ...] = ()
    backend: tuple[str, ...] = ()
    backend_name: str | None = None  # None: the service name
    disabled: bool = False


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    discovery: DiscoveryConfig
    haproxy: ServiceHaproxyConfig = field(default_factory=ServiceHaproxyConfig)
    default_servers: tuple[Backend, ...] = ()
    keep_default_servers: bool = False
    use_previous_backends: bool = True

    @property
    def backend_name(self) -> str:
        return self.haproxy.backend_name or self.name


@dataclass(frozen=True)
class StatsConfig:
    """Our addition: the HAProxy stats page, bound to localhost by default."""

    enabled: bool = False
    bind_address: str = "127.0.0.1"
    port: int = 3212
    uri: str = "/"
    auth: str | None = None  # "user:password"


@dataclass(frozen=True)
class HaproxyConfig:
    global_: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    extra_sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    bind_address: str = "localhost"
    config_file_path: str | None = None
    do_writes: bool = True
    do_reloads: bool = True
    reload_command: str | None = None
    do_socket: bool = True
    socket_file_path: str | None = None
    restart_interval: float = 2.0
    restart_jitter: float = 0.0
    state_file_path: str | None = None
    state_file_ttl: float = 86400.0
    do_checks: bool = False
    check_command: str | None = None
    stats: StatsConfig = field(default_factory=StatsConfig)


@dataclass(frozen=True)
class FileOutputConfig:
    output_directory: str


@dataclass(frozen=True)
class SynapseConfig:
    services: tuple[ServiceConfig, ...]
    haproxy: HaproxyConfig | None = None
    file_output: FileOutputConfig | None = None
    zk_session_timeout: float = 10.0
    source: str = ""  # the file it was read from, for messages

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)
