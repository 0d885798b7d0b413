"""nerve-py command line. The only place where errors become exit codes.

Ruby nerve's command line works unchanged: `nerve-py -c FILE` (or NERVE_CONFIG) runs the daemon,
`-i/--instance_id` (or NERVE_INSTANCE_ID) overrides the file's instance_id, `-k/--check-config`
(or NERVE_CHECK_CONFIG set to anything, as Ruby reads it) checks the config and exits.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import partial

import click

from smartstack_common.cli import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    ExitCodeGroup,
    echo_valid,
    log_options,
)
from smartstack_common.logs import setup_logging
from smartstack_common.metrics import MetricsUnavailable

from . import __version__
from .config import NerveConfig, load_config
from .errors import ConfigError, NerveError, ReportFailures, SetupError, UnknownService

# EXIT_CONFIG (2): fix the config or the host, a restart alone will not help; EXIT_RUNTIME (1): a
# failure at run time, Restart=on-failure may cure it (both from smartstack_common.cli)
#: the one mapping from errors to exit codes; the first class an error is an instance of wins
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (UnknownService, EXIT_CONFIG),
    (SetupError, EXIT_CONFIG),
    (ReportFailures, EXIT_RUNTIME),
    (NerveError, EXIT_RUNTIME),
    (MetricsUnavailable, EXIT_RUNTIME),  # the metrics port is taken
    (OSError, EXIT_RUNTIME),  # an I/O failure nothing named: one line, not a traceback
)


class NerveGroup(ExitCodeGroup):
    """Runs the command line; nerve_py's errors become exit codes here and nowhere else."""

    prog = "nerve-py"
    exit_codes = EXIT_CODES
    config_errors = (ConfigError,)
    listed_errors = (SetupError,)
    doc = "nerve.md"


@dataclass(frozen=True)
class ConfigArgs:
    """Which files to load, from the options (a subcommand's win over the top level's)."""

    path: str | None = None
    overlay: str | None = None
    instance_id: str | None = None

    def over(self, other: ConfigArgs) -> ConfigArgs:
        return ConfigArgs(
            self.path or other.path,
            self.overlay or other.overlay,
            self.instance_id or other.instance_id,
        )


def config_options(f, env: bool = False):
    """-c, --config-overlay and -i, on the top level (Ruby style) and on every subcommand.

    Only the top level reads the environment: a subcommand falls back to it, so an option given
    on either level wins over a variable.
    """
    f = click.option(
        "-i",
        "--instance_id",
        "--instance-id",
        "instance_id",
        envvar="NERVE_INSTANCE_ID" if env else None,
        help="Reported as `name` to ZooKeeper; overrides instance_id from the config "
        "(env NERVE_INSTANCE_ID).",
    )(f)
    f = click.option(
        "--config-overlay",
        "overlay",
        type=click.Path(dir_okay=False),
        envvar="NERVE_CONFIG_OVERLAY" if env else None,
        help="A second file (JSON or YAML) merged over the config: objects key by key, lists "
        "and values replaced. Keep nerve-py's own keys there so the config stays loadable by "
        "Ruby nerve (env NERVE_CONFIG_OVERLAY).",
    )(f)
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="NERVE_CONFIG" if env else None,
        help="nerve config file, JSON or YAML, Ruby nerve's format (env NERVE_CONFIG).",
    )(f)


def top_level_config_options(f):
    return config_options(f, env=True)


def _load(args: ConfigArgs, log_warnings: bool = True) -> NerveConfig:
    if not args.path:
        raise click.UsageError("no config: give -c FILE or set NERVE_CONFIG")
    return load_config(args.path, args.overlay, args.instance_id, log_warnings)


def _args(ctx: click.Context, config_path, overlay, instance_id) -> ConfigArgs:
    return ConfigArgs(config_path, overlay, instance_id).over(ctx.obj or ConfigArgs())


@click.group(
    cls=NerveGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="nerve-py")
@top_level_config_options
@click.option(
    "-k",
    "--check-config",
    is_flag=True,
    help="Validate the config only and exit 0 if valid, non-zero otherwise (as Ruby nerve -k; "
    "also when NERVE_CHECK_CONFIG is set).",
)
@log_options
@click.pass_context
def main(ctx, config_path, overlay, instance_id, check_config, log_level, log_format) -> None:
    """nerve-py: health-check local services and register the healthy ones in ZooKeeper.

    `nerve-py -c FILE` runs the daemon as Ruby's `nerve -c FILE` does (the same as
    `nerve-py run -c FILE`); `nerve-py -c FILE -k` checks the config and exits.

    A service's ZooKeeper node exists only while all its checks pass (with rise/fall) and it is
    not in maintenance. Signals for the daemon: SIGHUP reloads the config (and the overlay),
    SIGTERM/SIGINT deregister every node and exit 0.

    Exit codes: 0 success; 1 a runtime failure (a failing check, ZooKeeper refused the
    credential); 2 a bad config, named by file and key path, an unknown service, or a state_dir
    or heartbeat_path folder nerve-py cannot write (every problem listed); 3 `status`: nerve-py
    is not running. Every key: docs/nerve.md.
    """
    ctx.obj = ConfigArgs(config_path, overlay, instance_id)
    if ctx.invoked_subcommand is not None:
        return
    if check_config or "NERVE_CHECK_CONFIG" in os.environ:
        _validate(ctx.obj)
    else:
        _run(ctx.obj, log_level, log_format)


@main.command()
@config_options
@log_options
@click.pass_context
def run(ctx, config_path, overlay, instance_id, log_level: str, log_format: str) -> None:
    """Run the daemon in the foreground."""
    _run(_args(ctx, config_path, overlay, instance_id), log_level, log_format)


def _run(args: ConfigArgs, log_level: str, log_format: str) -> None:
    from .daemon import Daemon

    setup_logging(log_level, log_format)
    Daemon(_load(args)).run()


@main.command()
@config_options
@click.pass_context
def validate(ctx, config_path, overlay, instance_id) -> None:
    """Check the config file (with service_conf_dir and overlay); exit 0 if it is valid, else 2
    with every problem found, one line each; each warning is printed once."""
    _validate(_args(ctx, config_path, overlay, instance_id))


def _validate(args: ConfigArgs) -> None:
    echo_valid(args.path or "", _load(args, log_warnings=False))


@main.command()
@config_options
@click.argument("service", required=False)
@click.pass_context
def check(ctx, config_path, overlay, instance_id, service: str | None) -> None:
    """Run each check once and print a table; exit 0 only if all pass."""
    from .commands import run_checks_once

    config = _load(_args(ctx, config_path, overlay, instance_id))
    ok = run_checks_once(config, service, click.echo)
    sys.exit(0 if ok else EXIT_RUNTIME)


@main.command()
@config_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document, version 1: daemon {running, pid, updated}, services {NAME: "
    "{health, maintenance, node, node_state, checks [{name, ok, up, reason}]}}.",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds to wait for each ZooKeeper ensemble before its nodes are shown as unknown.",
)
@click.pass_context
def status(ctx, config_path, overlay, instance_id, as_json: bool, timeout: float) -> None:
    """Show each service: health, maintenance and its ZooKeeper node; with --json its checks.

    Health and checks come from the running daemon (its <state_dir>/status.json); whether
    each node exists, from ZooKeeper (a slow ensemble is named on stderr after 0.5 s).

    Exit codes: 0 the daemon runs and every node could be looked up; 3 nerve-py is not
    running; 1 it runs but a ZooKeeper ensemble did not answer within --timeout; 2 a bad
    config.
    """
    from .commands import show_status

    config = _load(_args(ctx, config_path, overlay, instance_id))
    say = partial(click.echo, err=True)
    sys.exit(show_status(config, timeout, as_json, click.echo, say))


@main.command()
@click.argument("direction", type=click.Choice(["down", "up"]))
@click.argument("service", required=False)
@click.option("--all", "all_services", is_flag=True, help="Every service in the config.")
@config_options
@click.pass_context
def maint(ctx, direction, service, all_services, config_path, overlay, instance_id) -> None:
    """Put SERVICE in maintenance (down) or take it out (up).

    In maintenance the node is removed within one check interval while the service keeps
    running. The flag is kept in state_dir, so it survives a restart of nerve-py.
    """
    from .commands import set_maintenance

    config = _load(_args(ctx, config_path, overlay, instance_id))
    if bool(service) == all_services:
        raise click.UsageError("name one SERVICE or give --all")
    for line in set_maintenance(config, service, direction == "down"):
        click.echo(line)


if __name__ == "__main__":
    main()
