"""What HAProxy's three stats views show per backend: server name -> address.

`show stat` on the admin socket, the stats page's CSV (`<uri>;csv`) and its HTML. The page shows
addresses only with `stats show-legends` (haproxy.stats.show_legends); without it an address is "".
"""

from __future__ import annotations

import base64
import csv
import html
import re
import urllib.request

from synapse_py.proxy.haproxy_socket import HaproxySocket

Servers = dict[str, dict[str, str]]  # backend -> {server name: "host:port" or ""}
_PROXY_ROWS = ("FRONTEND", "BACKEND")
# one server row of the HTML page: its anchor, then its name cell (legends in a `tips` div)
_HTML_SERVER = re.compile(r'<a name="([^"/]+)/([^"]+)"></a>(.*?)</td>', re.S)
_HTML_ADDRESS = re.compile(r"<div class=tips>IPv[46]: ([^,<]+)")


def socket_servers(path: str) -> Servers:
    """`show stat` over the admin socket (it always shows addresses)."""
    return csv_servers(HaproxySocket(path).send("show stat"))


def page_csv_servers(url: str, auth: str | None = None) -> Servers:
    """The stats page's CSV export: `url` is the page (`http://host:port<uri>`)."""
    return csv_servers(fetch(url + ";csv", auth))


def page_html_servers(url: str, auth: str | None = None) -> Servers:
    """The stats page as a browser gets it."""
    found: Servers = {}
    for backend, name, cell in _HTML_SERVER.findall(fetch(url, auth)):
        if name in ("Frontend", "Backend"):
            continue
        address = _HTML_ADDRESS.search(cell)
        found.setdefault(html.unescape(backend), {})[html.unescape(name)] = (
            address.group(1).strip() if address else ""
        )
    return found


def csv_servers(text: str) -> Servers:
    """Servers of HAProxy's stats CSV (`# pxname,svname,...` header), proxy rows left out."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not HAProxy stats CSV: {text[:200]!r}")
    found: Servers = {}
    for row in csv.DictReader([lines[0][2:], *lines[1:]]):
        if row["svname"] not in _PROXY_ROWS:
            found.setdefault(row["pxname"], {})[row["svname"]] = row.get("addr") or ""
    return found


def fetch(url: str, auth: str | None = None, timeout: float = 5.0) -> str:
    """GET `url`, with `user:password` basic auth when given."""
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return resp.read().decode(errors="replace")
