"""The file side of the HAProxy generator: render haproxy.cfg, validate it, write it.

A plan is installed now (`install`: the caller reloads next, so it waits for the write) or in the
background (`install_later`: the runtime API already applied it, and the file only catches up;
the newest plan wins, at most one a BACKGROUND_INTERVAL, and a failed write is retried, see
background.LatestOnly). The change path never waits for a background validation. Plans are
numbered, so the file never goes back in time when both paths race. A text validation refused is
not validated again; one the node screen accepted is not validated twice.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence

from smartstack_common.atomic import write_atomic

from ...background import LatestOnly
from ...config import HaproxyConfig, ServiceConfig
from ...render import render_haproxy
from .config import (
    ConfigRejected,
    Plan,
    ServicePlan,
    build_context,
    render_service,
    validate_candidate,
    validate_text,
)
from .members import Server

log = logging.getLogger(__name__)

Numbered = tuple[int, Plan]
MAX_SECTIONS = 100_000  # rendered service sections kept
# seconds at least between two background installs: under a burst of changes, `haproxy -c` of a
# large file runs about once a second (on the newest plan), not once per change
BACKGROUND_INTERVAL = 1.0


class HaproxyInstaller:
    """Renders, validates and installs haproxy.cfg; counts what it did."""

    def __init__(self, config: HaproxyConfig, haproxy_bin: str, seed_comment: str | None = None):
        self._sections: dict[str, tuple[ServiceConfig, tuple[Server, ...], str]] = {}
        self.config = config  # the generator replaces it when the socket path is respelled
        self.haproxy_bin = haproxy_bin
        self.seed_comment = seed_comment  # the header line of a drawn server_order_seed
        self.renders = 0
        self.installs = 0
        self.failed_validations = 0
        self.failed_writes = 0
        self.installed: Plan | None = None  # the file on disk
        self._installed_seq = 0  # the plan number that produced it
        self._seq = itertools.count(1)  # thread-safe: next() takes no lock of ours
        self._lock = threading.Lock()  # the reconciler's and the background thread install
        self._rejected = ""  # the last text validation refused: not checked again
        self._accepted = ""  # the last text the node screen validated: not checked twice
        self._background: LatestOnly[Numbered] = LatestOnly(
            "haproxy-install", self._install, min_interval=BACKGROUND_INTERVAL
        )

    @property
    def config(self) -> HaproxyConfig:
        return self._config

    @config.setter
    def config(self, config: HaproxyConfig) -> None:
        self._config = config
        self._sections = {}  # rendered with the old config

    def render(self, planned: Sequence[ServicePlan]) -> str:
        """The whole file; a service's section is rendered again only when its config or its
        servers changed (the cost of a change does not grow with the services)."""
        self.renders += 1
        context = build_context(self.config, planned, self._service_text, self.seed_comment)
        return render_haproxy(context)

    def _service_text(self, plan: ServicePlan) -> str:
        svc, servers = plan
        hit = self._sections.get(svc.name)
        if hit and hit[1] is servers and (hit[0] is svc or hit[0] == svc):
            return hit[2]
        text = render_service(self.config, plan)
        self._sections[svc.name] = (svc, servers, text)
        if len(self._sections) > MAX_SECTIONS:  # services gone over SIGHUPs: start afresh
            self._sections = {svc.name: (svc, servers, text)}
        return text

    def install(self, plan: Plan) -> bool:
        """Validate and write `plan` now (what is pending in the background is dropped).

        False if it was refused; OSError (disk full, ...) if it cannot be written: the old file
        stays."""
        self._background.cancel()
        return self._install(self._number(plan))

    def install_later(self, plan: Plan) -> None:
        self._background.submit(self._number(plan))

    def flush(self, timeout: float) -> bool:
        """Wait for the background install; False on timeout."""
        return self._background.flush(timeout)

    def stop(self) -> None:
        """Install what is pending, then end the background thread."""
        self._background.stop()

    @property
    def validates(self) -> bool:
        """Candidates are validated only when they are written."""
        return bool(self.config.do_writes and self.config.config_file_path)

    def validate_text(self, text: str) -> None:
        """Raise ConfigRejected unless HAProxy (and check_command) accept `text` (node screen)."""
        command, candidate_path = self._checks()
        target = self.config.config_file_path or ""
        validate_text(text, target, self.haproxy_bin, command, candidate_path=candidate_path)
        self._accepted = text

    def _number(self, plan: Plan) -> Numbered:
        """Never waits for an install (the lock is held through a validation)."""
        return next(self._seq), plan

    def _install(self, numbered: Numbered) -> bool:
        """A plan older than the installed one is skipped: the file never goes back in time."""
        seq, plan = numbered
        with self._lock:
            if seq < self._installed_seq:
                return True
            if self.installed and self.installed.text == plan.text:
                return True
            if plan.text == self._rejected or not self._write(plan.text):
                return False
            self.installed, self._installed_seq = plan, seq
            return True

    def _write(self, text: str) -> bool:
        path = self.config.config_file_path
        if not (self.config.do_writes and path):
            return True
        try:
            mode = 0o640 if self.config.stats.auth else 0o644  # the stats password is in it
            validate = None if text == self._accepted else self._validate
            write_atomic(path, text, mode=mode, validate=validate)
        except ConfigRejected as exc:
            self.failed_validations += 1
            self._rejected = text
            log.error("haproxy config refused, not installed; HAProxy is unchanged: %s", exc)
            return False
        except OSError as exc:  # disk full, ...: the old file stays; the caller retries
            self.failed_writes += 1
            raise OSError(exc.errno, f"haproxy config not written, no reload: {exc}") from exc
        self.installs += 1
        return True

    def _validate(self, candidate: str) -> None:
        command, candidate_path = self._checks()
        validate_candidate(candidate, self.haproxy_bin, command, candidate_path=candidate_path)

    def _checks(self) -> tuple[str | None, str | None]:
        """check_command and Ruby's candidate path for it, when do_checks is on."""
        cfg = self.config
        if not cfg.do_checks:
            return None, None
        return cfg.check_command, cfg.candidate_config_file_path
