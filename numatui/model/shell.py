"""Shell words read the way ``shlex.split(line, comments=True)`` reads them,
in linear time: plan files and pasted command lines can be megabytes, and
shlex reads a character at a time."""

from __future__ import annotations

import re

_BLANKS = re.compile(r"[ \t\r\n]*")
_WORD = re.compile(r"""(?:[^ \t\r\n'"\\#]+|\\.|'[^']*'|"(?:[^"\\]+|\\.)*")+""", re.S)
_PIECE = re.compile(r"""\\(.)|'([^']*)'|"((?:[^"\\]|\\.)*)"|[^'"\\]+""", re.S)
_IN_DOUBLE = re.compile(r"\\(.)", re.S)


def shell_words(line: str) -> list[str]:
    """``shlex.split(line, comments=True)``, in linear time with C-speed regexes
    (shlex reads a character at a time: seconds for a megabyte).  ValueError
    for an unclosed quote or a trailing backslash, as shlex."""
    out: list[str] = []
    pos, end = 0, len(line)
    while True:
        pos = _BLANKS.match(line, pos).end()  # type: ignore[union-attr]  # * always matches
        if pos >= end or line[pos] == "#":
            return out
        m = _WORD.match(line, pos)
        if m is None or (m.end() < end and line[m.end()] not in " \t\r\n#"):
            raise ValueError("No escaped character" if line.rstrip().endswith("\\")
                             else "No closing quotation")
        word = m.group()
        out.append(_unquote(word) if any(c in word for c in "'\"\\") else word)
        pos = m.end()


def _unquote(word: str) -> str:
    """One shell word without its quotes and escapes (in double quotes only
    ``\\"`` and ``\\\\`` are escapes, as in shlex)."""
    parts: list[str] = []
    for m in _PIECE.finditer(word):
        escaped, single, double = m.groups()
        if escaped is not None:
            parts.append(escaped)
        elif single is not None:
            parts.append(single)
        elif double is not None:
            parts.append(_IN_DOUBLE.sub(lambda e: e[1] if e[1] in '"\\' else e[0], double))
        else:
            parts.append(m.group())
    return "".join(parts)
