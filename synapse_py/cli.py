"""synapse-py command line. The only place where errors become exit codes."""

from __future__ import annotations

import sys

import click

from . import __version__
from .config import ConfigError, SynapseConfig, load_config
from .logs import setup_logging

EXIT_CONFIG = 2
EXIT_RUNTIME = 1

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="synapse JSON config file (Ruby synapse format).",
)


def _load(path: str) -> SynapseConfig:
    try:
        return load_config(path)
    except ConfigError as e:
        click.echo(f"synapse-py: config error: {e}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synapse-py")
def main() -> None:
    """synapse-py: route local proxies (HAProxy, files) to the live instances in ZooKeeper.

    Membership changes reach HAProxy through its runtime API without a reload; Envoy is driven
    through files. Signals for `run`: SIGHUP re-reads and applies the config; SIGTERM/SIGINT exit
    and leave HAProxy and Envoy running.

    Exit codes: 0 success; 1 a runtime failure (ZooKeeper or the admin socket unreachable); 2 a
    bad config or a missing folder, named by file and key path. Every key: docs/synapse.md.
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
    from .daemon import SynapseDaemon, preflight
    from .metrics import MetricsUnavailable

    setup_logging(log_level, log_format)
    config = _load(config_path)
    for problem in preflight(config):
        click.echo(f"synapse-py: {problem}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        SynapseDaemon(config).run()
    except MetricsUnavailable as e:
        click.echo(f"synapse-py: {e}", err=True)
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
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for ZooKeeper.")
def render(config_path: str, timeout: float) -> None:
    """Print the HAProxy config for the current ZooKeeper state; changes nothing."""
    from .commands import render_haproxy_config

    config = _load(config_path)
    if config.haproxy is None:
        raise click.UsageError(f"{config_path} has no haproxy section")
    try:
        click.echo(render_haproxy_config(config, timeout), nl=False)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        click.echo(f"synapse-py: cannot read ZooKeeper: {type(e).__name__}: {e}", err=True)
        sys.exit(EXIT_RUNTIME)


@main.command()
@CONFIG_OPTION
def status(config_path: str) -> None:
    """For each service: its backends and their state in HAProxy (from the admin socket)."""
    from .commands import show_status

    config = _load(config_path)
    if not show_status(config, click.echo):
        sys.exit(EXIT_RUNTIME)


if __name__ == "__main__":
    main()
