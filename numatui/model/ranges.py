"""Sorted integer ids as runs, the way Linux, QEMU and libvirt write them:
``[0, 1, 2, 3, 8]`` -> ``0-3,8``, and back, bounded.

Reading a list (:func:`parse_ranges`) checks every id against a limit
before a range is expanded: ``0-999999999999`` in a planted ``cpu/online``
is refused at once, never turned into a trillion integers.  And the other
way round, :func:`consecutive`: a sequence cut into runs of given lengths."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from numatui.model.errors import NumaError

#: CPU ids the kernel can have: CONFIG_NR_CPUS is at most 8192 on every
#: architecture (x86 MAXSMP, powerpc), and sysfs lists ids below it.
KERNEL_MAX_CPUS = 8192

T = TypeVar("T")


def runs(ids: Iterable[int]) -> list[str]:
    """``[0, 1, 3]`` -> ``["0-1", "3"]`` (sorted, duplicates dropped)."""
    items = sorted(set(ids))
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return out


def format_ranges(ids: Iterable[int]) -> str:
    """``0-3,8``: a cpulist (sysfs, taskset), a libvirt cpuset or nodeset."""
    return ",".join(runs(ids))


def parse_ranges(text: str, limit: int, what: str = "CPU list") -> tuple[int, ...]:
    """``0-3,8,10-11`` -> (0, 1, 2, 3, 8, 10, 11), sorted, duplicates dropped;
    an empty list is ().  Every id below ``limit`` (checked before a range is
    expanded); NumaError (one line) otherwise."""
    out: set[int] = set()
    for raw in text.strip().split(","):
        part = raw.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        a, b = _id(lo, part, what), (_id(hi, part, what) if dash else None)
        top = a if b is None else b
        if top >= limit:
            raise NumaError(f"{what} item {_show(part)} names id {top}: ids stop at {limit - 1}")
        if b is None:
            out.add(a)
        elif b < a:
            raise NumaError(f"{what} item {_show(part)} runs backwards")
        else:
            out.update(range(a, b + 1))
    return tuple(sorted(out))


def parse_mask(text: str, limit: int, what: str = "CPU mask") -> tuple[int, ...]:
    """The kernel's hex mask ``00000000,0000ff00`` (32-bit words, highest
    first); a set bit at or above ``limit`` is refused (NumaError)."""
    digits = text.strip().replace(",", "")
    if not digits:
        return ()
    if not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise NumaError(f"{_show(text.strip())} is not a {what}")
    significant = digits.lstrip("0") or "0"
    if len(significant) * 4 > limit + 3 or int(significant, 16).bit_length() > limit:
        raise NumaError(f"{what} {_show(text.strip())} sets a bit at or above {limit}")
    value = int(significant, 16)
    bits = bin(value)[:1:-1]
    return tuple(i for i, bit in enumerate(bits) if bit == "1")


def _id(text: str, part: str, what: str) -> int:
    # numbers: ASCII digits only, bounded length, before int()
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise NumaError(f"{_show(part)} is not a {what} item like 0-3 or 8")
    return int(text)


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def consecutive(items: Sequence[T], counts: Iterable[int]) -> list[Sequence[T]]:
    """``items`` cut into consecutive runs of ``counts`` items each (shares laid out in order)."""
    out, at = [], 0
    for count in counts:
        out.append(items[at:at + count])
        at += count
    return out
