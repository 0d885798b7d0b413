"""Helpers that start real servers for the tests (ZooKeeper, HTTP/TCP backends)."""
