"""synapse-py command line. The only place where errors become exit codes (`EXIT_CODES`)."""

from __future__ import annotations

import sys
from functools import partial
from typing import NamedTuple

import click

from smartstack_common.cli import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    ExitCodeGroup,
    echo_valid,
    echo_warnings,
    log_options,
)
from smartstack_common.logs import setup_logging
from smartstack_common.metrics import MetricsUnavailable

from . import __version__
from .config import SynapseConfig, load_config
from .errors import CannotCompare, ConfigError, SetupError, SynapseError

CONFIG_HELP = "synapse config file, JSON or YAML (Ruby synapse format). Default: $SYNAPSE_CONFIG."
OVERLAY_HELP = "A second file (JSON or YAML) merged over the config: docs/synapse.md."
CONFIG_OPTION = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP
)
OVERLAY_OPTION = click.option(
    "--config-overlay", "overlay_path", type=click.Path(dir_okay=False), help=OVERLAY_HELP
)


# EXIT_CONFIG (2): fix the config or the host, a restart alone will not help; EXIT_RUNTIME (1): a
# failure at run time (ZooKeeper or the admin socket unreachable). The first match wins.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (CannotCompare, EXIT_CONFIG),  # render --diff: 2 is diff(1)'s trouble
    (SetupError, EXIT_CONFIG),
    (SynapseError, EXIT_RUNTIME),  # RegistryUnavailable, ProxyUnavailable
    (MetricsUnavailable, EXIT_RUNTIME),  # the metrics port is taken
    (OSError, EXIT_RUNTIME),  # an I/O failure nothing named: one line, not a traceback
)


class SynapseGroup(ExitCodeGroup):
    """Runs the command line; synapse_py's errors become exit codes here and nowhere else."""

    prog = "synapse-py"
    exit_codes = EXIT_CODES
    config_errors = (ConfigError,)
    listed_errors = (SetupError,)
    doc = "synapse.md"


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
    return load_config(files.config, files.overlay, log_warnings=log_warnings)


@click.group(
    cls=SynapseGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    bad config or a missing folder, named by file and key path; 3 `status`: synapse-py is not
    running. Every key: docs/synapse.md.
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
    from .daemon import SynapseDaemon, preflight

    setup_logging(log_level, log_format)
    config = _load(_files(config_path, overlay_path))
    problems = preflight(config)
    if problems:  # every one, so one start shows them all
        raise SetupError(problems)
    SynapseDaemon(config).run()


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
@click.option(
    "--proxy-check/--no-proxy-check",
    default=True,
    show_default=True,
    help="Run haproxy -c and envoy --mode validate on the rendered result. --no-proxy-check "
    "checks the config alone (e.g. a Ruby config whose raw HAProxy 1.x lines HAProxy 2.6 "
    "refuses, before they are fixed).",
)
def validate(config_path: str | None, overlay_path: str | None, proxy_check: bool) -> None:
    """Check the config file (service_conf_dir, overlay) and exit 0 if it is valid.

    Every problem is listed at once. Then, when the binaries are there, `haproxy -c` checks the
    haproxy.cfg it renders and `envoy --mode validate` the Envoy resources (each service with
    its default_servers: validate does not read ZooKeeper); a check skipped is said. A folder
    `run` needs that is missing on this host is a warning. Exit 2 on any problem."""
    from .daemon import preflight
    from .proxy_checks import proxy_checks

    files = _files(config_path, overlay_path)
    config = _load(files, log_warnings=False)
    verdicts = proxy_checks(config) if proxy_check else []
    host = [f"on this host `run` would stop: {p}" for p in preflight(config)]
    problems = [v.problem for v in verdicts if v.problem]
    if problems:
        echo_warnings([*config.warnings, *host])
        raise ConfigError("\n".join(problems))
    echo_valid(files.config, config, [v.note for v in verdicts], host)


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for ZooKeeper.")
@click.option(
    "--diff", "diff", is_flag=True,
    help="Print a unified diff from the installed haproxy.cfg instead; exit 0 when they are "
    "the same, 1 when they differ, 2 on any trouble (a bad config, ZooKeeper unreachable), "
    "as diff(1) does.",
)  # fmt: skip
def render(config_path: str | None, overlay_path: str | None, timeout: float, diff: bool) -> None:
    """Print the haproxy.cfg synapse-py would install for the current ZooKeeper state, byte for
    byte (it reads the installed file for the server ids and order); changes nothing."""
    from .commands import diff_installed, render_haproxy_config

    config = _load(_files(config_path, overlay_path))
    try:
        rendered = render_haproxy_config(config, timeout)
    except (SynapseError, OSError) as e:
        if diff:  # diff(1)'s "trouble": 1 means only "they differ"
            raise CannotCompare(str(e)) from e
        raise
    if not diff:
        click.echo(rendered, nl=False)
        return
    difference = diff_installed(config, rendered)
    click.echo(difference, nl=False)
    sys.exit(1 if difference else 0)


@main.command()
@CONFIG_OPTION
@OVERLAY_OPTION
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document, version 1: daemon {running, pid, updated}, services {NAME: "
    "{haproxy, backends [{server, address, weight, admin, health, kept}]}}; kept is null (live) "
    "or {reason, since, age_seconds}.",
)
def status(config_path: str | None, overlay_path: str | None, as_json: bool) -> None:
    """For each service: its servers and their state in HAProxy (from the admin socket), and
    whether each is live or kept by synapse-py (use_previous_backends, a mass-expiry hold, the
    state file) and for how long (from the daemon's status_file_path).

    Exit codes: 0 synapse-py runs; 3 synapse-py is not running (HAProxy's servers are still
    shown); 1 the admin socket cannot be read; 2 a bad config, no socket_file_path, or no
    status_file_path (by default synapse-py-status.json beside haproxy.config_file_path).
    """
    from .commands import show_status

    config = _load(_files(config_path, overlay_path))
    sys.exit(show_status(config, as_json, click.echo, partial(click.echo, err=True)))


if __name__ == "__main__":
    main()
