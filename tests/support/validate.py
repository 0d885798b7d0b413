"""Run a daemon's `validate` as its own process: what logging prints (Python's last-resort
handler) counts too, as an operator would see it."""

from __future__ import annotations

import subprocess
import sys


def validate(module: str, path: str) -> subprocess.CompletedProcess:
    """`python -m <module> validate -c <path>`."""
    return subprocess.run(
        [sys.executable, "-m", module, "validate", "-c", path],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def errors(out: subprocess.CompletedProcess) -> list[str]:
    """The error lines of a validate that exited 2 (the warnings left out)."""
    assert out.returncode == 2, out.stdout + out.stderr
    return [line for line in out.stderr.splitlines() if not line.startswith("warning: ")]
