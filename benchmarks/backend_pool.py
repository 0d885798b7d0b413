"""Many tiny HTTP backends in one asyncio process, opened and closed on command.

One line per command on stdin, one line of answer on stdout:

- `open` / `open keepalive` -> the new port (`open` answers every request with `Connection: close`)
- `close PORT` -> `ok` (stops listening: a request that arrives later is refused)
- `record` -> `ok`: from now on note, per request path, the seconds since its previous request
- `gaps` -> a JSON list of those seconds

A separate process so that the backends' CPU is neither the benchmark's nor the daemon's under test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

BODY = b"ok"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: %s\r\n\r\n"


class Pool:
    def __init__(self) -> None:
        self.servers: dict[int, asyncio.base_events.Server] = {}
        self.last_seen: dict[bytes, float] = {}
        self.gaps: list[float] | None = None

    async def open(self, keepalive: bool) -> int:
        server = await asyncio.start_server(
            lambda r, w: self.serve(r, w, keepalive), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        self.servers[port] = server
        return port

    def close(self, port: int) -> None:
        server = self.servers.pop(port, None)
        if server is not None:
            server.close()

    def note(self, path: bytes) -> None:
        now = time.monotonic()
        last = self.last_seen.get(path)
        self.last_seen[path] = now
        if self.gaps is not None and last is not None:
            self.gaps.append(now - last)

    async def serve(self, reader, writer, keepalive: bool) -> None:
        answer = HEAD % (b"keep-alive" if keepalive else b"close") + BODY
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.note(head.split(b" ", 2)[1])
                writer.write(answer)
                await writer.drain()
                if not keepalive:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def command(self, line: str) -> str:
        word, *args = line.split()
        if word == "open":
            return str(await self.open(keepalive=args == ["keepalive"]))
        if word == "close":
            self.close(int(args[0]))
            return "ok"
        if word == "record":
            self.gaps = []
            return "ok"
        if word == "gaps":
            return json.dumps(self.gaps or [])
        return f"error: unknown command {word!r}"


async def main() -> None:
    pool = Pool()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := (await stdin.readline()).decode().strip():
        sys.stdout.write(await pool.command(line) + "\n")
        sys.stdout.flush()
    for port in list(pool.servers):
        pool.close(port)


if __name__ == "__main__":
    asyncio.run(main())
