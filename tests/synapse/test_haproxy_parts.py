"""The HAProxy generator's parts on their own: the installer (render, validate with the real
haproxy binary, write) and the run-time side without a socket (no HAProxy to talk to)."""

from __future__ import annotations

import threading

import pytest
from support.haproxy import HAPROXY

from synapse_py.config import HaproxyConfig
from synapse_py.generators.haproxy.config import Plan
from synapse_py.generators.haproxy.installer import HaproxyInstaller
from synapse_py.generators.haproxy.live import LiveHaproxy

GOOD = """global
    maxconn 100
defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
listen web
    bind 127.0.0.1:3213
"""


def plan(text: str) -> Plan:
    return Plan((), {}, text)


def installer(tmp_path, **options) -> HaproxyInstaller:
    config = HaproxyConfig(config_file_path=str(tmp_path / "haproxy.cfg"), **options)
    return HaproxyInstaller(config, HAPROXY)


def test_install_validates_writes_and_skips_an_unchanged_file(tmp_path):
    inst = installer(tmp_path)
    assert inst.install(plan(GOOD)) and inst.install(plan(GOOD))
    assert (tmp_path / "haproxy.cfg").read_text() == GOOD and inst.installs == 1
    inst.stop()


def test_a_refused_file_is_not_installed_nor_validated_again(tmp_path):
    inst = installer(tmp_path)
    inst.install(plan(GOOD))
    bad = GOOD + "backend x\n    no-such-keyword\n"
    assert not inst.install(plan(bad)) and not inst.install(plan(bad))
    assert inst.failed_validations == 1 and (tmp_path / "haproxy.cfg").read_text() == GOOD
    inst.stop()


def test_the_file_never_goes_back_in_time(tmp_path):
    inst = installer(tmp_path)
    older, newer = inst._number(plan(GOOD)), inst._number(plan(GOOD + "# newer\n"))
    assert inst._install(newer) and inst._install(older)
    assert (tmp_path / "haproxy.cfg").read_text().endswith("# newer\n")
    inst.stop()


def test_install_later_catches_up_in_the_background(tmp_path):
    inst = installer(tmp_path)
    inst.install_later(plan(GOOD))
    assert inst.flush(10) and (tmp_path / "haproxy.cfg").read_text() == GOOD
    inst.stop()


def test_a_failed_write_raises_and_is_counted(tmp_path):
    config = HaproxyConfig(config_file_path=str(tmp_path / "gone" / "haproxy.cfg"))
    inst = HaproxyInstaller(config, HAPROXY)
    with pytest.raises(OSError, match="haproxy config not written"):
        inst.install(plan(GOOD))
    assert inst.failed_writes == 1 and inst.installed is None
    inst.stop()


def test_without_writes_nothing_is_validated_or_written(tmp_path):
    inst = installer(tmp_path, do_writes=False)
    assert inst.install(plan("not a config")) and not inst.validates
    assert not (tmp_path / "haproxy.cfg").exists()
    inst.stop()


def test_without_a_socket_the_live_side_never_claims_a_runtime_change():
    reapplied: list[int] = []
    live = LiveHaproxy(HaproxyConfig(do_socket=False), threading.RLock(), installed=lambda: None,
                       respell=lambda: None, reapply=lambda: reapplied.append(1))  # fmt: skip
    assert live.converge(plan(GOOD)) == (False, False)
    assert live.members("web") is None and live.ids("web") == {} and not live.down
    live.adopt(plan(GOOD), None)
    assert live.live is None and live.reloads == 0
    live.request_reload()  # reloads are off without a reload_command: said, nothing run
    live.stop()
    assert reapplied == []


def test_someone_elses_reload_is_taken_as_loading_the_installed_file():
    installed = plan(GOOD)
    live = LiveHaproxy(HaproxyConfig(do_socket=False), threading.RLock(),
                       installed=lambda: installed, respell=lambda: None,
                       reapply=lambda: None)  # fmt: skip
    live.assume_installed()
    assert live.live is installed
    live.stop()
