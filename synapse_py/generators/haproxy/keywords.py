"""Which operator lines go into a service's frontend and backend, as Ruby synapse 0.18.9 sorts them.

Ruby synapse keeps a line in a section when the line, stripped, with runs of whitespace made one
space and lowercased, starts with one of the section's keywords (HAProxy 1.5/1.6's, listed below
as Ruby lists them). `listen` lines go to every section they match; the others are dropped. The
original text is written.

Prefix matching also keeps lines HAProxy refuses (`modebogus 1` starts with `mode`, `aclx y` with
`acl`, `Option forwardfor` differs only in case, and HAProxy's keywords are case-sensitive). One
such line would make `haproxy -c` refuse the whole file, so every later change would stop reaching
HAProxy: such lines are dropped too (and logged). A kept line is one where the keyword ends the
line or is followed by a space or `(` (`persist rdp-cookie(name)`), or whose first word is one of
the few HAProxy 2.6 keywords that extend a listed one (`server-template`, `errorfiles`), and whose
keyword is spelled in lower case as HAProxy spells it.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import NamedTuple

log = logging.getLogger(__name__)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _prefixed(prefix: str, names: str) -> tuple[str, ...]:
    return tuple(f"{prefix} {name}" for name in names.split())


_REQ = "reqadd reqallow reqdel reqdeny reqiallow reqidel reqideny reqipass reqirep reqisetbe"
_REQ += " reqitarpit reqpass reqrep reqsetbe reqtarpit"
_RSP = "rspadd rspdel rspdeny rspidel rspideny rspirep rsprep"
_STATS = "admin auth enable hide-version http-request realm refresh scope show-desc"
_STATS += " show-legends show-node uri"
_EMAIL = "from level mailers myhostname to"
_COMMON = _words(
    "acl bind-process block compression description disabled enabled errorfile errorloc"
    " errorloc302 errorloc303 force-persist grace http-request http-response id ignore-persist"
    " log log-tag mode redirect"
)
_BACKEND_OPTIONS = (
    "abortonclose accept-invalid-http-response allbackups allredisp checkcache forceclose"
    " forwardfor http-buffer-request http-keep-alive http-no-delay http-pretend-keepalive"
    " http-server-close http-tunnel httpchk httpclose httplog http_proxy independent-streams"
    " lb-agent-chk ldap-check external-check log-health-checks mysql-check pgsql-check nolinger"
    " originalto persist prefer-last-server redispatch redis-check smtpchk splice-auto"
    " splice-request splice-response srvtcpka ssl-hello-chk tcp-check tcp-smart-connect tcpka"
    " tcplog transparent"
)
_FRONTEND_OPTIONS = (
    "accept-invalid-http-request clitcpka contstats dontlog-normal dontlognull forceclose"
    " forwardfor http-buffer-request http-ignore-probes http-keep-alive http-no-delay"
    " http-pretend-keepalive http-server-close http-tunnel http-use-proxy-header httpclose"
    " httplog http_proxy independent-streams log-separate-errors logasap nolinger originalto"
    " socket-stats splice-auto splice-request splice-response tcp-smart-accept tcpka tcplog"
)

BACKEND_KEYWORDS: tuple[str, ...] = (
    *_COMMON,
    *_words(
        "appsession balance contimeout cookie default-server dispatch fullconn hash-type"
        " http-send-name-header http-reuse load-server-state-from-file max-keep-alive-queue"
        " redisp redispatch retries server server-state-file-name source srvtimeout stick-table"
        " transparent use-server"
    ),
    *_prefixed("email-alert", _EMAIL),
    *_prefixed("http-check", "disable-on-404 expect send-state"),
    "no log",
    *_prefixed("option", _BACKEND_OPTIONS),
    *_prefixed("no option", _BACKEND_OPTIONS),
    *_prefixed("external-check", "command path"),
    "persist rdp-cookie",
    *_words(_REQ),
    *_words(_RSP),
    *_prefixed("stats", _STATS),
    *_prefixed("stick", "match on store-request store-response"),
    *_prefixed("tcp-check", "connect expect send send-binary"),
    *_prefixed("tcp-request", "content inspect-delay"),
    *_prefixed("tcp-response", "content inspect-delay"),
    *_prefixed(
        "timeout",
        "check connect contimeout http-keep-alive http-request queue server server-fin"
        " srvtimeout tarpit tunnel",
    ),
)

FRONTEND_KEYWORDS: tuple[str, ...] = (
    *_COMMON,
    *_words(
        "backlog bind clitimeout default_backend log-format log-format-sd maxconn monitor-net"
        " monitor-uri unique-id-format unique-id-header use_backend"
    ),
    *_prefixed("capture", "cookie"),
    "capture request header",
    "capture response header",
    "declare capture",
    *_prefixed("email-alert", _EMAIL),
    "monitor fail",
    "no log",
    *_prefixed("option", _FRONTEND_OPTIONS),
    *_prefixed("no option", _FRONTEND_OPTIONS),
    "rate-limit sessions",
    *_words(_REQ),
    *_words(_RSP),
    *_prefixed("stats", _STATS),
    *_prefixed("tcp-request", "connection content inspect-delay"),
    *_prefixed("timeout", "client client-fin clitimeout http-keep-alive http-request tarpit"),
)

KEYWORDS = {"frontend": FRONTEND_KEYWORDS, "backend": BACKEND_KEYWORDS}
# HAProxy 2.6 keywords that Ruby's prefix match reaches through a listed one
_EXTENSIONS = {"backend": {"server-template", "errorfiles"}, "frontend": {"errorfiles"}}
_SPACES = re.compile(r"\s+")


class Sections(NamedTuple):
    """A service's operator lines, sorted: the frontend's, the backend's, and the dropped ones."""

    frontend: tuple[str, ...]
    backend: tuple[str, ...]
    dropped: tuple[str, ...]


def _normal(line: str) -> str:
    return _SPACES.sub(" ", line.strip())


def ruby_keeps(line: str, section: str) -> bool:
    """Ruby synapse's test: the normalized, lowercased line starts with one of the keywords."""
    text = _normal(line).lower()
    return any(text.startswith(k) for k in KEYWORDS[section])


def haproxy_accepts(line: str, section: str) -> bool:
    """Ruby keeps it, and the keyword is a whole, lower-case word HAProxy knows (module doc)."""
    text = _normal(line)
    if text.split(" ", 1)[0] in _EXTENSIONS[section]:
        return True
    return any(
        text.startswith(k) and (len(text) == len(k) or text[len(k)] in " (")
        for k in KEYWORDS[section]
    )


def screen(lines: tuple[str, ...], section: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kept, dropped): the lines Ruby keeps in `section` that HAProxy also accepts."""
    kept = tuple(line for line in lines if haproxy_accepts(line, section))
    return kept, tuple(line for line in lines if line not in kept)


@lru_cache(maxsize=1024)
def sort_lines(
    listen: tuple[str, ...], frontend: tuple[str, ...], backend: tuple[str, ...]
) -> Sections:
    """The frontend and backend lines of a service: its own first, then the `listen` lines that
    belong there. Dropped: the lines Ruby drops, then those HAProxy would refuse."""
    sections = {}
    dropped: list[str] = []
    for name, own in (("frontend", frontend), ("backend", backend)):
        candidates = own + tuple(line for line in listen if ruby_keeps(line, name))
        sections[name], refused = screen(candidates, name)
        dropped += [line for line in refused if line not in dropped]
    dropped += [
        line
        for line in listen
        if not (ruby_keeps(line, "frontend") or ruby_keeps(line, "backend")) and line not in dropped
    ]
    return Sections(sections["frontend"], sections["backend"], tuple(dropped))


_SAID: set[tuple[str, tuple[str, ...]]] = set()  # bounded by the distinct configs seen


def dropped_message(dropped: tuple[str, ...]) -> str:
    return (
        "not written to haproxy.cfg (not a keyword of Ruby synapse's lists for the section, or"
        " one HAProxy refuses: keywords are lower case and whole words): "
        + "; ".join(repr(line) for line in dropped)
    )


def mark_said(where: str, dropped: tuple[str, ...]) -> None:
    """The config loader reported these already (with the file and key path)."""
    _SAID.add((where, dropped))


def log_dropped(where: str, dropped: tuple[str, ...]) -> None:
    """Say once (per distinct config) which lines are not written, and why."""
    if dropped and (where, dropped) not in _SAID:
        _SAID.add((where, dropped))
        log.warning("%s: lines %s", where, dropped_message(dropped))
