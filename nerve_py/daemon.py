"""The nerve-py process: starts a ServiceWatcher per service, handles SIGHUP and SIGTERM."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from smartstack_common.metrics import MetricsServer, daemon_registry
from smartstack_common.sdnotify import Notifier
from smartstack_common.signals import install_signals

from . import __version__
from .config import NerveConfig, ServiceConfig, reload_config
from .errors import NerveError, ReportFailures, SetupError
from .metrics import NerveCollector
from .reporter import Reporter
from .service_watcher import ServiceWatcher
from .state import StateDir, writable_folder
from .zk import ZkPool

log = logging.getLogger(__name__)

STATUS_REFRESH = 3.0  # seconds; `nerve-py status` calls a file older than 10 s stale
TICK = 0.5  # main loop period: signals, heartbeat, status file


def preflight(config: NerveConfig) -> list[str]:
    """Every problem that would stop the daemon keeping its state, found before it starts."""
    problems = StateDir(config.state_dir).problems()
    if config.heartbeat_path:
        problem = writable_folder(Path(config.heartbeat_path).parent)
        if problem:
            problems.append(f"heartbeat_path {config.heartbeat_path}: {problem}")
    return problems


class Daemon:
    """Runs every configured service until SIGTERM/SIGINT; SIGHUP reloads the config."""

    def __init__(self, config: NerveConfig, registry: CollectorRegistry | None = None):
        self.config = config
        self.notifier = Notifier()
        self.registry = registry or daemon_registry("nerve", __version__)
        self.registry.register(NerveCollector(self))
        self.metrics = MetricsServer(config.metrics, self.registry) if config.metrics else None
        self.state = StateDir(config.state_dir)
        self.pool = ZkPool(config.zk_session_timeout, config.zk_security)
        self.watchers: dict[str, ServiceWatcher] = {}
        self._stop = threading.Event()
        self._last_status: dict[str, int] | None = None
        self._last_status_at = 0.0
        self._reload = threading.Event()

    def run(self) -> None:
        """Block until stopped; raises SetupError (state_dir, heartbeat_path) before starting, and
        ReportFailures when ZooKeeper refuses our credential."""
        problems = preflight(self.config)
        if problems:
            raise SetupError(problems)
        install_signals(self._stop, self._reload)
        try:
            if self.metrics:
                self.metrics.start()
            for service in self.config.services:
                self._start(service)
            log.info("nerve-py running %d service(s)", len(self.watchers))
            self.notifier.ready(f"running {len(self.watchers)} service(s)")
            self._loop()
        finally:
            self.notifier.stopping()
            self.shutdown()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self._notified_reload()
            self._heartbeat()
            self._write_status()
            self._check_failures()
            self.notifier.watchdog(healthy=self._all_alive())
            self._stop.wait(self.notifier.tick(TICK))

    def _notified_reload(self) -> None:
        self.notifier.reloading()
        try:
            self.reload()
        finally:
            self.notifier.ready(f"running {len(self.watchers)} service(s)")

    def request_stop(self) -> None:
        self._stop.set()

    def _start(self, service: ServiceConfig) -> ServiceWatcher:
        conn = self.pool.get(service.ensemble)
        watcher = ServiceWatcher(
            service,
            Reporter(service, conn),
            self.state,
            max_failures=self.config.max_repeated_report_failures,
        )
        watcher.start()
        self.watchers[service.name] = watcher
        return watcher

    def reload(self) -> None:
        """Apply a re-read config: unchanged services untouched, changed ones make-before-break."""
        try:
            new = reload_config(self.config)
        except NerveError as e:
            log.error("reload failed, keeping the running config: %s", e)
            return
        if new.zk_security != self.config.zk_security:
            log.warning("zk_auth/zk_tls: a change takes effect on restart")
        if new.metrics != self.config.metrics:
            log.warning("metrics: a changed bind or port takes effect on restart")
        old_watchers, self.config = self.watchers, new
        self.watchers = {}
        replaced = []
        for service in new.services:
            old = old_watchers.pop(service.name, None)
            if old is not None and old.service == service:
                self.watchers[service.name] = old
            else:
                replaced.append((self._start(service), old))
        self._finish_replacements(replaced)
        for name, gone in old_watchers.items():
            log.info("%s: removed from config; deregistering", name)
            gone.stop()
        log.info("config reloaded: %d service(s)", len(self.watchers))

    def _finish_replacements(self, replaced: list) -> None:
        """Stop each old watcher once its successor has made its first decision (bounded)."""
        for new, old in replaced:
            if old is None:
                continue
            new.settled.wait(timeout=new.settle_timeout)
            log.info("%s: config changed; replacing registration", new.service.name)
            old.stop()

    def _heartbeat(self) -> None:
        if self.config.heartbeat_path:
            try:
                Path(self.config.heartbeat_path).write_text(f"{int(time.time())}\n")
            except OSError as e:
                log.warning("cannot write heartbeat %s: %s", self.config.heartbeat_path, e)

    def _all_alive(self) -> bool:
        """Every watcher is scheduled and every scheduler's threads run (each scheduler asked
        once, not once per service: 1000 services share one)."""
        watchers = self.watchers.values()
        schedulers = {id(s): s for w in watchers if (s := w.scheduler) is not None}
        return all(w.scheduled and w.scheduler is not None for w in watchers) and all(
            s.alive for s in schedulers.values()
        )

    def _write_status(self) -> None:
        """Rewrite the status file when a service's status changed, else every STATUS_REFRESH s
        (check durations, which differ every round, are refreshed then). A change is seen from
        each watcher's `changes` counter: no status is built to find that nothing changed."""
        key = {name: w.changes for name, w in self.watchers.items()}
        now = time.time()
        if key == self._last_status and now - self._last_status_at < STATUS_REFRESH:
            return
        services = {name: w.status() for name, w in self.watchers.items()}
        try:
            self.state.write_status({"updated": int(now), "pid": os.getpid(), "services": services})
            self._last_status, self._last_status_at = key, now
        except OSError as e:
            log.warning("cannot write status file: %s", e)

    def _check_failures(self) -> None:
        """Failed reports restart a service's watcher (service_watcher.py); a refused credential
        stops the process, since no retry can succeed."""
        if not any(conn.auth_failed for conn in self.pool.connections()):
            return
        for name, w in self.watchers.items():
            if w.reporter.conn.auth_failed:
                raise ReportFailures(f"{name}: ZooKeeper refused the zk_auth credential")

    def shutdown(self) -> None:
        """Deregister every node and close the sessions."""
        log.info("shutting down: deregistering %d service(s)", len(self.watchers))
        for w in self.watchers.values():
            w.request_stop()
        for w in self.watchers.values():
            w.stop()
        self.watchers.clear()
        self.pool.stop()
        if self.metrics:
            self.metrics.stop()
