"""The files a generator installed, so that checking an unchanged one costs a stat, not a read.

A generator compares each candidate with what is on disk before it writes (readers may watch the
files, so an unchanged file is never rewritten, and one changed or deleted behind synapse-py's
back is put right at the next apply). With a thousand services, reading every file on every
change is most of the work; `InstalledFiles` remembers the text it wrote (or last read) with the
file's identity (inode, mtime in ns, size) and reads the file again only when that changed.
"""

from __future__ import annotations

import os

from smartstack_common.atomic import read_current, write_atomic

Identity = tuple[int, int, int]


class InstalledFiles:
    """Path -> (identity, text) of the files last written or read here (one owner thread)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Identity, str]] = {}

    def current(self, path: str) -> str | None:
        """The file's text (None: missing or unreadable), read only if it changed on disk."""
        identity = _identity(path)
        if identity is None:
            self._known.pop(path, None)
            return None
        known = self._known.get(path)
        if known is not None and known[0] == identity:
            return known[1]
        text = read_current(path)
        if text is not None and _identity(path) == identity:  # not replaced while being read
            self._known[path] = (identity, text)
        return text

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Install `text` atomically (smartstack_common.atomic) and remember it."""
        write_atomic(path, text, mode=mode)
        identity = _identity(path)
        if identity is not None:
            self._known[path] = (identity, text)

    def forget(self, path: str) -> None:
        self._known.pop(path, None)


def _identity(path: str) -> Identity | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
