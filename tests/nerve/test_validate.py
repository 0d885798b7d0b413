"""`nerve-py validate`: every problem at once, in words, each warning once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.validate import errors
from support.validate import validate as run_validate

from nerve_py import schema
from smartstack_common.schema_errors import patterns

SERVICE = {"host": "127.0.0.1", "port": 8080, "zk_hosts": ["127.0.0.1:2181"], "zk_path": "/n/web",
           "checks": [{"type": "tcp"}]}  # fmt: skip


def write(folder: Path, config: dict) -> str:
    path = folder / "nerve.json"
    path.write_text(json.dumps(config))
    return str(path)


def config(**services: dict) -> dict:
    return {"instance_id": "h1", "services": services or {"web": dict(SERVICE)}}


def validate(path: str) -> subprocess.CompletedProcess:
    return run_validate("nerve_py.cli", path)


def test_every_problem_of_every_service_is_reported_at_once(tmp_path):
    # today: the first (most relevant) schema error of the first service only
    bad_port = {**SERVICE, "port": 70000, "zk_path": "web/"}
    bad_check = {**SERVICE, "checks": [{"type": "nosuch"}], "weight": "x"}
    doc = {**config(web=bad_port, api=bad_check), "instance_id": "bad name", "bogus": 1}
    path = write(tmp_path, doc)
    found = errors(validate(path))
    prefix = f"nerve-py: config error: {path}: "
    assert all(line.startswith(prefix) for line in found)
    keys = sorted(line.removeprefix(prefix).split(": ")[0] for line in found)
    assert keys == ["bogus", "instance_id", "services.api.weight", "services.web.port",
                    "services.web.zk_path"]  # fmt: skip


def test_problems_past_the_schema_are_reported_for_every_service(tmp_path):
    # today: the first service's unknown check type stops before the second's
    web = {**SERVICE, "checks": [{"type": "nosuch"}]}
    api = {**SERVICE, "checks": [{"type": "tcp"}, {"type": "alsonosuch"}]}
    found = "\n".join(errors(validate(write(tmp_path, config(web=web, api=api)))))
    assert "services.web.checks[0]: " in found and "services.api.checks[1]: " in found


def test_a_misspelt_required_key_is_named_with_a_suggestion(tmp_path):
    # today: "services.web.zk_hosts: required key is missing"
    web = dict(SERVICE)
    web["zk_hots"] = web.pop("zk_hosts")
    (line,) = errors(validate(write(tmp_path, config(web=web))))
    assert line.endswith("services.web.zk_hots: unknown key zk_hots; did you mean zk_hosts?")
    assert "required key is missing" not in line


def test_a_missing_key_that_no_typo_explains_is_still_required(tmp_path):
    web = dict(SERVICE)
    del web["zk_hosts"]
    (line,) = errors(validate(write(tmp_path, config(web=web))))
    assert line.endswith("services.web.zk_hosts: required key is missing")


def test_no_regular_expression_in_messages(tmp_path):
    # today: "'web/' does not match '^/.*[^/]$|^/[^/]+$'"
    (line,) = errors(validate(write(tmp_path, config(web={**SERVICE, "zk_path": "web/"}))))
    assert line.endswith("services.web.zk_path: 'web/': must be absolute (start with /) and "
                         "not end with /")  # fmt: skip


def test_every_pattern_in_the_schema_says_in_words_what_it_allows():
    missing = [where for where, sub in patterns(schema.CONFIG_SCHEMA) if "description" not in sub]
    assert missing == []


def test_each_warning_is_printed_once(tmp_path):
    # today: twice, once logged (Python's last-resort handler) and once by validate itself
    doc = {**config(web={**SERVICE, "weight": 300}), "statsd": {}}
    out = validate(write(tmp_path, doc))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("warning: ") for line in lines), lines


def test_every_broken_service_conf_dir_file_is_reported(tmp_path):
    # today: the first file that does not parse stops the reading of the others
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "a.json").write_text("{not json")
    (conf_d / "b.yaml").write_text("x: [1")
    (conf_d / "c.json").write_text(json.dumps({**SERVICE, "port": 0}))
    doc = {"instance_id": "h1", "service_conf_dir": str(conf_d)}
    found = "\n".join(errors(validate(write(tmp_path, doc))))
    assert f"{conf_d / 'a.json'}: not valid JSON" in found
    assert f"{conf_d / 'b.yaml'}: not valid YAML" in found
    assert f"{conf_d / 'c.json'}: port: " in found
