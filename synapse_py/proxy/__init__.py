"""Talking to a running HAProxy: the runtime API client and the rate-limited reloader."""
