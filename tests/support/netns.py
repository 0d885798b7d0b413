"""Network namespaces and veth pairs owned by one test: separate "hosts" on one machine."""

from __future__ import annotations

import os
import subprocess


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def netns_available() -> str | None:
    """None when `ip netns add` works here; otherwise why not."""
    probe = f"ssprobe{os.getpid()}"
    try:
        result = ip("netns", "add", probe, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"iproute2 is not usable: {e}"
    if result.returncode != 0:
        return f"`ip netns add` is not permitted here: {result.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


class Netns:
    """Creates namespaces named `<tag><name>` and veth pairs to the root namespace; `delete()`."""

    def __init__(self, tag: str):
        self.tag = tag
        self.namespaces: list[str] = []
        self.host_links: list[str] = []

    def add(self, name: str) -> str:
        ns = f"{self.tag}{name}"
        ip("netns", "add", ns)
        self.namespaces.append(ns)
        self.run(ns, "ip", "link", "set", "lo", "up")
        return ns

    def veth(self, ns: str, name: str, host_cidr: str, ns_cidr: str) -> str:
        """A veth pair: `<tag><name>h` in the root namespace, `<tag><name>n` in `ns`."""
        host, peer = f"{self.tag}{name}h", f"{self.tag}{name}n"
        ip("link", "add", host, "type", "veth", "peer", "name", peer)
        self.host_links.append(host)
        ip("link", "set", peer, "netns", ns)
        ip("addr", "add", host_cidr, "dev", host)
        ip("link", "set", host, "up")
        self.run(ns, "ip", "addr", "add", ns_cidr, "dev", peer)
        self.run(ns, "ip", "link", "set", peer, "up")
        return host

    def run(self, ns: str, *cmd: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, timeout=10)

    @staticmethod
    def prefix(ns: str) -> tuple[str, ...]:
        """Run a command in `ns` (`ip netns exec` execs it: the pid stays the command's)."""
        return ("ip", "netns", "exec", ns)

    def set_link(self, host_link: str, up: bool) -> None:
        ip("link", "set", host_link, "up" if up else "down")

    def delete(self) -> None:
        for ns in self.namespaces:
            ip("netns", "del", ns, check=False)
        for link in self.host_links:  # gone with their peers' namespaces, normally
            ip("link", "del", link, check=False)
