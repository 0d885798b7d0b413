"""Kept so `from .zk_security import ZkSecurity` in synapse_py/watcher.py still works.

zk_auth and zk_tls live in smartstack_common.zk_security; new code imports them from there.
"""

from smartstack_common.zk_security import ZkSecurity

__all__ = ["ZkSecurity"]
