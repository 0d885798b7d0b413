"""The synapse-py process: wires watchers -> reconciler -> generators; SIGHUP, SIGTERM."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from smartstack_common.atomic import remove_stale_temps
from smartstack_common.metrics import MetricsServer, daemon_registry
from smartstack_common.sdnotify import Notifier
from smartstack_common.signals import install_signals

from . import __version__, state_file
from .config import ConfigError, SynapseConfig, load_config
from .generators import Generator, generators
from .metrics import SynapseCollector
from .reconciler import Reconciler, Reconfigure
from .status import StatusPublisher

log = logging.getLogger(__name__)

TICK = 0.2  # main loop period: signals, watchdog


def generator_sections(config: SynapseConfig) -> dict[str, object]:
    """Generator name -> its config section, for each generator the config enables."""
    sections = {name: cls.section(config) for name, cls in generators().items()}
    return {name: section for name, section in sections.items() if section is not None}


def preflight(config: SynapseConfig) -> list[str]:
    """Problems that would stop the daemon doing its job, found before it starts."""
    registry = generators()
    problems = [
        p for name, section in generator_sections(config).items()
        for p in registry[name].preflight(section)
    ]  # fmt: skip
    state = config.state_file_path
    if state and not Path(state).parent.is_dir():
        key = "haproxy.state_file_path" if _ruby_state_key(config) else "state_file_path"
        problems.append(f"{key}: folder {Path(state).parent} does not exist")
    return [f"{config.source}: {p}" for p in problems]


def _ruby_state_key(config: SynapseConfig) -> bool:
    """The state file was configured as Ruby does, under `haproxy`."""
    return bool(config.haproxy and config.haproxy.state_file_path)


def _output_locations(config: SynapseConfig) -> list[tuple[str, str]]:
    """(folder, file name or "" for the whole folder) of everything synapse-py writes."""
    registry = generators()
    found = [
        location for name, section in generator_sections(config).items()
        for location in registry[name].owned(section)
    ]  # fmt: skip
    for written in (config.state_file_path, config.status_file_path):
        if written:
            path = Path(written)
            found.append((str(path.parent), path.name))
    return found


class GeneratorSet:
    """Builds generators from config; keeps an instance while its section is unchanged."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[object, Generator]] = {}

    def update(self, config: SynapseConfig) -> tuple[Generator, ...]:
        wanted = generator_sections(config)
        for name in list(self._built):
            section, gen = self._built[name]
            if wanted.get(name) != section:
                gen.stop()
                del self._built[name]
        registry = generators()
        for name, section in wanted.items():
            if name not in self._built:
                self._built[name] = (section, registry[name](section))
        return tuple(gen for _, gen in self._built.values())

    def get(self, name: str) -> Generator | None:
        entry = self._built.get(name)
        return entry[1] if entry else None

    def stop(self) -> None:
        for _, gen in self._built.values():
            gen.stop()


class SynapseDaemon:
    """Runs until SIGTERM/SIGINT; SIGHUP re-reads and applies the config. HAProxy keeps running."""

    def __init__(self, config: SynapseConfig, registry: CollectorRegistry | None = None):
        self.config = config
        self.events: queue.Queue = queue.Queue()
        self.generators = GeneratorSet()
        self.reconciler = Reconciler(config, self.generators.update(config), self.events)
        self.notifier = Notifier()
        self.registry = registry or daemon_registry("synapse", __version__)
        self.registry.register(SynapseCollector(self.reconciler))
        self.metrics = MetricsServer(config.metrics, self.registry) if config.metrics else None
        self._stop = threading.Event()
        self._reload = threading.Event()
        path = config.status_file_path  # read at start only, as the metrics bind
        self.status = StatusPublisher(path, self.reconciler.kept) if path else None

    def run(self) -> None:
        """Block until SIGTERM/SIGINT; raises MetricsUnavailable if the endpoint cannot listen."""
        install_signals(self._stop, self._reload)
        if self.metrics:
            self.metrics.start()
        self._remove_stale_temps()
        self.reconciler.start(*self._last_known())
        log.info("synapse-py running %d service(s)", len(self.config.services))
        self.notifier.ready(f"running {len(self.config.services)} service(s)")
        try:
            self._loop()
        finally:
            self.notifier.stopping()
            self.reconciler.stop()
            self.generators.stop()
            if self.metrics:
                self.metrics.stop()
            log.info("synapse-py stopped; the proxy keeps running")

    def _loop(self) -> None:
        while not self._stop.wait(self.notifier.tick(TICK)):
            if self._reload.is_set():
                self._reload.clear()
                self.notifier.reloading()
                self.reload()
                self.notifier.ready(f"running {len(self.config.services)} service(s)")
            self.notifier.watchdog(healthy=self.reconciler.alive)
            if self.status is not None:
                self.status.tick()

    def _remove_stale_temps(self) -> None:
        """A synapse-py killed mid-write leaves a hidden temp file; nothing else writes there."""
        for folder, target in _output_locations(self.config):
            for name in remove_stale_temps(folder, target):
                log.info("removed a temp file left by an earlier run: %s/%s", folder, name)

    def _last_known(self) -> tuple[dict, float]:
        """The state file's membership and when it was saved."""
        path = self.config.state_file_path
        if not path:
            return {}, 0.0
        seed, saved_at = state_file.load_saved(path, self.config.state_file_ttl)
        if seed:
            log.info("serving the last known membership from %s until ZooKeeper answers", path)
        return seed, saved_at

    def reload(self) -> None:
        """Re-read the config file and hand it to the reconciler; a bad file changes nothing."""
        try:
            new = load_config(self.config.source, self.config.overlay, log_warnings=False)
        except ConfigError as e:
            log.error("reload failed, keeping the running config: %s", e)
            return
        for warning in set(new.warnings) - set(self.config.warnings):
            log.warning("%s", warning)  # each warning once, not at every reload
        if new.metrics != self.config.metrics:
            log.warning("metrics: a changed bind or port takes effect on restart")
        if new.status_file_path != self.config.status_file_path:
            log.warning("status_file_path: a change takes effect on restart")
        for key in self.reconciler.context.restart_only_changes(new):
            log.warning("%s changed: takes effect on restart (ZooKeeper keeps the old one)", key)
        self.config = new
        self.events.put(Reconfigure(new, self.generators.update(new)))
        log.info("config reloaded: %d service(s)", len(new.services))

    def request_stop(self) -> None:
        self._stop.set()
