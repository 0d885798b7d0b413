"""file_output writes the bytes Ruby synapse 0.18.9 wrote, for every ruby-reference synapse case.

Each case's znodes (child names and data, in ZooKeeper's order) go through our node reader and
membership into the file_output generator; every file must equal Ruby's byte for byte, and the
set of files must be the same (Ruby deletes `*.json` files of services it does not write).
Documented differences are listed in KNOWN (see docs/synapse.md).
"""

from __future__ import annotations

import pytest
from support import ruby_nodes
from support.ruby_nodes import CASES, KNOWN, REFERENCE

from synapse_py.config import FileOutputConfig
from synapse_py.generators.file_output import FileOutputGenerator


def written(case: str, tmp_path) -> dict[str, bytes]:
    config = ruby_nodes.config(case, tmp_path)
    out = tmp_path / "file_output"
    out.mkdir()
    (out / "stale.json").write_text("[]")  # as in s13: Ruby deletes files it does not write
    for service in config.services:
        (out / f"{service.name}.json").write_text("[]")
    FileOutputGenerator(FileOutputConfig(str(out))).apply(
        config.services, ruby_nodes.membership(case, config)
    )
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("case", CASES)
def test_file_output_bytes_equal_rubys(case, tmp_path):
    expected = KNOWN.get(case, lambda files: files)(ruby_nodes.ruby_files(case))
    assert written(case, tmp_path) == expected


def test_every_case_is_covered():
    assert len(CASES) == 18 and (REFERENCE / "s13_generator_disabled.file_output").is_dir()
