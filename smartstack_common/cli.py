"""Command-line pieces both CLIs share: exit codes, the error-mapping group, the log options,
validate's report, a table.

Each daemon's cli.py stays the one place where its errors become these exit codes: its
`EXIT_CODES` table, given to an `ExitCodeGroup`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import click

EXIT_RUNTIME = 1
EXIT_CONFIG = 2
#: `status`: the daemon is not running (LSB's code for `status` of a stopped program)
EXIT_NOT_RUNNING = 3

Echo = Callable[[str], Any]
#: (error class, exit code) pairs; the first class an error is an instance of wins
ExitCodes = Sequence[tuple[type[BaseException], int]]


#: where the wheel installs docs/*.md (setup.cfg's data_files), below the installation's prefix
DOCS_SUBDIR = os.path.join("share", "doc", "smartstack-py")


def doc_path(page: str) -> str:
    """Where docs/`page` is installed (`<prefix>/share/doc/smartstack-py`), else its source path."""
    installed = os.path.join(sys.prefix, DOCS_SUBDIR, page)
    return installed if os.path.isfile(installed) else f"docs/{page} in the smartstack-py source"


def exit_code_of(error: BaseException, table: ExitCodes) -> int:
    """The code of the first class in `table` that `error` is an instance of."""
    return next(code for cls, code in table if isinstance(error, cls))


class ExitCodeGroup(click.Group):
    """A click group whose commands end, on an error its `exit_codes` lists, with that code and
    `error_lines(error)` on stderr instead of a traceback."""

    #: the program name every error line starts with
    prog = ""
    exit_codes: ExitCodes = ()
    #: errors shown as "prog: config error: ..."
    config_errors: tuple[type[BaseException], ...] = ()
    #: errors with a `problems` list, shown one line each (every problem found, at once)
    listed_errors: tuple[type[BaseException], ...] = ()
    #: this program's page in docs/, named at the end of --help with where it is installed
    doc = ""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Where the docs are on this machine, and how to turn on shell completion."""
        super().format_epilog(ctx, formatter)
        if not self.doc:
            return
        var = "_" + self.prog.upper().replace("-", "_") + "_COMPLETE"
        # written as is, not wrapped: paths and commands are copied from here
        lines = {
            "Documentation": [
                f"every key: {doc_path(self.doc)}",
                f"signals, exit codes, incidents: {doc_path('operations.md')}",
            ],
            "Shell completion": [
                f'bash: eval "$({var}=bash_source {self.prog})"  (in ~/.bashrc)',
                f'zsh:  eval "$({var}=zsh_source {self.prog})"  (in ~/.zshrc)',
                f"fish: {var}=fish_source {self.prog} | source",
            ],
        }
        for title, rows in lines.items():
            with formatter.section(title):
                for row in rows:
                    formatter.write(" " * formatter.current_indent + row + "\n")

    def error_lines(self, error: BaseException) -> list[str]:
        """What the user reads on stderr for `error`: one line per problem."""
        if isinstance(error, self.listed_errors):
            return [f"{self.prog}: {p}" for p in getattr(error, "problems", (error,))]
        if isinstance(error, self.config_errors):  # several problems: one line each
            return [f"{self.prog}: config error: {line}" for line in str(error).splitlines()]
        if isinstance(error, OSError):  # an I/O failure nothing named: "Permission denied: /x"
            where = f": {error.filename}" if error.filename else ""
            return [f"{self.prog}: {error.strerror or error}{where}"]
        return [f"{self.prog}: {error}"]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except tuple(cls for cls, _ in self.exit_codes) as e:
            for line in self.error_lines(e):
                click.echo(line, err=True)
            sys.exit(exit_code_of(e, self.exit_codes))


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
        help="json: one JSON object per line (ts, level, priority, logger, msg, service when "
        "known); to the journal, each line starts with its priority as <N>.",
    )(f)
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(f)


def echo_warnings(warnings: Sequence[str]) -> None:
    """`validate`'s warnings on stderr, each once."""
    for w in dict.fromkeys(warnings):
        click.echo(f"warning: {w}", err=True)


def echo_valid(
    path: str, config: Validated, notes: Sequence[str] = (), warnings: Sequence[str] = ()
) -> None:
    """`validate`'s output: each warning (the config's, then `warnings`) on stderr, then one OK
    line and the `notes` (which checks ran, which were skipped and why)."""
    echo_warnings([*config.warnings, *warnings])
    click.echo(f"{path}: OK ({len(config.services)} service(s))")
    for note in notes:
        click.echo(note)


def print_table(header: tuple, rows: list, echo: Echo) -> None:
    """Left-aligned columns, two spaces apart, no trailing blanks."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
