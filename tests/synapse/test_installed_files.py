"""InstalledFiles: an unchanged installed file costs a stat; any change on disk is read again."""

from __future__ import annotations

import os

from synapse_py.generators import installed
from synapse_py.generators.installed import InstalledFiles


def counting_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real = installed.read_current

    def read(path: str) -> str | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(installed, "read_current", read)
    return reads


def test_a_file_written_here_is_not_read_back(tmp_path, monkeypatch):
    reads = counting_reads(monkeypatch)
    files, path = InstalledFiles(), str(tmp_path / "a.json")
    files.write(path, "[1]")
    assert [files.current(path) for _ in range(3)] == ["[1]"] * 3
    assert reads == []


def test_a_file_changed_behind_our_back_is_read_again(tmp_path, monkeypatch):
    reads = counting_reads(monkeypatch)
    files, path = InstalledFiles(), str(tmp_path / "a.json")
    files.write(path, "[1]")
    st = os.stat(path)
    with open(path, "w") as f:  # same size, in place
        f.write("[2]")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert files.current(path) == "[2]"
    assert files.current(path) == "[2]"
    assert reads == [path]


def test_a_deleted_file_is_none_and_an_unknown_one_is_read(tmp_path):
    files, path = InstalledFiles(), str(tmp_path / "a.json")
    files.write(path, "[1]")
    os.unlink(path)
    assert files.current(path) is None
    (tmp_path / "b.json").write_text("[3]")
    assert files.current(str(tmp_path / "b.json")) == "[3]"
