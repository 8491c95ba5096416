"""Sizes as QEMU writes them (``2G``, ``512M``, ``1024``)."""

from __future__ import annotations

import re

from numatui.model.errors import NumaError
from numatui.model.numbers import MAX_DIGITS, UINT64_MAX, parse_int, shown


def parse_size(text: str | int, default_unit: str = "b", what: str = "size") -> int:
    """Bytes in a size: an int as it is, text as QEMU reads it (:func:`qemu_strtosz`,
    spaces around it ignored): ``2G``, ``1.5G``, ``512M``, ``4096`` (in ``default_unit``).

    ``-m`` takes MiB by default (``default_unit="m"``); ``size=`` of a memory
    backend takes bytes.
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise NumaError(f"{what} must be a number of bytes or a size like 2G, not {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise NumaError(f"{what} {text} is negative")
        return text
    if not text.strip():
        raise NumaError(f"{what} is empty: give a number like 2G or 512M")
    return qemu_strtosz(text.strip(), default_unit, what)


def format_size(size: int) -> str:
    """The shortest exact QEMU spelling: ``2G``, ``1536M``, ``12345``."""
    for suffix, power in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        unit = 1024**power
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def human_size(size: int) -> str:
    """For display: ``2 GiB``, ``1.5 GiB``, ``512 MiB``."""
    for suffix, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        unit = 1024**power
        if size >= unit:
            value = size / unit
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {suffix}"
    return f"{size} B"


_QEMU_SUFFIX = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
#: ``0x`` hex, or decimal with an optional fraction; then one suffix letter or none.
_SIZE = re.compile(r"(?:0[xX]([0-9a-fA-F]{1,40})|([0-9]{1,40})(?:\.([0-9]*))?)([BKMGTPEbkmgtpe]?)\Z")


def qemu_strtosz(text: str, default_suffix: str = "B", what: str = "size") -> int:
    """Bytes in a size exactly as QEMU's ``qemu_strtosz`` reads it.

    Decimal or ``0x`` hex, an optional fraction (decimal only, and only with a
    suffix other than bytes), then one of ``B K M G T P E`` (any case) or
    nothing (``default_suffix``).  Nothing may follow.  ``2Gi``, ``1e3`` and
    ``-1`` are refused as QEMU refuses them.
    """
    bad = NumaError(
        f"{what} {shown(text)} is not a size: give a whole number with an optional "
        "suffix B, K, M, G, T, P or E (like 2G or 512M)"
    )
    m = _SIZE.match(text.lstrip(" \t\n\r\f\v").removeprefix("+"))
    if m is None:
        raise bad
    hex_digits, digits, fraction, suffix = m.groups()
    if hex_digits is not None:
        whole = parse_int(hex_digits, what, hi=UINT64_MAX, base=16)
    else:
        whole = parse_int(digits, what, hi=10**MAX_DIGITS)
    fraction = (fraction or "")[:30]
    power = _QEMU_SUFFIX[(suffix or default_suffix).upper()]
    unit = 1024**power
    if unit == 1 and fraction.strip("0"):
        raise bad
    value: int = whole * unit
    if fraction:
        value += parse_int(fraction, what, hi=10**30) * unit // 10 ** len(fraction)
    if value >= 2**64:
        raise NumaError(f"{what} {shown(text)} is too large (QEMU takes sizes below 2^64)")
    return value
