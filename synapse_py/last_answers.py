"""Each hostname's last good DNS answer, kept while its lookups fail.

One memory for the two places synapse-py resolves names: the dns discovery methods
(discovery/dns_lookup.py: a name's addresses become backends) and the generators' HostResolver
(generators/resolve.py: a backend's hostname becomes the address HAProxy and Envoy are
given). Both keep a name's last answer through an outage (docs/migration.md), log each outage
once and its end once, and count outages. Not thread-safe: the owner holds its own lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

Answer = tuple[str, ...]  # the addresses a name resolved to, () for "no such name"


class LastAnswers:
    """Names -> their last good answer; `what` starts every log line ("backend host", "dns")."""

    def __init__(self, what: str, log: logging.Logger):
        self.what = what
        self.failures = 0  # outages: lookups that failed, counted once per name and outage
        self._log = log
        self._known: dict[str, Answer] = {}
        self._failing: set[str] = set()

    def seen(self, name: str) -> bool:
        """A lookup of `name` has been recorded (answered or failed)."""
        return name in self._known or name in self._failing

    def last(self, name: str) -> Answer | None:
        """`name`'s last good answer; None if it never resolved."""
        return self._known.get(name)

    def answered(self, name: str, answer: Answer) -> bool:
        """Record a good answer; True if it differs from the last one (or is the first)."""
        last = self._known.get(name)
        shown = _show(answer)
        if name in self._failing:
            self._failing.discard(name)
            self._log.info("%s %r resolves again, to %s", self.what, name, shown)
        elif last is not None and last != answer:
            self._log.info("%s %r now resolves to %s (was %s)", self.what, name, shown, _show(last))
        self._known[name] = answer
        return last != answer

    def failed(self, name: str, reason: str, retry: str) -> Answer | None:
        """Record a failed lookup (logged and counted once per outage); the answer kept."""
        last = self._known.get(name)
        if name not in self._failing:
            self._failing.add(name)
            self.failures += 1
            if last is not None:
                self._log.warning(
                    "%s %r no longer resolves (%s); keeping %s", self.what, name, reason,
                    _show(last),
                )  # fmt: skip
            else:
                self._log.warning(
                    "%s %r did not resolve (%s); left out, %s", self.what, name, reason, retry
                )
        return last

    def retain(self, names: Iterable[str]) -> None:
        """Forget every name but `names` (those no longer in use)."""
        keep = set(names)
        self._known = {n: a for n, a in self._known.items() if n in keep}
        self._failing &= keep


def _show(answer: Answer) -> str:
    return ", ".join(answer) or "nothing"
