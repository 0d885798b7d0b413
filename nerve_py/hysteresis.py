"""Rise/fall debouncing of check results, so one flap does not (de)register a service.

Ruby nerve keeps the last max(rise, fall) results per check: a check turns down when the last `fall`
results all failed and up when the last `rise` all passed. Counting the results that contradict the
current state, reset by any result that agrees with it, is the same rule without the ring buffer.
As in Ruby nerve, a check's very first result is adopted outright (Ruby fills its buffer with it):
a host that restarts, or switches from Ruby nerve, keeps its node instead of waiting `rise` rounds.
"""

from __future__ import annotations


class Hysteresis:
    """One check's debounced state: up after `rise` passes in a row, down after `fall` failures.

    `initial` is the state before any result; None (the default, Ruby's rule) means "unknown":
    the first result decides it.
    """

    def __init__(self, rise: int, fall: int, initial: bool | None = None):
        if rise < 1 or fall < 1:
            raise ValueError(f"rise and fall must be at least 1, got rise={rise} fall={fall}")
        self.rise = rise
        self.fall = fall
        self._up = initial
        self._streak = 0  # consecutive results that disagree with the current state

    @property
    def up(self) -> bool:
        """The debounced state (down while no result has been seen)."""
        return bool(self._up)

    @property
    def streak(self) -> int:
        """Results in a row that contradict the state (passes while down: rising)."""
        return self._streak

    @property
    def known(self) -> bool:
        """A result has been seen (or an initial state was given)."""
        return self._up is not None

    def update(self, ok: bool) -> bool | None:
        """Record one result; the new state when this result sets or flips it, else None."""
        ok = bool(ok)
        if self._up is None:
            self._up = ok
            return ok
        if ok == self._up:
            self._streak = 0
            return None
        self._streak += 1
        if self._streak < (self.rise if ok else self.fall):
            return None
        self._up, self._streak = ok, 0
        return ok
