"""Command-line pieces both CLIs share: exit codes, the log options, validate's report, a table.

Each daemon's cli.py stays the one place where its errors become these exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import click

EXIT_RUNTIME = 1
EXIT_CONFIG = 2

Echo = Callable[[str], Any]


class Validated(Protocol):
    """What `validate` reports of a loaded config."""

    @property
    def warnings(self) -> Sequence[str]: ...

    @property
    def services(self) -> Sequence[Any]: ...


def log_options(f):
    """--log-level and --log-format, as `setup_logging` takes them."""
    f = click.option(
        "--log-format",
        default="text",
        show_default=True,
        type=click.Choice(["text", "json"]),
        help="json: one JSON object per line (ts, level, logger, msg, service when known).",
    )(f)
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(f)


def echo_valid(path: str, config: Validated) -> None:
    """`validate`'s output: each warning on stderr, then one OK line."""
    for w in config.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{path}: OK ({len(config.services)} service(s))")


def print_table(header: tuple, rows: list, echo: Echo) -> None:
    """Left-aligned columns, two spaces apart, no trailing blanks."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
