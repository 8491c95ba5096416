"""Sorted integer ids as runs, the way Linux, QEMU and libvirt write them:
``[0, 1, 2, 3, 8]`` -> ``0-3,8``."""

from __future__ import annotations

from collections.abc import Iterable


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
