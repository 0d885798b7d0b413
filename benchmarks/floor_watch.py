"""The floor: a bare kazoo children watch. Prints `<monotonic_ns> <children>` on every callback.

Runs until stdin closes. CLOCK_MONOTONIC is system-wide, so the parent compares the stamps with its
own.
"""

from __future__ import annotations

import sys
import time

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch


def main(hosts: str, path: str) -> None:
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=15)
    client.ensure_path(path)

    def on_children(children: list[str]) -> None:
        sys.stdout.write(f"{time.monotonic_ns()} {len(children)}\n")
        sys.stdout.flush()

    ChildrenWatch(client, path, on_children)
    sys.stdin.read()
    client.stop()
    client.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
