"""A small client for HAProxy's runtime API over the unix admin socket (HAProxy 2.6 management.txt).

One connection per command, in non-interactive mode: HAProxy answers and closes the connection.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

_ADMIN_MAINT = 0x01 | 0x02 | 0x20  # forced, inherited, or resolution-failure maintenance
_ADMIN_DRAIN = 0x08 | 0x10
_OP_RUNNING = 2
# ';' separates commands and whitespace separates arguments on the CLI: never let either through.
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_.:%#\-\[\]]+$")


class HaproxySocketError(Exception):
    """A runtime API call failed."""


class SocketUnavailable(HaproxySocketError):
    """No HAProxy answered on the socket (not running, wrong path, or timed out)."""


class CommandFailed(HaproxySocketError):
    """HAProxy answered the command with an error."""


@dataclass(frozen=True)
class ServerStateRow:
    """One row of `show servers state` (format version 1)."""

    backend: str
    server: str
    addr: str
    port: int
    op_state: int
    admin_state: int
    weight: int
    initial_weight: int
    id: int = 0  # srv_id: the server's numeric id
    backend_id: int = 0  # be_id: the backend's (`show stat` takes it; a name may be a frontend's)

    @property
    def maint(self) -> bool:
        """The server is in maintenance (takes no traffic, not checked)."""
        return bool(self.admin_state & _ADMIN_MAINT)

    @property
    def drain(self) -> bool:
        """The server is draining (no new load-balanced traffic)."""
        return bool(self.admin_state & _ADMIN_DRAIN)

    @property
    def state(self) -> str:
        """The administrative state as `set server ... state` names it."""
        return "maint" if self.maint else "drain" if self.drain else "ready"

    @property
    def running(self) -> bool:
        """HAProxy considers the server up."""
        return self.op_state == _OP_RUNNING


class HaproxySocket:
    """The runtime API of one HAProxy process, reached through `path`."""

    def __init__(self, path: str, timeout: float = 2.0):
        self.path = path
        self.timeout = timeout

    def send(self, command: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        if "\n" in command or ";" in command:
            raise ValueError(f"refusing a multi-command line: {command!r}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(self.path)
                conn.sendall(command.encode() + b"\n")
                return _read_all(conn).decode(errors="replace")
        except OSError as exc:  # includes socket.timeout
            raise SocketUnavailable(f"{self.path}: {command.split()[0]}: {exc}") from exc

    def show_servers_state(self, backend: str | None = None) -> list[ServerStateRow]:
        """The servers of one backend (or all), parsed."""
        command = "show servers state" + (f" {_arg(backend)}" if backend else "")
        answer = self.send(command)
        if not answer.startswith("1\n"):
            raise CommandFailed(f"{command}: {answer.strip()!r}")
        return _parse_servers_state(answer)

    def show_info(self) -> dict[str, str]:
        """`show info` as a dict (Pid, Uptime_sec, Version, ...)."""
        pairs = (line.split(":", 1) for line in self.send("show info").splitlines() if ":" in line)
        return {key.strip(): value.strip() for key, value in pairs}


def _arg(value: str) -> str:
    if not _SAFE_ARG.match(value):
        raise ValueError(f"unsafe runtime API argument {value!r}")
    return value


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_servers_state(answer: str) -> list[ServerStateRow]:
    lines = answer.splitlines()
    columns = lines[1].lstrip("# ").split()
    rows = (dict(zip(columns, line.split(), strict=False)) for line in lines[2:] if line.strip())
    return [_row(fields) for fields in rows if not fields.get("be_id", "#").startswith("#")]


def _row(fields: dict[str, str]) -> ServerStateRow:
    return ServerStateRow(
        backend=fields["be_name"],
        server=fields["srv_name"],
        addr=fields["srv_addr"],
        port=int(fields["srv_port"]),
        op_state=int(fields["srv_op_state"]),
        admin_state=int(fields["srv_admin_state"]),
        weight=int(fields["srv_uweight"]),
        initial_weight=int(fields["srv_iweight"]),
        id=int(fields.get("srv_id", "0")),
        backend_id=int(fields.get("be_id", "0")),
    )
