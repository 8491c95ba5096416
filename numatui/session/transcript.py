"""The QMP transcript: every command, reply, error and event, bounded.

The TUI's log panel reads it and listens for new entries; ``--log FILE``
appends each entry as a line while it comes.  A long list reply (the slots
of a 4096-CPU machine: ~0.5 MB of JSON, re-read on every key press) is kept
shortened; only --log files get it whole (:func:`reply_text`).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from numatui.session.files import open_append
from numatui.session.listeners import Listeners

EntryKind = Literal["cmd", "reply", "error", "event", "note"]

#: How each kind is marked in a log line.
_MARK: dict[str, str] = {"cmd": "->", "reply": "<-", "error": "<-", "event": "<-", "note": "--"}


@dataclass(frozen=True)
class Entry:
    """One line of the transcript; ``text`` is compact JSON, or plain words for a note."""

    time: float
    kind: EntryKind
    text: str

    def line(self, text: str | None = None) -> str:
        """``12:03:04.123 -> {"execute": ...}``: the form written to --log FILE
        (``text`` instead of the entry's own, e.g. the whole of a long reply)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        millis = int((self.time % 1) * 1000)
        return f"{stamp}.{millis:03d} {_MARK[self.kind]} {self.text if text is None else text}"


class Transcript:
    """A bounded record of the QMP conversation with listeners."""

    def __init__(self, maxlen: int = 5000) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._listeners: Listeners[Entry] = Listeners()
        self._counts: Counter[str] = Counter()
        self._files: list[IO[str]] = []
        self._full: tuple[Entry, str] | None = None  # the entry being appended, its whole text

    @property
    def maxlen(self) -> int:
        return self._entries.maxlen or 0

    @property
    def entries(self) -> list[Entry]:
        """A copy of the kept entries, oldest first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, kind: EntryKind, text: str, full: Callable[[], str] | None = None) -> Entry:
        """Record one entry and tell every listener; a failing listener is dropped.
        ``full``: the whole text when ``text`` is shortened (a long reply), made
        only for --log files while the entry is new, never kept."""
        entry = Entry(time=time.time(), kind=kind, text=text)
        if full is not None and self._files:
            self._full = (entry, full())
        self._entries.append(entry)
        self._counts[kind] += 1
        self._listeners.call(entry, lambda cb, _: self._listeners.discard(cb))
        self._full = None
        return entry

    def _full_line(self, entry: Entry) -> str:
        """``entry.line()`` with its whole text if it was shortened and is new."""
        if self._full is not None and self._full[0] is entry:
            return entry.line(self._full[1])
        return entry.line()

    def note(self, text: str) -> Entry:
        return self.append("note", text)

    def count(self, kind: str | None = None) -> int:
        """How many entries of ``kind`` were ever appended (all kinds when None),
        including those the bound has dropped since."""
        return sum(self._counts.values()) if kind is None else self._counts[kind]

    def since(self, index: int) -> list[Entry]:
        """Entries appended after ``count()`` was ``index`` (those still kept)."""
        new = self.count() - index
        return list(self._entries)[-new:] if new > 0 else []

    def add_listener(self, cb: Callable[[Entry], None]) -> Callable[[], None]:
        """Call ``cb(entry)`` for each new entry; returns a function removing it."""
        return self._listeners.add(cb)

    def write_to(self, path: str | Path) -> Callable[[], None]:
        """Append every entry (those kept so far, then each new one) to ``path``
        as a line, flushed at once.  Returns a function that stops and closes.
        Raises OSError when the file cannot be opened, FileRefused (one line)
        for a symlink, a FIFO or a device (:func:`numatui.session.files.open_append`)."""
        handle = open_append(path)
        self._files.append(handle)
        for entry in self._entries:
            handle.write(entry.line() + "\n")
        handle.flush()

        def write(entry: Entry) -> None:
            handle.write(self._full_line(entry) + "\n")
            handle.flush()

        remove = self.add_listener(write)

        def stop() -> None:
            remove()
            if handle in self._files:
                self._files.remove(handle)
            handle.close()

        return stop

    def close(self) -> None:
        """Close every --log file."""
        for handle in list(self._files):
            handle.close()
        self._files.clear()


#: A list reply longer than this keeps only its first items in the transcript.
LIST_KEPT = 16


def reply_text(reply: object, encode: Callable[[object], str]) -> tuple[str, Callable[[], str] | None]:
    """The transcript text of ``{"return": reply}`` (``encode``: compact JSON)
    and, when that text is shortened, how to make the whole of it."""
    whole = {"return": reply}
    if not isinstance(reply, list) or len(reply) <= LIST_KEPT:
        return encode(whole), None
    head = encode({"return": reply[:LIST_KEPT]})
    more = len(reply) - LIST_KEPT
    text = f"{head[:-2]},… {more} more items (--log FILE has all)]}}"
    return text, lambda: encode(whole)
