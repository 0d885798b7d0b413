"""synapse_py's exceptions. Only cli.py turns them into exit codes (its `EXIT_CODES`)."""

from __future__ import annotations

from collections.abc import Sequence


class SynapseError(Exception):
    """Base of synapse_py's errors: a failure at run time (a restart may help)."""


class ConfigError(SynapseError):
    """The config cannot be used; the message names the file, the key path and the problem
    (several problems: one per line)."""


class SetupError(SynapseError):
    """The host lacks what the config needs (a folder to write into); every problem found is
    listed, so one run shows them all."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class CannotCompare(SynapseError):
    """`render --diff` could not render (ZooKeeper unreachable, ...): exit 2, as diff(1) exits
    on trouble, since 1 means "they differ"."""


class RegistryUnavailable(SynapseError):
    """A one-shot command could not read a service's registry (ZooKeeper unreachable, DNS
    not answering) within its timeout."""


class ProxyUnavailable(SynapseError):
    """A one-shot command could not ask the proxy (no admin socket configured, or none
    answering)."""
