"""nerve-py command line. The only place where errors become exit codes."""

from __future__ import annotations

import sys

import click

from . import __version__
from .config import NerveConfig, load_config
from .errors import NerveError
from .logs import setup_logging

EXIT_CONFIG = 2
EXIT_RUNTIME = 1

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="nerve JSON config file (Ruby nerve format).",
)


def _load(path: str) -> NerveConfig:
    try:
        return load_config(path)
    except NerveError as e:
        click.echo(f"nerve-py: config error: {e}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nerve-py")
def main() -> None:
    """nerve-py: health-check local services and register the healthy ones in ZooKeeper.

    A service's ZooKeeper node exists only while all its checks pass (with rise/fall) and it is
    not in maintenance. Signals for `run`: SIGHUP reloads the config, SIGTERM/SIGINT deregister
    every node and exit 0.

    Exit codes: 0 success; 1 a runtime failure (a failing check, ZooKeeper writes failing in a
    row); 2 a bad config, named by file and key path. Every key: docs/nerve.md.
    """


@main.command()
@CONFIG_OPTION
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per line (ts, level, logger, msg, service when known).",
)
def run(config_path: str, log_level: str, log_format: str) -> None:
    """Run the daemon in the foreground."""
    from .daemon import Daemon

    setup_logging(log_level, log_format)
    config = _load(config_path)
    try:
        Daemon(config).run()
    except NerveError as e:
        click.echo(f"nerve-py: {e}", err=True)
        sys.exit(EXIT_RUNTIME)


@main.command()
@CONFIG_OPTION
def validate(config_path: str) -> None:
    """Check the config file (and service_conf_dir) and exit 0 if it is valid."""
    config = _load(config_path)
    for w in config.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{config_path}: OK ({len(config.services)} service(s))")


@main.command()
@CONFIG_OPTION
@click.argument("service", required=False)
def check(config_path: str, service: str | None) -> None:
    """Run each check once and print a table; exit 0 only if all pass."""
    from .commands import run_checks_once

    config = _load(config_path)
    ok = run_checks_once(config, service, click.echo)
    sys.exit(0 if ok else EXIT_RUNTIME)


@main.command()
@CONFIG_OPTION
def status(config_path: str) -> None:
    """Show each service: health, maintenance and its ZooKeeper node."""
    from .commands import show_status

    show_status(_load(config_path), click.echo)


@main.command()
@click.argument("direction", type=click.Choice(["down", "up"]))
@click.argument("service", required=False)
@click.option("--all", "all_services", is_flag=True, help="Every service in the config.")
@CONFIG_OPTION
def maint(direction: str, service: str | None, all_services: bool, config_path: str) -> None:
    """Put SERVICE in maintenance (down) or take it out (up).

    In maintenance the node is removed within one check interval while the service keeps
    running. The flag is kept in state_dir, so it survives a restart of nerve-py.
    """
    from .commands import set_maintenance

    config = _load(config_path)
    if bool(service) == all_services:
        raise click.UsageError("name one SERVICE or give --all")
    try:
        for line in set_maintenance(config, service, direction == "down"):
            click.echo(line)
    except NerveError as e:
        click.echo(f"nerve-py: {e}", err=True)
        sys.exit(EXIT_RUNTIME)


if __name__ == "__main__":
    main()
