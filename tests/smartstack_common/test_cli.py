"""The command-line pieces both CLIs share: log options, validate's report, the table."""

from __future__ import annotations

import click
from click.testing import CliRunner

from smartstack_common.cli import EXIT_CONFIG, EXIT_RUNTIME, echo_valid, log_options, print_table


class _Config:
    warnings = ("zk_tls.key: readable by every user",)
    services = ("web", "api")


def test_exit_codes_are_distinct_and_not_success():
    assert {EXIT_CONFIG, EXIT_RUNTIME} == {2, 1}


def test_log_options_default_to_text_at_info_and_refuse_other_values():
    @click.command()
    @log_options
    def cmd(log_level, log_format):
        click.echo(f"{log_level} {log_format}")

    runner = CliRunner()
    assert runner.invoke(cmd, []).output == "info text\n"
    assert runner.invoke(cmd, ["--log-format", "json", "--log-level", "debug"]).output == (
        "debug json\n"
    )
    assert runner.invoke(cmd, ["--log-format", "xml"]).exit_code == 2


def test_echo_valid_puts_warnings_on_stderr_and_one_ok_line_on_stdout(capsys):
    echo_valid("/etc/x.json", _Config())
    out, err = capsys.readouterr()
    assert out == "/etc/x.json: OK (2 service(s))\n"
    assert err == "warning: zk_tls.key: readable by every user\n"


def test_print_table_aligns_columns_without_trailing_blanks():
    lines: list[str] = []
    print_table(("SERVICE", "NODE"), [("web", "i-1_0001"), ("a-long-name", "")], lines.append)
    assert lines == ["SERVICE      NODE", "web          i-1_0001", "a-long-name"]
