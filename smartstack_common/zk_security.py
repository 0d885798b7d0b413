"""ZooKeeper authentication and TLS, for both daemons: config keys and kazoo client options.

`zk_auth` and `zk_tls` mean the same in nerve-py and synapse-py. Only nerve-py writes nodes, so
the ACL its nodes are created with stays in nerve_py/zk_security.py; synapse-py only reads, and
world READ is enough for discovery.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUTH_SCHEMA = {
    "type": "object",
    "required": ["scheme"],
    "additionalProperties": False,
    "properties": {
        "scheme": {"enum": ["digest"]},
        "credential": {"type": "string"},  # its format is checked in code: errors never echo it
        "credential_file": {"type": "string", "minLength": 1},
    },
}
TLS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ca": {"type": "string", "minLength": 1},
        "cert": {"type": "string", "minLength": 1},
        "key": {"type": "string", "minLength": 1},
        "verify_hostname": {"type": "boolean"},
    },
}
SECRET_KEYS = ("zk_auth",)  # schema errors under these keys never quote the value


class SecurityConfigError(ValueError):
    """zk_auth or zk_tls is unusable: the key path and the problem (never the secret)."""

    def __init__(self, key_path: str, problem: str):
        self.key_path, self.problem = key_path, problem
        super().__init__(f"{key_path}: {problem}")


@dataclass(frozen=True)
class ZkAuth:
    """A digest identity; `credential` ("user:password") is left out of repr and logs."""

    scheme: str
    credential: str = field(repr=False)

    @property
    def user(self) -> str:
        return self.credential.split(":", 1)[0]


@dataclass(frozen=True)
class ZkTls:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify_hostname: bool = True


@dataclass(frozen=True)
class ZkSecurity:
    """How to reach ZooKeeper: identity and transport. The default is neither."""

    auth: ZkAuth | None = None
    tls: ZkTls | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for KazooClient."""
        options: dict[str, Any] = {}
        if self.auth:
            options["auth_data"] = [(self.auth.scheme, self.auth.credential)]
        if self.tls:
            options.update(
                use_ssl=True,
                ca=self.tls.ca,
                certfile=self.tls.cert,
                keyfile=self.tls.key,
                verify_certs=True,
                check_hostname=self.tls.verify_hostname,
            )
        return options


def load_security(raw: Mapping, source: str) -> tuple[ZkSecurity, list[str]]:
    """ZkSecurity from a schema-valid top-level config, and warnings.

    Relative paths are taken from the config file's folder.
    """
    base = Path(source).parent
    warnings: list[str] = []
    auth = _auth(raw["zk_auth"], base) if "zk_auth" in raw else None
    tls = _tls(raw["zk_tls"], base, warnings) if "zk_tls" in raw else None
    if "credential" in raw.get("zk_auth", {}) and world_readable(source):
        warnings.append(
            "zk_auth.credential: this file holds a credential and is readable by every user; "
            "chmod o-r it or use credential_file"
        )
    return ZkSecurity(auth, tls), warnings


def world_readable(path: str | Path) -> bool:
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _auth(d: Mapping, base: Path) -> ZkAuth:
    if ("credential" in d) == ("credential_file" in d):
        raise SecurityConfigError("zk_auth", "give exactly one of credential, credential_file")
    if "credential" in d:
        return ZkAuth(d["scheme"], _checked_credential(d["credential"], "zk_auth.credential"))
    path = base / d["credential_file"]
    key = "zk_auth.credential_file"
    try:
        if world_readable(path):
            raise SecurityConfigError(key, f"{path} is readable by every user; chmod o-r it")
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SecurityConfigError(key, f"cannot read {path}: {type(e).__name__}") from None
    return ZkAuth(d["scheme"], _checked_credential(text, key))


def _checked_credential(credential: str, key: str) -> str:
    user, sep, password = credential.partition(":")
    if not (user and sep and password) or any(c.isspace() for c in credential):
        raise SecurityConfigError(key, 'must be "user:password" without spaces (value not shown)')
    return credential


def _tls(d: Mapping, base: Path, warnings: list[str]) -> ZkTls:
    if ("cert" in d) != ("key" in d):
        raise SecurityConfigError("zk_tls", "cert and key go together")
    paths = {k: str(base / d[k]) for k in ("ca", "cert", "key") if k in d}
    for k, path in paths.items():
        if not os.access(path, os.R_OK):
            raise SecurityConfigError(f"zk_tls.{k}", f"cannot read {path}")
    if "key" in paths and world_readable(paths["key"]):
        warnings.append(f"zk_tls.key: {paths['key']} is readable by every user; chmod o-r it")
    return ZkTls(**paths, verify_hostname=d.get("verify_hostname", True))
