"""The benchmark code paths run end to end at a tiny size and print the documented JSON summary.

Behaviour only: the figures themselves are never asserted (they are for the benchmark report).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
FIGURES = ("server_lines", "change_p50_ms", "change_p99_ms")
KEYS = {
    "convergence_ms": {"floor", "haproxy", "envoy"},
    "churn": {
        "requests_ok",
        "requests_failed",
        "reloads",
        "changes",
        "synapse_cpu_percent",
        "synapse_rss_mb",
    },
    "scale": {
        "services",
        "backends",
        "initial_sync_s",
        "render_ms",
        "synapse_rss_mb",
        "zk_reads_per_change",
    },
    "nerve": {"services", "cpu_percent", "rss_mb", "check_lag_p99_ms"},
    "flood": {
        "nodes",
        *(f"{phase}_{figure}" for phase in ("before", "flooded", "after") for figure in FIGURES),
    },
    "invalid_flood": {
        "children",
        "skipped",
        "all_skipped_s",
        "synapse_peak_rss_mb",
        "other_change_before_p50_ms",
        "other_change_before_max_ms",
        "other_change_during_p50_ms",
        "other_change_during_max_ms",
        "other_changes_during",
    },
    "nerve_siblings": {
        "siblings",
        "plain_register_p50_ms",
        "plain_register_p99_ms",
        "encoded_register_p50_ms",
        "encoded_register_p99_ms",
        "replace_leftover_ms",
        "own_nodes_after_leftover",
    },
}
KEYS["churn_reload_mode"] = KEYS["churn"]
SMOKE_SCALE_N = ("2", "4")  # benchmarks/run.py SIZES["smoke"].scale_conv_services
KEYS["scale_convergence"] = {*SMOKE_SCALE_N, "ratio_p50", "floor_p99_ms", "p99_over_floor_ms"}
SCALE_CONVERGENCE_PER_N = {
    "services",
    "backends",
    "initial_sync_s",
    *(
        f"{observer}_{figure}"
        for observer in ("single", "floor", "burst", "burst_floor")
        for figure in ("p50_ms", "p99_ms", "n", "timeouts")
    ),
    "single_cpu_percent",
    "single_child_cpu_percent",
    "burst_cpu_percent",
    "burst_child_cpu_percent",
    "synapse_rss_mb",
}
KEYS["ramp"] = {
    "members",
    *(
        f"{phase}_{figure}"
        for phase in ("up", "down")
        for figure in ("reloads", "p50_ms", "p99_ms", "max_ms")
    ),
    "after_server_lines",
}
ZK_FLEET_PER_MODE = {
    "initial_sync_s",
    "zk_watches",
    "zk_watched_paths",
    "zk_idle_cpu_percent",
    "zk_idle_packets_in_per_s",
    "changes",
    "changes_per_s",
    "notifications_per_change",
    "requests_per_change",
    "requests_per_s",
    "listings_per_s",
    "zk_cpu_percent",
    "zk_packets_in_per_s",
    "zk_packets_out_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_n",
    "latency_timeouts",
    "simulator_cpu_percent",
}
KEYS["zk_fleet"] = {
    "hosts",
    "services",
    "members",
    "poll_interval_s",
    "poll_polls_per_s_scheduled",
    *(f"{mode}_{key}" for mode in ("watch", "poll") for key in ZK_FLEET_PER_MODE),
}


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_smoke_run_prints_every_key_as_the_last_line(tmp_path):
    out = subprocess.run(
        [sys.executable, str(RUN), "--smoke"],
        capture_output=True,
        text=True,
        timeout=230,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {k: set(v) for k, v in summary.items()} == KEYS
    for observer in ("floor", "haproxy"):
        assert {"p50", "p99", "n"} <= set(summary["convergence_ms"][observer])
        assert summary["convergence_ms"][observer]["n"] > 0
    assert summary["churn"]["changes"] > 0 and summary["churn"]["requests_ok"] > 0
    assert summary["nerve_siblings"]["own_nodes_after_leftover"] == 1
    assert summary["ramp"]["members"] > 0 and summary["ramp"]["up_p99_ms"] is not None
    for n in SMOKE_SCALE_N:
        assert set(summary["scale_convergence"][n]) == SCALE_CONVERGENCE_PER_N
        assert summary["scale_convergence"][n]["single_n"] > 0
        assert summary["scale_convergence"][n]["burst_n"] > 0
    assert summary["scale_convergence"]["ratio_p50"] is not None
    fleet = summary["zk_fleet"]
    assert fleet["watch_zk_watches"] > 0 and fleet["poll_zk_watches"] == 0  # poll sets none
    assert fleet["watch_changes"] > 0 and fleet["watch_latency_n"] > 0
    assert fleet["watch_notifications_per_change"] > 0
    assert fleet["poll_notifications_per_change"] == 0
    assert "convergence (ms" in out.stdout  # the human table comes first
    assert "target: single p50 at 4 / at 2 <= 1.5" in out.stdout
