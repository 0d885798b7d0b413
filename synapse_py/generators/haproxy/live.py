"""The run-time side of the HAProxy generator: the running HAProxy, its admin socket and reloads.

`LiveHaproxy` knows what the running HAProxy serves (`live`: the plan it holds; per backend the
servers it runs), changes it over the admin socket where the structure allows (`converge`,
haproxy/runtime.py), reloads it otherwise (`request_reload`: Reloader, with a lock shared with
the generator so no command reaches a worker that is being replaced), and watches it (monitor:
a HAProxy that stops answering is started again with the installed file; one that someone else
restarted has the membership applied again). At start a HAProxy already running the installed
file is adopted as it is (`adopt`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...backend import Backend
from ...config import HaproxyConfig, ServiceConfig
from ...proxy.haproxy_monitor import HaproxyMonitor
from ...proxy.haproxy_socket import HaproxySocket, HaproxySocketError, SocketUnavailable
from ...proxy.reloader import Reloader
from .config import Plan, restores_state, runtime_refusal
from .members import Server
from .readback import adopted, live_ids, live_members, read_installed, skeleton
from .runtime import Drainer, converge

log = logging.getLogger(__name__)


class LiveHaproxy:
    """The running HAProxy as the generator sees it (see the module docstring).

    `installed()` gives the plan the file on disk holds; `respell()` is called (with the lock)
    when the admin socket file is gone, before HAProxy is started again; `reapply()` when HAProxy
    was restarted by someone else and the membership must be applied again.
    """

    def __init__(
        self,
        config: HaproxyConfig,
        lock: threading.RLock,
        installed: Callable[[], Plan | None],
        respell: Callable[[], None],
        reapply: Callable[[], None],
        settle_timeout: float = 10.0,
        offline: bool = False,
    ):
        """`offline`: no HAProxy is asked, reloaded or watched (`synapse-py render`)."""
        self.settle_timeout = settle_timeout
        self.runtime_commands = 0
        self.live: Plan | None = None  # what the running HAProxy holds; None: unknown
        self._config = config
        self._lock = lock
        self._installed = installed
        self._respell = respell
        self._stopping = threading.Event()
        self._known: dict[str, dict[str, str]] = {}  # per backend: what HAProxy runs, by server
        # per backend: the servers the runtime API last brought it to (checked state)
        self._converged: dict[str, tuple[Server, ...]] = {}
        self._reloading: Plan | None = None  # the file a running reload loads
        self._worker_pid: str | None = None
        self._new_pid: str | None = None
        path = config.socket_file_path if config.do_socket and not offline else None
        self.socket = HaproxySocket(path) if path else None
        self._drainer = Drainer(self.socket, lock, config.drain_timeout) if self.socket else None
        self._reloader = None if offline else self._make_reloader()
        self._monitor = self._make_monitor(reapply)

    @property
    def reloads(self) -> int:
        """Reload commands run (the first one usually starts HAProxy)."""
        return self._reloader.reloads if self._reloader else 0

    @property
    def down(self) -> bool:
        """HAProxy stopped answering; the monitor starts it again with the installed file."""
        return bool(self._monitor and self._monitor.down)

    def members(self, backend: str) -> tuple[Backend, ...] | None:
        """The backends the running HAProxy serves in `backend` (None: unknown)."""
        return live_members(self.socket, backend)

    def ids(self, backend: str) -> dict[str, int]:
        """The server ids the running HAProxy uses in `backend`."""
        return live_ids(self.socket, backend)

    def held(self, backend: str) -> dict[str, str]:
        """The servers HAProxy still runs in `backend` (their ids are taken)."""
        return self._known.get(backend, {})

    def converge(self, plan: Plan) -> tuple[bool, bool]:
        """Runtime-apply each backend the live HAProxy has unchanged: (all done?, socket down?)."""
        if self.socket is None or self.live is None or self.down:
            return False, False
        live = self.live.structure
        try:
            same = [
                self._converge_backend(svc, servers)
                for svc, servers in plan.services
                if live.get(svc.backend_name) == plan.structure[svc.backend_name]
            ]
        except SocketUnavailable as exc:
            log.warning("admin socket unavailable, falling back to a reload: %s", exc)
            if self._monitor:
                self._monitor.lost(str(exc))
            return False, True
        except HaproxySocketError as exc:
            log.warning("runtime API refused a change, falling back to a reload: %s", exc)
            return False, False
        return all(same) and len(same) == len(plan.services) and live == plan.structure, False

    def _converge_backend(self, svc: ServiceConfig, servers: tuple[Server, ...]) -> bool:
        """Bring one backend's live servers to `servers`; False if only a reload can.

        A backend already brought to these very servers (and not reloaded, adopted or restarted
        since) is not asked again: a change costs the backends it touches, not all of them."""
        backend = svc.backend_name
        if self._converged.get(backend) is servers:
            return True
        self._converged.pop(backend, None)
        refusal = runtime_refusal(self._config, svc)
        known = self._known.setdefault(backend, {})
        assert self.socket is not None and self._drainer is not None  # converge checked
        sent = converge(self.socket, backend, servers, known, self._drainer, not refusal)
        self.runtime_commands += sent or 0
        if sent is None:
            return False
        self._converged[backend] = servers
        return True

    def adopt(self, plan: Plan, installed_path: str | None) -> None:
        """At start, take a running HAProxy as running the installed file, which synapse-py
        wrote to match the runtime state: backends whose servers differ converge by runtime
        API where they can, the rest reload."""
        if self._installed() is not None or self.live is not None or self.socket is None:
            return  # only at start, before synapse-py installed or reloaded anything
        text = read_installed(installed_path)
        if not text or skeleton(text) != skeleton(plan.text) or self._current_pid() is None:
            return
        structure, self._known = adopted(text, plan.services, plan.structure)
        self._converged = {}
        self.live = Plan(plan.services, structure, text)
        log.info("haproxy: adopting the running HAProxy, which runs the installed haproxy.cfg")

    def assume_installed(self) -> None:
        """HAProxy was (re)started behind our back: it loaded the installed file."""
        if self.live is None and self._reloading is None:
            self.live = self._installed()
            self._learn(self.live)
            if self._drainer:
                self._drainer.forget()

    def applied(self, plan: Plan) -> None:
        """The runtime API made HAProxy hold `plan`."""
        self.live = plan

    def request_reload(self) -> None:
        if self._reloader is None:
            log.info("haproxy config changed; reloads are off (do_reloads/reload_command)")
            return
        self._reloader.request()

    def flush(self, timeout: float) -> bool:
        """Wait for a deferred reload to run; False on timeout."""
        return self._reloader.flush(timeout) if self._reloader else True

    def stop(self) -> None:
        """Drop a deferred reload, stop watching; HAProxy keeps running."""
        self._stopping.set()
        if self._monitor:
            self._monitor.stop()
        if self._reloader:
            self._reloader.stop()
        if self._drainer:
            self._drainer.stop()

    def _learn(self, plan: Plan | None) -> None:
        """HAProxy (re)loaded `plan`: its servers are exactly the planned ones, in the state the
        file gives them, so the next change need not ask about every backend; except backends
        that restore their servers' state from a file (`load-server-state-from-file`), which
        are checked at the next converge."""
        self._converged = {}
        if plan is None:
            return
        self._known = {
            svc.backend_name: {s.name: s.structure for s in servers}
            for svc, servers in plan.services
        }
        self._converged = {
            svc.backend_name: servers
            for svc, servers in plan.services
            if not restores_state(self._config, svc)
        }

    def _make_reloader(self) -> Reloader | None:
        cfg = self._config
        if not (cfg.do_reloads and cfg.reload_command):
            return None
        return Reloader(
            cfg.reload_command,
            cfg.restart_interval,
            cfg.restart_jitter,
            lock=self._lock,
            before=self._before_reload,
            after=self._after_reload,
            settle=self._settle,
        )

    def _before_reload(self) -> None:
        """Until the new worker answers, nothing is sent to the old one (its changes would be
        lost): the live state is unknown, and a change meanwhile asks for one more reload."""
        self._worker_pid, self._new_pid = self._current_pid(), None
        self._reloading, self.live = self._installed(), None
        self._converged = {}
        if self._drainer:
            self._drainer.forget()
        if self._monitor:
            self._monitor.reloading()

    def _settle(self) -> bool:
        """Wait, without the lock, for the new worker; the pid is kept for `_after_reload`."""
        self._new_pid = self._await_new_worker(self._worker_pid)
        return self._new_pid is not None

    def _after_reload(self, ok: bool) -> None:
        """Once the new worker answers, HAProxy holds the file installed when it started."""
        loaded, self._reloading = self._reloading, None
        if ok:
            self.live = loaded
            self._learn(loaded)
        if self._monitor:
            self._monitor.reloaded(self._new_pid if ok else None)

    def _make_monitor(self, reapply: Callable[[], None]) -> HaproxyMonitor | None:
        if self.socket is None:
            return None
        monitor = HaproxyMonitor(self.socket, self._lock, self._recover, reapply)
        monitor.start()
        return monitor

    def _recover(self, socket_missing: bool) -> None:
        """Start HAProxy again with the installed file (the monitor's thread, without the lock)."""
        with self._lock:
            if self._reloader is None or self._installed() is None:
                log.error("HAProxy is down and reloads are off: synapse-py cannot restart it")
                return
            if socket_missing:
                self._respell()
        self._reloader.request()

    def _current_pid(self) -> str | None:
        try:
            return self.socket.show_info().get("Pid") if self.socket else None
        except HaproxySocketError:
            return None

    def _await_new_worker(self, old_pid: str | None) -> str | None:
        """The new worker's pid ("" without a socket); None if none answered in time."""
        if self.socket is None:
            return ""
        deadline = time.monotonic() + self.settle_timeout
        while time.monotonic() < deadline and not self._stopping.is_set():
            pid = self._current_pid()
            if pid is not None and pid != old_pid:
                return pid
            time.sleep(0.05)
        log.error("no new HAProxy worker answered within %.1fs of the reload", self.settle_timeout)
        return None
