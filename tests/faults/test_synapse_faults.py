"""Scenarios 5, 7 and 8: synapse-py killed mid-churn, its disk full, a mass expiry."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support.fleet import SESSION, haproxy_accepts, registered
from support.haproxy import spread
from support.procs import wait_for
from support.rigs import register
from support.traffic import Traffic

pytestmark = pytest.mark.integration


class Churn:
    """Registers and deregisters `backends` at random in a background thread (bounded)."""

    def __init__(self, zk, path: str, backends, interval: float = 0.1, max_seconds: float = 60):
        self.zk, self.path, self.backends = zk, path, backends
        self.interval, self.max_seconds = interval, max_seconds
        self.nodes: dict[int, str] = {}  # port -> node path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def toggle(self, backend) -> None:
        node = self.nodes.pop(backend.port, None)
        if node:
            self.zk.delete(node)
        else:
            self.nodes[backend.port] = register(self.zk, self.path, backend)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            self.toggle(random.choice(self.backends))


def assert_outputs_complete(fleet) -> None:
    """haproxy.cfg passes `haproxy -c`; every file_output file and the state file parse."""
    assert haproxy_accepts(fleet.synapse.hx.config)
    for path in fleet.synapse.out_dir.glob("*.json"):
        assert isinstance(json.loads(path.read_text()), list), path
    assert _state_services(fleet) == {"web"}


def _state_services(fleet) -> set[str] | None:
    try:
        return set(json.loads(fleet.synapse.state_path.read_text())["services"])
    except (OSError, ValueError):
        return None


def test_killed_twenty_times_while_membership_churns(fleet, zk, zk_ensemble, http_backend):
    """5. kill -9 at random points: outputs always complete; a restart without ZooKeeper serves
    the last membership from the state file."""
    backends = [http_backend() for _ in range(4)]
    churn = Churn(zk, fleet.synapse.path("web"), backends)
    for b in backends[:2]:
        churn.toggle(b)
    fleet.serve(*backends[:2], mass_expiry_grace=0)
    # the state file is written on its own thread just after HAProxy changes: a kill in that
    # window leaves the file one change behind, and before the first write it has no services
    wait_for(lambda: _state_services(fleet) == {"web"}, 10, 0.05, "state file records web")
    with churn:
        for _ in range(20):
            fleet.synapse.proc.kill()
            assert_outputs_complete(fleet)
            fleet.synapse.start()
            time.sleep(random.uniform(0.2, 1.2))
    final = [b for b in backends if b.port in churn.nodes] or [backends[0]]
    if not churn.nodes:
        churn.toggle(backends[0])
    fleet.wait_live(final, timeout=15)
    fleet.synapse.proc.kill()
    assert_outputs_complete(fleet)
    zk_ensemble.stop()  # no ZooKeeper, and no HAProxy: only the state file remembers
    fleet.synapse.hx.stop_master()
    port = fleet.synapse.ports["web"]
    fleet.synapse.start()
    wait_for(lambda: set(spread(port, 12)) == {b.name for b in final}, 15, 0.2, "state file")


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs for synapse's files (haproxy.cfg, state file, file_output)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(folder)]
    result = subprocess.run(mount, capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], timeout=10, check=False)


def fill(folder: Path) -> Path:
    """Take every free block of the file system holding `folder`."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_config_folder_full(tmp_path, small_disk, zk_ensemble, zk, zk_root, http_backend):
    """7. Disk full: no truncated file, no reload, an error logged and counted; then recovery."""
    from support.fleet import Fleet

    fleet = Fleet(tmp_path, zk_ensemble.hosts, zk_root, files_dir=small_disk)
    try:
        _fill_and_recover(fleet, zk, small_disk, http_backend(), http_backend())
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()


def _fill_and_recover(fleet, zk, disk: Path, a, b) -> None:
    path = fleet.synapse.path("web")
    register(zk, path, a)
    port = fleet.serve(a)
    # every output file holds `a` (haproxy.cfg follows the runtime API in the background)
    wait_for(
        lambda: all(f":{a.port}" in t or str(a.port) in t for t in _texts(disk).values()),
        10,
        0.1,
        "files hold a",
    )
    before = _texts(disk)
    pid = fleet.synapse.worker_pid()
    filler = fill(disk)
    register(zk, path, b)
    wait_for(lambda: "failed writes so far" in fleet.synapse.proc.output(), 10, 0.1, "logged")
    assert _texts(disk) == before  # old, whole files
    assert not list(disk.glob(".*.tmp")) and haproxy_accepts(fleet.synapse.hx.config)
    assert set(spread(port, 12)) == {a.name, b.name}  # the runtime API needs no disk
    filler.unlink()
    fleet.wait_live((a, b), timeout=10)
    assert f":{b.port}" in Path(fleet.synapse.hx.config).read_text()
    assert haproxy_accepts(fleet.synapse.hx.config)
    assert fleet.synapse.worker_pid() == pid


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in _files(folder)}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".cfg", ".json"))


GRACE = 6


def test_mass_expiry_is_held_for_the_grace_period(fleet, zk, http_backend):
    """8. 3 of 4 backends expire at once: the old set is kept for mass_expiry_grace, logged,
    then the registry's set is applied (with no further ZooKeeper event)."""
    a, b, c, d = (http_backend() for _ in range(4))
    doomed = fleet.nerve("host-1", [a, b, c])
    doomed.start()
    fleet.nerve("host-2", [d]).start()
    port = fleet.serve(a, b, c, d, mass_expiry_grace=GRACE)
    path = fleet.synapse.path("web")
    with Traffic(port) as traffic:
        doomed.procs[0].kill()  # its session expires SESSION seconds later, with 3 nodes
        wait_for(lambda: registered(zk, path) == {d.port}, SESSION + 10, 0.1, "mass expiry")
        expired = time.monotonic()
        wait_for(lambda: "mass expiry" in fleet.synapse.proc.output(), 5, 0.1, "hold logged")
        while time.monotonic() < expired + GRACE - 2:
            fleet.wait_live((a, b, c, d), timeout=1)
            time.sleep(0.5)
        fleet.wait_live((d,), timeout=10)
    assert traffic.failures == 0 and traffic.served > 50
    assert "mass_expiry_grace over" in fleet.synapse.proc.output()
