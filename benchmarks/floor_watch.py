"""The floor: bare kazoo children watches, one per path given.

Prints `<monotonic_ns> <children> <path>` on every callback and runs until stdin closes.
CLOCK_MONOTONIC is system-wide, so the parent compares the stamps with its own.
"""

from __future__ import annotations

import sys
import time

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch


def main(hosts: str, paths: list[str]) -> None:
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=15)

    def watch(path: str) -> None:
        def on_children(children: list[str]) -> None:
            sys.stdout.write(f"{time.monotonic_ns()} {len(children)} {path}\n")
            sys.stdout.flush()

        ChildrenWatch(client, path, on_children)

    for path in paths:
        client.ensure_path(path)
        watch(path)
    sys.stdin.read()
    client.stop()
    client.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
