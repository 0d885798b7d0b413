"""Scraping a running daemon's Prometheus endpoint (its `metrics` port), for integration tests."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from .procs import wait_for


class Scraper:
    """Reads one daemon's /metrics into {(sample name, sorted labels): value}."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/metrics"

    def samples(self) -> dict[tuple, float]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels) -> float | None:
        return self.samples().get((name, tuple(sorted(labels.items()))))

    def wait(self, name: str, predicate, timeout: float = 10, **labels) -> None:
        def holds() -> bool:
            value = self.value(name, **labels)
            return value is not None and predicate(value)

        wait_for(holds, timeout, message=f"{name}{labels}")
