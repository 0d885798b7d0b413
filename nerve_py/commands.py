"""The one-shot CLI commands (check, status, maint), kept out of cli.py's exit-code logic."""

from __future__ import annotations

import json
from collections.abc import Iterator

from smartstack_common.cli import EXIT_NOT_RUNNING, EXIT_RUNTIME, Echo, print_table

from .checks import build_checks, run_check
from .config import NerveConfig
from .errors import UnknownService
from .state import StateDir
from .status import print_status, status_document


def _services(config: NerveConfig, name: str | None):
    if name is None:
        return config.services
    if name not in {s.name for s in config.services}:
        raise UnknownService(config.source, name, (s.name for s in config.services))
    return (config.service(name),)


def run_checks_once(config: NerveConfig, name: str | None, echo: Echo) -> bool:
    """Run every check of the chosen services once; print a table; True if all pass."""
    rows, all_ok = [], True
    for svc in _services(config, name):
        for check in build_checks((s.params() for s in svc.checks), svc.host, svc.port):
            ok, reason = run_check(check)
            check.close()
            all_ok &= ok
            rows.append((svc.name, check.name, "PASS" if ok else "FAIL", reason))
    print_table(("SERVICE", "CHECK", "RESULT", "DETAIL"), rows, echo)
    return all_ok


def show_status(config: NerveConfig, timeout: float, as_json: bool, echo: Echo, say: Echo) -> int:
    """Print the status (a table, or the JSON document); the exit code: EXIT_NOT_RUNNING if
    the daemon is not running, EXIT_RUNTIME if a node's state could not be read, else 0."""
    daemon, doc = status_document(config, timeout, say)
    if not daemon.running:
        say(daemon.why)
    if as_json:
        echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print_status(doc, echo)
    if not daemon.running:
        return EXIT_NOT_RUNNING
    unknown = any(s["node_state"] == "unknown" for s in doc["services"].values())
    return EXIT_RUNTIME if unknown else 0


def set_maintenance(config: NerveConfig, name: str | None, on: bool) -> Iterator[str]:
    state = StateDir(config.state_dir)
    for svc in _services(config, name):
        state.set_maintenance(svc.name, on)
        yield f"{svc.name}: maintenance {'on' if on else 'off'}"
