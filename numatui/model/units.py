"""Sizes as QEMU writes them (``2G``, ``512M``, ``1024``)."""

from __future__ import annotations

from numatui.model.errors import NumaError

_SUFFIX = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def parse_size(text: str | int, default_unit: str = "b", what: str = "size") -> int:
    """Bytes in a QEMU size: ``2G``, ``1.5G``, ``512M``, ``4096`` (in ``default_unit``).

    ``-m`` takes MiB by default (``default_unit="m"``); ``size=`` of a memory
    backend takes bytes.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise NumaError(f"{what} {text} is negative")
        return text
    s = str(text).strip()
    if not s:
        raise NumaError(f"{what} is empty: give a number like 2G or 512M")
    unit = default_unit
    if s[-1].lower() in _SUFFIX and not s[-1].isdigit():
        unit = s[-1].lower()
        s = s[:-1]
        if s[-1:].lower() == "i":  # accept 2Gi
            s = s[:-1]
    try:
        value = float(s) if "." in s else int(s, 10)
    except ValueError:
        raise NumaError(f"{what} {text!r} is not a size: give a number like 2G or 512M") from None
    if value < 0:
        raise NumaError(f"{what} {text!r} is negative")
    return int(value * (1024 ** _SUFFIX[unit]))


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
