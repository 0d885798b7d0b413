"""The ACL nerve-py's nodes are created with; the zk_auth/zk_tls keys are smartstack_common's."""

from __future__ import annotations

from kazoo.security import ACL, make_acl, make_digest_acl

from smartstack_common.zk_security import ZkAuth


def node_acl(auth: ZkAuth | None) -> list[ACL] | None:
    """World may read, our identity may do everything; None (ZooKeeper's open ACL) without auth."""
    if auth is None:
        return None
    user, password = auth.credential.split(":", 1)
    return [make_acl("world", "anyone", read=True), make_digest_acl(user, password, all=True)]
