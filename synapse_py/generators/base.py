"""The contract every generator implements, and a base class with its defaults.

A generator owns one top-level section of the synapse config, named as the generator (Ruby's
config generators: `haproxy`, `file_output`; ours: `envoy`). The daemon builds one instance per
enabled section, `cls(section)`, keeps it while the section is unchanged (a SIGHUP with another
section stops it and builds a new one), and then:

- `apply(services, membership)` on the reconciler's thread: make the output match. `membership`
  maps a service's name to its backends; a service missing from it is not discovered yet and
  keeps what it has. OSError means "not applied, retry" (the reconciler retries the batch);
- `stop()` once, at shutdown or when the section goes away;
- `figures()` at every metrics scrape: counters by name (`FIGURES` lists the standard ones and
  their metrics; any other name is exported as `synapse_generator_figure{figure=...}`), and
  `rejected_nodes()`: per service, the nodes the proxy refused in context.

Class-level hooks, so `daemon.py`, `metrics.py` and `config.py` name no generator:

- `section(config)`: the generator's parsed section of a `SynapseConfig`, None when it is off;
- `preflight(section)`: problems that would stop it doing its job (a missing folder), said
  before the daemon starts;
- `owned(section)`: (folder, file name or "" for the whole folder) of what it writes, where a
  killed synapse-py may have left a temp file;
- for a plug-in, `keys` and `required` (JSON Schema of its section, which `validate` checks) and
  `settings(raw)`, the frozen value `section(config)` then returns; `service_keys`, the schema of
  the per-service section of the same name (`services.<name>.<generator>`), which the generator
  reads as `service.generator_sections[name]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from ..backend import Backend
    from ..config import ServiceConfig, SynapseConfig

# figure -> (metric name, help): the counters every generator may report
FIGURES: dict[str, tuple[str, str]] = {
    "renders": ("synapse_renders", "Proxy configs rendered"),
    "runtime_commands": ("synapse_runtime_api_commands", "HAProxy runtime API commands sent"),
    "reloads": ("synapse_reloads", "Proxy reloads run (the first usually starts HAProxy)"),
    "failed_validations": ("synapse_config_rejected", "Rendered configs refused by validation"),
    "writes": ("synapse_files_written", "Output files written"),
    "failed_writes": ("synapse_write_failures", "Config writes that failed (disk full, ...)"),
}

Location = tuple[str, str]  # (folder, file name or "" for every file in it)


class Generator(Protocol):
    """One output kept in step with the membership (see the module docstring)."""

    name: ClassVar[str]

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None: ...

    def stop(self) -> None: ...

    def figures(self) -> Mapping[str, float]: ...

    def rejected_nodes(self) -> Mapping[str, int]: ...


class GeneratorBase:
    """Defaults for the contract: a plug-in subclasses this and writes `__init__` and `apply`."""

    name: ClassVar[str] = ""
    keys: ClassVar[Mapping[str, Any]] = {}  # a plug-in's section: JSON Schema properties
    required: ClassVar[tuple[str, ...]] = ()
    service_keys: ClassVar[Mapping[str, Any]] = {}  # its per-service section's properties

    def __init__(self, section: Any) -> None:
        self.config = section

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        raise NotImplementedError

    @classmethod
    def section(cls, config: SynapseConfig) -> object | None:
        return config.generator_sections.get(cls.name)

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> object:
        """The section's value, from its schema-valid JSON (default: a read-only mapping)."""
        return MappingProxyType(dict(raw))

    @classmethod
    def preflight(cls, section: Any) -> list[str]:
        return []

    @classmethod
    def owned(cls, section: Any) -> list[Location]:
        return []

    def stop(self) -> None:
        return None

    def figures(self) -> Mapping[str, float]:
        """The FIGURES (and any others) this generator counts, read from its attributes."""
        return {f: getattr(self, f) for f in FIGURES if isinstance(getattr(self, f, None), int)}

    def rejected_nodes(self) -> Mapping[str, int]:
        return {}
