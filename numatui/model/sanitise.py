"""Text from QEMU or a file made safe to show: the ONE sanitiser every face uses.

A QMP peer (or a planted file) chooses the strings numatui shows: machine
and CPU type names, memdev ids, error ``desc``, event names.  A terminal
obeys control characters in them (``ESC ] 52`` writes the user's clipboard,
``ESC [ 2 J`` clears the screen, OSC 8 makes links), so they are never
emitted: each is shown visibly instead, as a Python-style escape
(``\\x1b``, ``\\x07``, ``\\x9b``, ``\\u202e``).  That spelling is plain ASCII,
unambiguous, greppable and what a user pastes into a bug report; the Unicode
control pictures (``␛``) were rejected because they look like text a peer
could also send literally.

What counts as a control: C0 (U+0000-U+001F), DEL (U+007F), C1
(U+0080-U+009F: ``\\x9b`` is a one-byte CSI for some terminals), and the
invisible Unicode formatting that reorders or hides text (bidi embeddings,
overrides and isolates, U+2028/U+2029 line and paragraph separators).

Two variants, by where the text goes:

- :func:`one_line` (status bar, the line under the grid, one-line errors):
  every control, ``\\n`` and ``\\t`` included, is made visible.
- :func:`multi_line` (show output, notifications, the QMP log): ``\\n`` and
  ``\\t`` are kept, ``\\r`` is made visible (it would overwrite a line).

Both bound the length: text longer than ``limit`` characters (counted after
escaping) is cut and ends in a marker saying how many characters of the
original were left out.  Both return plain text: markup inertness is the
face's job (the TUI passes :class:`rich.text.Text` or ``markup=False``; the
CLI prints plain text).
"""

from __future__ import annotations

import re

#: Default bound for one line (an error, a status field).
LINE_LIMIT = 500
#: Default bound for a block (a notification, a show field).
BLOCK_LIMIT = 4000

_FORMAT_CONTROLS = "\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff"
_ALL = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT_CONTROLS}]")
_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT_CONTROLS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _bound(original: str, escaped: str, limit: int | None) -> str:
    if limit is None or len(escaped) <= limit:
        return escaped
    end = limit
    for m in _ESCAPE.finditer(escaped, max(0, limit - 5), limit + 6):
        if m.start() < limit < m.end():  # never split an escape: "\x1" would mislead
            end = m.start()
    cut = escaped[:end]
    kept = len(_unescaped_length(cut))
    more = max(len(original) - kept, 1)
    return f"{cut} … [{more} more characters cut]"


#: The escapes :func:`_visible` writes: \xNN (4 chars), \uNNNN (6), one character each.
_ESCAPE = re.compile(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}")


def _unescaped_length(escaped: str) -> str:
    return _ESCAPE.sub("_", escaped)


def one_line(text: object, limit: int | None = LINE_LIMIT) -> str:
    """``text`` as ONE line with every control character visible, at most
    ``limit`` characters (plus a marker saying how much was cut)."""
    s = text if isinstance(text, str) else str(text)
    return _bound(s, _ALL.sub(_visible, s), limit)


def multi_line(text: object, limit: int | None = BLOCK_LIMIT) -> str:
    """``text`` with newlines and tabs kept and every other control character
    visible, at most ``limit`` characters (plus the marker)."""
    s = text if isinstance(text, str) else str(text)
    return _bound(s, _BLOCK.sub(_visible, s), limit)
