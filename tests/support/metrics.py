"""Scraping a running daemon's Prometheus endpoint (its `metrics` port), for integration tests."""

from __future__ import annotations

import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from .procs import DaemonProcess, wait_for

# smartstack_common/metrics.py's line once it listens (text or JSON logs alike)
_LISTENING = re.compile(r"metrics: listening on http://\S+?:(\d+)/metrics")
ANY_PORT = {"port": 0}  # a daemon's `metrics` section: the kernel picks, the log tells


def metrics_port(daemon: DaemonProcess, timeout: float = 30) -> int:
    """The port a daemon started with `metrics.port: 0` listens on, read from its log."""

    def logged() -> int | None:
        found = _LISTENING.search(daemon.output())
        return int(found.group(1)) if found else None

    return wait_for(logged, timeout, interval=0.1, message=f"the metrics port in {daemon.log_path}")


class Scraper:
    """Reads one daemon's /metrics into {(sample name, sorted labels): value}."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/metrics"

    def _text(self) -> str:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def samples(self) -> dict[tuple, float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(self._text())
            for s in family.samples
        }

    def series(self, name: str) -> list[tuple[dict, float]]:
        """Every sample named `name`, as exposed: two with the same labels stay two (Prometheus
        would keep one of them)."""
        return [
            (s.labels, s.value)
            for family in text_string_to_metric_families(self._text())
            for s in family.samples
            if s.name == name
        ]

    def value(self, name: str, **labels) -> float | None:
        return self.samples().get((name, tuple(sorted(labels.items()))))

    def wait(self, name: str, predicate, timeout: float = 10, **labels) -> None:
        def holds() -> bool:
            value = self.value(name, **labels)
            return value is not None and predicate(value)

        wait_for(holds, timeout, message=f"{name}{labels}")
