"""synapse-py command line. The only place where errors become exit codes."""

from __future__ import annotations

import sys
from typing import NamedTuple

import click

from smartstack_common.cli import EXIT_CONFIG, EXIT_RUNTIME, echo_valid, log_options
from smartstack_common.logs import setup_logging

from . import __version__
from .config import ConfigError, SynapseConfig, load_config

CONFIG_HELP = "synapse config file, JSON or YAML (Ruby synapse format). Default: $SYNAPSE_CONFIG."
OVERLAY_HELP = "A second file (JSON or YAML) merged over the config: docs/synapse.md."
CONFIG_OPTION = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP
)
OVERLAY_OPTION = click.option(
    "--config-overlay", "overlay_path", type=click.Path(dir_okay=False), help=OVERLAY_HELP
)


class Files(NamedTuple):
    config: str
    overlay: str | None


def _files(config_path: str | None, overlay_path: str | None) -> Files:
    """The subcommand's -c/--config-overlay, else the ones given before it, else $SYNAPSE_CONFIG."""
    outer = click.get_current_context().find_root().params
    config = config_path or outer.get("config_path")
    if not config:
        raise click.UsageError("no config file: give -c FILE or set SYNAPSE_CONFIG")
    return Files(config, overlay_path or outer.get("overlay_path"))


def _load(files: Files, log_warnings: bool = True) -> SynapseConfig:
    try:
        return load_config(files.config, files.overlay, log_warnings=log_warnings)
    except ConfigError as e:
        click.echo(f"synapse-py: config error: {e}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synapse-py")
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), envvar="SYNAPSE_CONFIG",
    help=f"{CONFIG_HELP} With no command: run the daemon, as Ruby's `synapse -c FILE`.",
)  # fmt: skip
@OVERLAY_OPTION
@log_options
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, overlay_path: str | None, log_level: str,
    log_format: str,
) -> None:  # fmt: skip
    """synapse-py: route local proxies (HAProxy, files) to the live instances in ZooKeeper.

    `synapse-py -c FILE` (or $SYNAPSE_CONFIG) with no command runs the daemon, as Ruby's
    `synapse -c FILE` does, so a Ruby systemd unit needs only the binary name changed.

    Membership changes reach HAProxy through its runtime API without a reload; Envoy is driven
    through files. Signals for `run`: SIGHUP re-reads and applies the config (and the overlay);
    SIGTERM/SIGINT exit and leave HAProxy and Envoy running.

    Exit codes: 0 success; 1 a runtime failure (ZooKeeper or the admin socket unreachable); 2 a
    bad config or a missing folder, named by file and key path. Every key: docs/synapse.md.
    """
    if ctx.invoked_subcommand is None:
        if not config_path:
            click.echo(ctx.get_help())
            ctx.exit(EXIT_CONFIG)
        ctx.invoke(run, log_level=log_level, log_format=log_format)


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
@log_options
def run(
    config_path: str | None = None,
    overlay_path: str | None = None,
    log_level: str = "info",
    log_format: str = "text",
) -> None:
    """Run the daemon in the foreground (the same as no command)."""
    from smartstack_common.metrics import MetricsUnavailable

    from .daemon import SynapseDaemon, preflight

    setup_logging(log_level, log_format)
    config = _load(_files(config_path, overlay_path))
    problems = preflight(config)
    for problem in problems:  # every one, so one start shows them all
        click.echo(f"synapse-py: {problem}", err=True)
    if problems:
        sys.exit(EXIT_CONFIG)
    try:
        SynapseDaemon(config).run()
    except MetricsUnavailable as e:
        click.echo(f"synapse-py: {e}", err=True)
        sys.exit(EXIT_RUNTIME)


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
def validate(config_path: str | None, overlay_path: str | None) -> None:
    """Check the config file (service_conf_dir, overlay) and exit 0 if it is valid."""
    files = _files(config_path, overlay_path)
    echo_valid(files.config, _load(files, log_warnings=False))


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for ZooKeeper.")
def render(config_path: str | None, overlay_path: str | None, timeout: float) -> None:
    """Print the HAProxy config for the current ZooKeeper state; changes nothing."""
    from .commands import render_haproxy_config

    files = _files(config_path, overlay_path)
    config = _load(files)
    if config.haproxy is None:
        raise click.UsageError(f"{files.config} has no haproxy section")
    try:
        click.echo(render_haproxy_config(config, timeout), nl=False)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        click.echo(f"synapse-py: cannot read ZooKeeper: {type(e).__name__}: {e}", err=True)
        sys.exit(EXIT_RUNTIME)


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
def status(config_path: str | None, overlay_path: str | None) -> None:
    """For each service: its backends and their state in HAProxy (from the admin socket)."""
    from .commands import show_status

    config = _load(_files(config_path, overlay_path))
    if not show_status(config, click.echo):
        sys.exit(EXIT_RUNTIME)


if __name__ == "__main__":
    main()
