"""`http` and `https`: GET `uri`; healthy on 2xx/3xx (not followed) with `expect` in the body."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import requests

from .base import (
    Check,
    CheckConfigError,
    CheckFailed,
    is_timeout,
    number_key,
    register,
    require,
    str_key,
)

log = logging.getLogger(__name__)

#: most of a body read while looking for `expect`
BODY_LIMIT = 1 << 20
#: most of a body read to its end so that the next check can reuse the connection
DRAIN_LIMIT = 1 << 16


def _headers(conf: Mapping[str, Any]) -> dict[str, str]:
    headers = conf.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise CheckConfigError(f"check key 'headers': must map strings to strings, got {headers!r}")
    return dict(headers)


def _uri(conf: Mapping[str, Any]) -> str:
    require(conf, "uri")
    uri = str_key(conf, "uri")
    if not uri.startswith("/"):
        raise CheckConfigError(f"check key 'uri': must start with '/', got {uri!r}")
    return uri


@register("http")
class HttpCheck(Check):
    """GETs `uri` over plain HTTP with one keep-alive session per check."""

    scheme = "http"
    own_keys = frozenset({"uri", "headers", "expect", "open_timeout", "read_timeout"})

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        self.uri = _uri(conf)
        self.expect = str_key(conf, "expect")
        self.open_timeout = number_key(conf, "open_timeout", self.timeout)
        self.read_timeout = number_key(conf, "read_timeout", self.timeout)
        self.session = requests.Session()
        self.session.trust_env = (
            False  # a proxy from the environment must never sit between us and a local service
        )
        self.session.headers.update(_headers(conf))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.uri}"

    def check(self) -> bool:
        try:
            return self._get()
        except requests.ConnectTimeout as exc:
            raise CheckFailed(f"timed out after {self.open_timeout:g}s connecting") from exc
        except requests.RequestException as exc:
            if is_timeout(exc):
                raise CheckFailed(f"timed out after {self.read_timeout:g}s") from exc
            raise

    def _get(self) -> bool:
        timeouts = (self.open_timeout, self.read_timeout)
        with self.session.get(
            self.url, timeout=timeouts, allow_redirects=False, stream=True
        ) as resp:
            if not 200 <= resp.status_code < 400:
                raise CheckFailed(f"HTTP {resp.status_code}")
            if self.expect is not None and not self._body_has(resp, self.expect.encode()):
                raise CheckFailed(f"HTTP {resp.status_code} without {self.expect!r} in the body")
            self._drain(resp)
        return True

    def _drain(self, resp: requests.Response) -> None:
        """Read a short body to its end: only then does requests keep the connection alive.

        Closing a streamed response early closes its connection, so every check would pay a
        new TCP connection (most of a check's CPU). A long or slow body is left: closed as before.
        """
        deadline = time.monotonic() + self.read_timeout
        read = 0
        for chunk in resp.iter_content(chunk_size=16384):
            read += len(chunk)
            if read > DRAIN_LIMIT or time.monotonic() > deadline:
                return

    def _body_has(self, resp: requests.Response, wanted: bytes) -> bool:
        """Read the body until `wanted` shows up; a trickling server is cut off at read_timeout."""
        deadline = time.monotonic() + self.read_timeout
        body = b""
        for chunk in resp.iter_content(chunk_size=16384):
            body += chunk
            if wanted in body:
                return True
            if len(body) > BODY_LIMIT:
                raise CheckFailed(f"no {self.expect!r} in the first {BODY_LIMIT} bytes of the body")
            if time.monotonic() > deadline:
                raise CheckFailed(f"timed out after {self.read_timeout:g}s reading the body")
        return False

    def close(self) -> None:
        self.session.close()


@register("https")
class HttpsCheck(HttpCheck):
    """The http check over TLS; the certificate is verified unless `ssl_verify: false`."""

    scheme = "https"
    own_keys = HttpCheck.own_keys | {"ca_file", "ssl_verify"}

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        self.session.verify = _tls_verify(conf)
        if not self.session.verify:
            log.warning(
                "check %s: TLS certificate verification is off (ssl_verify: false)", self.name
            )


def _tls_verify(conf: Mapping[str, Any]) -> bool | str:
    """requests' `verify`: the CA bundle path, True for the system CAs, or False for the opt-out."""
    verify = conf.get("ssl_verify", True)
    if not isinstance(verify, bool):
        raise CheckConfigError(f"check key 'ssl_verify': must be true or false, got {verify!r}")
    ca_file = str_key(conf, "ca_file")
    if ca_file is not None and not verify:
        raise CheckConfigError("check key 'ca_file': pointless with ssl_verify: false")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise CheckConfigError(f"check key 'ca_file': no such file {ca_file!r}")
    return ca_file or verify
