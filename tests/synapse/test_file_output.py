"""The file_output generator."""

from __future__ import annotations

import json
import os

import pytest

from synapse_py.backend import Backend
from synapse_py.config import (
    DiscoveryConfig,
    FileOutputConfig,
    ServiceConfig,
    ServiceFileOutputConfig,
)
from synapse_py.generators import GENERATORS, register
from synapse_py.generators.file_output import FileOutputGenerator

WEB = ServiceConfig("web", DiscoveryConfig("base"))
API = ServiceConfig("api", DiscoveryConfig("base"))
B1 = Backend("10.0.0.2", 80, "i-2", weight=3, labels=(("az", "a"),))
B2 = Backend("10.0.0.1", 80, "i-1", haproxy_server_options="check")


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


@pytest.fixture
def generator(out):
    return FileOutputGenerator(FileOutputConfig(str(out)))


def read(out, service: str) -> object:
    return json.loads((out / f"{service}.json").read_text())


def test_registered_under_its_config_name():
    assert GENERATORS["file_output"] is FileOutputGenerator


def test_register_refuses_a_second_class_under_one_name():
    with pytest.raises(ValueError, match="already registered"):
        register("file_output")(type("Other", (), {}))


def test_writes_the_backends_in_order_as_ruby_synapse(generator, out):
    generator.apply((WEB, API), {"web": (B1, B2), "api": ()})
    assert (out / "web.json").read_text() == (
        '[{"name":"i-2","host":"10.0.0.2","port":80,"id":null,"weight":3,'
        '"haproxy_server_options":null,"labels":{"az":"a"}},'
        '{"name":"i-1","host":"10.0.0.1","port":80,"id":null,"weight":null,'
        '"haproxy_server_options":"check","labels":null}]'
    )
    assert (out / "api.json").read_text() == "[]"


def test_a_disabled_service_gets_no_file_and_its_stale_file_goes(generator, out):
    hidden = ServiceConfig(
        "hidden", DiscoveryConfig("base"), file_output=ServiceFileOutputConfig(True)
    )
    out.mkdir()
    (out / "hidden.json").write_text("[]")
    (out / "stale.json").write_text("[]")
    generator.apply((WEB, hidden), {"web": (B1,), "hidden": (B2,)})
    assert sorted(os.listdir(out)) == ["web.json"]


def test_unchanged_content_is_not_rewritten(generator, out):
    generator.apply((WEB,), {"web": (B1,)})
    inode = os.stat(out / "web.json").st_ino
    generator.apply((WEB,), {"web": (B1,)})
    assert os.stat(out / "web.json").st_ino == inode and generator.writes == 1
    generator.apply((WEB,), {"web": (B1, B2)})
    assert generator.writes == 2 and len(read(out, "web")) == 2


def test_file_changed_behind_our_back_is_rewritten(generator, out):
    generator.apply((WEB,), {"web": (B1,)})
    (out / "web.json").write_text("garbage")
    generator.apply((WEB,), {"web": (B1,)})
    assert read(out, "web") == [B1.to_json()]


def test_service_without_membership_keeps_its_file(generator, out):
    generator.apply((WEB,), {"web": (B1,)})
    generator.apply((WEB,), {})
    assert read(out, "web") == [B1.to_json()]


def test_unconfigured_service_files_are_removed_as_ruby_does(generator, out):
    generator.apply((WEB, API), {"web": (B1,), "api": (B2,)})
    (out / "notes.txt").write_text("kept")
    (out / ".hidden.json").write_text("kept")
    generator.apply((WEB,), {"web": (B1,), "api": (B2,)})
    assert sorted(os.listdir(out)) == [".hidden.json", "notes.txt", "web.json"]


def test_creates_the_output_directory_and_leaves_no_temp_files(generator, out):
    generator.apply((WEB,), {"web": (B1,)})
    generator.apply((WEB,), {"web": (B2,)})
    assert sorted(os.listdir(out)) == ["web.json"]
