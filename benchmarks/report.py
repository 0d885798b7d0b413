"""The human table and the JSON summary of one benchmark run."""

from __future__ import annotations

import json

SECTIONS = (  # in the order they run and are shown
    "convergence_ms",
    "churn",
    "churn_reload_mode",
    "scale",
    "scale_convergence",
    "nerve",
    "nerve_siblings",
    "flood",
    "invalid_flood",
    "ramp",
    "zk_fleet",
)
EXTRA = ("failures",)  # shown in the table, not part of the JSON summary

TARGETS = {
    "churn": "0 failed, 0 reloads",
    "scale": "zk_reads_per_change <= 1; RSS < 200 MB at 20,000 backends",
    "nerve": "< 10% of one core and < 100 MB at 1000 services",
    "flood": "after_server_lines == before_server_lines; after_change_p50_ms ~ before's",
    "invalid_flood": "20,000 invalid children: peak RSS < 100 MB; other changes delayed < 100 ms",
    "nerve_siblings": "a registration < 100 ms among 10,000 siblings; 1 own node after a leftover",
    "ramp": "0 reloads up and down; after_server_lines == 0 (issue 13)",
    "zk_fleet": "no target: the measured base of docs/scaling.md's sizing table",
}


def json_line(results: dict) -> str:
    """The summary with exactly the documented keys, as one line."""
    trimmed = {
        name: {k: v for k, v in section.items() if k not in EXTRA}
        if isinstance(section, dict)
        else section
        for name, section in results.items()
    }
    return json.dumps(trimmed, sort_keys=True)


def table(mode: str, results: dict) -> str:
    lines = [f"smartstack-py benchmarks ({mode})", ""]
    lines += _convergence(results.get("convergence_ms"))
    for name in SECTIONS[1:]:
        if name == "scale_convergence":
            lines += _scale_convergence(results.get(name))
        else:
            lines += _section(name, results.get(name))
    return "\n".join(lines)


def _convergence(conv: dict | None) -> list[str]:
    if not conv:
        return ["convergence_ms: not run", ""]
    lines = ["convergence (ms from ZooKeeper write)   p50      p99      n"]
    for name in ("floor", "haproxy", "envoy"):
        s = conv.get(name) or {}
        p50, p99 = _num(s.get("p50")), _num(s.get("p99"))
        lines.append(f"  {name:<37}{p50:>6}  {p99:>7}  {s.get('n', 0):>5}")
        if s.get("reason"):
            lines.append(f"    ({s['reason']})")
    floor = (conv.get("floor") or {}).get("p99")
    lines.append(
        "  target: haproxy/envoy p99 <= floor p99 + 20 ms"
        + (f" = {floor + 20:.1f} ms" if floor is not None else "")
    )
    return [*lines, ""]


def _scale_convergence(values: dict | None) -> list[str]:
    """One column per N, then the issue 15 targets with this run's figures and the verdicts."""
    if values is None:
        return ["scale_convergence: not run", ""]
    columns = sorted((k for k in values if k.isdigit()), key=int)
    if not columns:
        return ["scale_convergence: no N measured", ""]
    lines = ["scale_convergence (ms from ZooKeeper write)" + "".join(f"{c:>10}" for c in columns)]
    for key in values[columns[0]]:
        lines.append(f"  {key:<41}" + "".join(f"{_num(values[c].get(key)):>10}" for c in columns))
    small, large = values[columns[0]], values[columns[-1]]
    lines += [
        _target(
            f"single p50 at {columns[-1]} / at {columns[0]}", "<= 1.5", values["ratio_p50"], 1.5
        ),
        _target(
            f"single p99 at {columns[-1]} - floor p99 ({_num(values['floor_p99_ms'])} ms)",
            "<= 20 ms",
            values["p99_over_floor_ms"],
            20.0,
        ),
        _target(f"initial sync at {columns[-1]}", "< 3 s", large["initial_sync_s"], 3.0, True),
        f"  (initial sync at {columns[0]}: {_num(small['initial_sync_s'])} s)",
    ]
    return [*lines, ""]


def _target(label: str, goal: str, value, limit: float, strict: bool = False) -> str:
    """`target: <label> <goal>: <value> (met | NOT met | not measured)`."""
    if value is None:
        verdict = "not measured"
    else:
        verdict = "met" if (value < limit if strict else value <= limit) else "NOT met"
    shown = "-" if value is None else f"{value:g}"
    return f"  target: {label} {goal}: {shown} ({verdict})"


def _section(name: str, values: dict | None) -> list[str]:
    if values is None:
        return [f"{name}: not run", ""]
    lines = [f"{name}"]
    lines += [f"  {key:<37}{_num(value):>8}" for key, value in values.items() if key not in EXTRA]
    if values.get("failures"):
        lines.append(f"  failures by kind: {values['failures']}")
    target = TARGETS.get(name)
    if target:
        lines.append(f"  target: {target}")
    return [*lines, ""]


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
