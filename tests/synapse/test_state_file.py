"""The last-known-good membership file."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from synapse_py import state_file
from synapse_py.backend import Backend

WEB = [
    Backend("10.0.0.1", 8080, "i-1", weight=5, labels=(("az", "a"),)),
    Backend("web-2.example.com", 8080, "i-2", haproxy_server_options="check inter 2s"),
]
NOW = 1_700_000_000.0


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "state.json")


def write_document(path: str, services: object, saved_at: object = NOW, version: object = 1):
    with open(path, "w") as f:
        json.dump({"version": version, "saved_at": saved_at, "services": services}, f)


def test_round_trip(path):
    state_file.save(path, {"web": WEB, "db": []}, now=NOW)
    assert state_file.load(path, ttl=60, now=NOW + 30) == {"web": WEB, "db": []}


def test_round_trip_keeps_labels_and_options(path):
    state_file.save(path, {"web": WEB})
    loaded = state_file.load(path, ttl=60)["web"]
    assert [b.labels for b in loaded] == [b.labels for b in WEB]
    assert loaded[1].haproxy_server_options == "check inter 2s"


def test_missing_file_is_empty_without_warning(path, caplog):
    assert state_file.load(path, ttl=60) == {}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("age", [61, -61])
def test_file_older_than_ttl_or_from_the_future_is_ignored(path, age):
    state_file.save(path, {"web": WEB}, now=NOW)
    assert state_file.load(path, ttl=60, now=NOW + age) == {}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "saved_at": 1700000000, "services": {}}',
        b'{"version": 1, "saved_at": "now", "services": {}}',
        b'{"version": 1, "saved_at": true, "services": {}}',
        b'{"version": 1, "saved_at": 1700000000, "services": []}',
        b'{"version": 1, "saved_at": 1700000000, "services": {"web": {}}}',
        b'{"version": 1, "saved_at": 1700000000, "services": {"we\\nb": []}}',
        b"[" * 50000,
    ],
)
def test_corrupt_file_is_empty_with_a_warning(path, caplog, content):
    with open(path, "wb") as f:
        f.write(content)
    assert state_file.load(path, ttl=1e12, now=NOW) == {}
    assert any("state file" in r.getMessage() for r in caplog.records)


def test_unreadable_path_is_empty_with_a_warning(tmp_path, caplog):
    assert state_file.load(str(tmp_path), ttl=60) == {}  # a folder, not a file
    assert any("state file" in r.getMessage() for r in caplog.records)


def test_tampered_entries_are_dropped_and_good_ones_kept(path, caplog):
    good = WEB[0].to_json()
    tampered = [
        {**good, "host": "10.0.0.9\n    server evil 6.6.6.6:80"},
        {**good, "name": "x backup"},
        {**good, "port": 0},
        {**good, "haproxy_server_options": "check\nlisten evil"},
        "10.0.0.1:80",
        None,
    ]
    write_document(path, {"web": [*tampered, good]})
    assert state_file.load(path, ttl=60, now=NOW) == {"web": [WEB[0]]}
    assert len([r for r in caplog.records if "skipped a backend" in r.getMessage()]) == 6


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, path):
    state_file.save(path, {"web": WEB})
    state_file.save(path, {"web": WEB[:1]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert json.loads(Path(path).read_text())["services"]["web"] == [WEB[0].to_json()]


# ---------------------------------------------------------------- the writer thread


def test_the_writer_saves_the_latest_membership(path):
    writer = state_file.StateWriter(path)
    try:
        for i in range(5):
            writer.submit({"web": WEB[: i % 2 + 1]})
        assert writer.flush(10)
        assert state_file.load(path, ttl=60) == {"web": WEB[:1]}
        assert 1 <= writer.writes <= 5
    finally:
        writer.stop()


def test_the_writer_retries_a_failed_write_and_counts_it(tmp_path, caplog):
    folder = tmp_path / "not-yet"
    path = str(folder / "state.json")
    writer = state_file.StateWriter(path, retry=0.1)
    try:
        writer.submit({"web": WEB})
        deadline = time.monotonic() + 10
        while writer.failures == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.failures >= 1
        assert "cannot write state file" in caplog.text
        folder.mkdir()
        while writer.writes == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state_file.load(path, ttl=60) == {"web": WEB}
    finally:
        writer.stop()


def test_the_document_is_the_records_joined(path):
    state_file.save(path, {'we"b': WEB, "db": []}, now=NOW)
    document = json.loads(Path(path).read_text())
    assert document["services"] == {'we"b': [b.to_json() for b in WEB], "db": []}
    assert document["saved_at"] == NOW and document["version"] == 1
