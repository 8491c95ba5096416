"""The one parser of numbers that come from a user or a file.

CLI options, plan files (JSON and ``-numa`` text), QMP addresses, slot
props and what is typed in the editors all read their numbers here, so
every one of them is held to the same rules: ASCII digits only (Python's
``str.isdigit`` and ``int`` also take ``²`` and ``٣``, which QEMU does
not), a sign only where the caller allows one, a bounded length and a
bounded value, and a refusal is one :class:`NumaError` line naming what was
read and where.  Sizes with suffixes (``512M``) are
:func:`numatui.model.units.qemu_strtosz`, built on :func:`parse_int`.
"""

from __future__ import annotations

import re

from numatui.model.errors import NumaError

#: The most digits a number may have (a uint64 has 20; 0x... 16 hex digits).
MAX_DIGITS = 40
#: The largest value QEMU's option visitors read (uint64).
UINT64_MAX = (1 << 64) - 1

_DIGITS = {10: re.compile(r"[0-9]+\Z"), 16: re.compile(r"[0-9a-fA-F]+\Z"), 8: re.compile(r"[0-7]+\Z")}
#: QEMU's option visitors (qemu_strtou64 base 0): decimal, ``0x`` hex, ``0`` octal, a ``+``.
_QEMU_INT = re.compile(r"[ \t\n\r\f\v]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")
_DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z")
_SPACE = " \t\r\n\f\v"


def shown(text: str) -> str:
    """``text`` as a message quotes it: ``repr`` (controls escaped), cut to 40 characters."""
    return repr(text[:MAX_DIGITS]) + ("..." if len(text) > MAX_DIGITS else "")


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def parse_int(text: str, what: str, *, lo: int = 0, hi: int, where: str = "",
              signed: bool = False, base: int = 10) -> int:
    """The whole number in ``text`` (ASCII whitespace around it ignored), within ``lo..hi``.

    ``base`` 10, 16 or 8 (digits only, no ``0x``: see :func:`parse_qemu_int`);
    ``signed`` allows one leading ``-`` or ``+``.  Anything else (another
    script's digits, a fraction, more than MAX_DIGITS digits, a value out of
    range) is a NumaError: ``WHERE: WHAT 'TEXT' is not a whole number ...``.
    """
    if not isinstance(text, str):
        raise NumaError(f"{_prefix(where)}{what} must be a whole number, not {text!r}")
    s = text.strip(_SPACE)
    body = s[1:] if signed and s[:1] in ("-", "+") else s
    if not body or len(body) > MAX_DIGITS or not _DIGITS[base].match(body):
        kind = {10: "a whole number", 16: "a hexadecimal number", 8: "an octal number"}[base]
        raise NumaError(f"{_prefix(where)}{what} {shown(text)} is not {kind}: "
                        f"give ASCII digits, from {lo} to {hi}")
    value = int(body, base)
    if s[:1] == "-":
        value = -value
    if not lo <= value <= hi:
        raise NumaError(f"{_prefix(where)}{what} {value} is out of range ({lo}..{hi})")
    return value


def parse_qemu_int(text: str, key: str, where: str, hi: int | None = None) -> int:
    """An unsigned integer as QEMU's option visitors read it (``-numa``, ``-smp``
    values): decimal, ``0x`` hex or ``0`` octal, a ``+`` and leading spaces
    allowed, at most ``hi`` (default uint64).  Refusals in QEMU's words:
    ``WHERE: Parameter 'KEY' expects a non-negative integer, not 'TEXT'``."""
    m = _QEMU_INT.match(text) if isinstance(text, str) and len(text) <= MAX_DIGITS else None
    if not m:
        raise NumaError(f"{where}: Parameter '{key}' expects a non-negative integer, not {shown(str(text))}")
    digits = m.group(1)
    base = 16 if digits[:2] in ("0x", "0X") else 8 if len(digits) > 1 and digits[0] == "0" else 10
    n = parse_int(digits[2:] if base == 16 else digits, key, hi=16**MAX_DIGITS, where=where, base=base)
    high = UINT64_MAX if hi is None else hi
    if n > high:
        raise NumaError(f"{where}: Parameter '{key}' expects an integer between 0 and {high}, not {n}")
    return n


def parse_decimal(text: str, what: str, *, lo: float, hi: float, where: str = "") -> float:
    """A non-negative decimal number (``3``, ``0.5``, ``.25``: no sign, exponent,
    ``inf`` or ``nan``; ASCII digits) within ``lo..hi``: seconds and the like."""
    s = text.strip(_SPACE) if isinstance(text, str) else ""
    if not s or len(s) > 2 * MAX_DIGITS or not _DECIMAL.match(s):
        raise NumaError(f"{_prefix(where)}{what} {shown(str(text))} is not a number: "
                        f"give ASCII digits like 3 or 0.5, from {lo:g} to {hi:g}")
    value = float(s)
    if not lo <= value <= hi:
        raise NumaError(f"{_prefix(where)}{what} {s} is out of range ({lo:g}..{hi:g})")
    return value
