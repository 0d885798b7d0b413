"""Atomic file installation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smartstack_common.atomic import write_atomic


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_writes_new_file_with_mode(tmp_path):
    target = tmp_path / "out.cfg"
    write_atomic(str(target), "hello\n", mode=0o600)
    assert target.read_text() == "hello\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert listing(tmp_path) == ["out.cfg"]


def test_replaces_existing_file_with_bytes(tmp_path):
    target = tmp_path / "out.cfg"
    target.write_text("old")
    write_atomic(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_validator_sees_the_candidate_in_the_same_folder(tmp_path):
    seen = []

    def validate(temp_path: str) -> None:
        seen.append((os.path.dirname(temp_path), Path(temp_path).read_text()))

    write_atomic(str(tmp_path / "out.cfg"), "candidate", validate=validate)
    assert seen == [(str(tmp_path), "candidate")]


def test_failing_validator_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.cfg"
    target.write_text("good config")

    def reject(temp_path: str) -> None:
        raise ValueError("haproxy -c said no")

    with pytest.raises(ValueError, match="haproxy -c"):
        write_atomic(str(target), "bad config", validate=reject)
    assert target.read_text() == "good config"
    assert listing(tmp_path) == ["out.cfg"]


def test_failing_validator_on_missing_file_creates_nothing(tmp_path):
    def reject(temp_path: str) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        write_atomic(str(tmp_path / "out.cfg"), "x", validate=reject)
    assert listing(tmp_path) == []


def test_missing_folder_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "nope" / "out.cfg"), "x")
    assert listing(tmp_path) == []


def test_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomic("rel.json", "[]")
    assert (tmp_path / "rel.json").read_text() == "[]"


def test_remove_stale_temps_only_touches_hidden_temp_files(tmp_path):
    from smartstack_common.atomic import remove_stale_temps

    (tmp_path / "haproxy.cfg").write_text("live")
    (tmp_path / ".haproxy.cfg.ab12cd.tmp").write_text("half")
    (tmp_path / ".other.json.zz.tmp").write_text("half")
    (tmp_path / "notes.tmp").write_text("keep")
    assert remove_stale_temps(str(tmp_path), "haproxy.cfg") == [".haproxy.cfg.ab12cd.tmp"]
    assert (tmp_path / ".other.json.zz.tmp").exists()
    assert remove_stale_temps(str(tmp_path)) == [".other.json.zz.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["haproxy.cfg", "notes.tmp"]
    assert remove_stale_temps(str(tmp_path / "missing")) == []
