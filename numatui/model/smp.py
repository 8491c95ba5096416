"""``-smp`` and the ``key=value,...`` syntax of QEMU options.

:func:`parse_smp` computes the missing values exactly as QEMU 7.2's
``machine_parse_smp_config`` (hw/core/machine-smp.c) does, checked against a
real ``qemu-system-x86_64`` 7.2: cores are preferred over sockets (machine
types before 6.2 prefer sockets), threads come last, a value of 0 counts as
omitted (7.2 only warns about it), and the product of the hierarchy must equal
maxcpus.  ``drawers``, ``books`` and ``modules`` (QEMU 8.2 / 9.1) are accepted
and default to 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from numatui.model.errors import NumaError

#: -smp keys, outermost level first (as cpu_hierarchy_to_string prints them).
SMP_LEVELS: tuple[str, ...] = (
    "drawers", "books", "sockets", "dies", "clusters", "modules", "cores", "threads",
)
SMP_OPTION_KEYS: frozenset[str] = frozenset({"cpus", "maxcpus", *SMP_LEVELS})


def split_opts(text: str, implied: str | None, where: str) -> list[tuple[str, str]]:
    """QemuOpts syntax: ``[implied-value,]key=value,...``; ``,,`` is a literal comma.

    A first element without ``=`` is the value of ``implied``; a later one is
    ``key=on`` (``nokey`` is ``key=off``), as QEMU reads booleans.
    """
    # ",," pairs are taken left to right (",,," is a comma then a separator), as
    # str.replace takes them: hide them behind a NUL (never in an argv string)
    if "\0" in text:
        raise NumaError(f"{where}: a NUL character in an option")
    parts = [p.replace("\0", ",") for p in text.replace(",,", "\0").split(",")]
    out: list[tuple[str, str]] = []
    for n, part in enumerate(parts):
        key, sep, value = part.partition("=")
        if sep:
            if not key:
                raise NumaError(f"{where}: Invalid parameter '' (a comma or '=' too many)")
            out.append((key, value))
        elif n == 0 and implied is not None:
            out.append((implied, part))
        elif not part:
            raise NumaError(f"{where}: Invalid parameter '' (a comma too many)")
        elif part.startswith("no") and len(part) > 2:
            out.append((part[2:], "off"))
        else:
            out.append((part, "on"))
    return out


def split_opts_or_none(text: str, implied: str | None) -> list[tuple[str, str]] | None:
    """:func:`split_opts`, None where it would raise (an option numatui only looks at)."""
    try:
        return split_opts(text, implied, "")
    except NumaError:
        return None


def escape_opt(value: str) -> str:
    """QemuOpts escaping: a literal comma is written twice."""
    return value.replace(",", ",,")


_INT = re.compile(r"\s*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


def parse_int(value: str, key: str, where: str, high: int | None = None) -> int:
    """An integer as QEMU's option visitors read it (decimal, ``0x`` hex, ``0`` octal)."""
    m = _INT.match(value) if len(value) <= 40 else None
    if not m:
        raise NumaError(f"{where}: Parameter '{key}' expects a non-negative integer, not {value!r}")
    digits = m.group(1)
    if digits[:2] in ("0x", "0X"):
        n = int(digits, 16)
    elif len(digits) > 1:
        n = int(digits, 8) if digits[0] == "0" else int(digits)
    else:
        n = int(digits)
    if high is not None and n > high:
        raise NumaError(f"{where}: Parameter '{key}' expects an integer between 0 and {high}, not {n}")
    return n


@dataclass(frozen=True)
class SmpConfig:
    """A resolved ``-smp``: every count known, as QEMU reports it in ``qom-get /machine smp``."""

    cpus: int = 1
    maxcpus: int = 1
    drawers: int = 1
    books: int = 1
    sockets: int = 1
    dies: int = 1
    modules: int = 1
    clusters: int = 1
    cores: int = 1
    threads: int = 1

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Board:
    dies: bool = True
    clusters: bool = True
    prefer_sockets: bool = False
    max_cpus: int | None = None
    name: str = ""


def _board(machine: str | None) -> _Board:
    """What QEMU's machine class says about -smp (unknown machine: allow everything).

    The CPU limit is checked only for versioned machine types (``pc-q35-7.2``):
    an alias like ``q35`` means a different limit in each QEMU release.
    """
    if not machine:
        return _Board()
    m = re.search(r"-(\d+)\.(\d+)$", machine)
    version = (int(m.group(1)), int(m.group(2))) if m else None
    old = version is not None and version < (6, 2)
    if machine == "q35" or machine.startswith("pc-q35"):
        limit = None
        if version is not None:
            limit = 288 if version <= (8, 0) else 1024 if version < (9, 0) else 4096
        return _Board(dies=True, clusters=False, prefer_sockets=old, max_cpus=limit, name=machine)
    if machine in ("pc", "isapc") or machine.startswith("pc-"):
        limit = 255 if version is not None else None
        return _Board(dies=True, clusters=False, prefer_sockets=old, max_cpus=limit, name=machine)
    if machine == "virt" or machine.startswith("virt-"):
        limit = 512 if version is not None and version >= (6, 0) else None
        return _Board(dies=False, clusters=True, prefer_sockets=old, max_cpus=limit, name=machine)
    return _Board(dies=False, clusters=False, prefer_sockets=old)


def smp_keys(text: str, where: str | None = None) -> dict[str, int]:
    """The keys of one ``-smp`` value (``8,sockets=2``); later keys win."""
    where = where or f"-smp {text}"
    out: dict[str, int] = {}
    for key, value in split_opts(text, "cpus", where):
        if key not in SMP_OPTION_KEYS:
            raise NumaError(
                f"{where}: Parameter 'smp.{key}' is unexpected; -smp takes cpus, maxcpus, "
                + ", ".join(SMP_LEVELS)
            )
        if len(value) > 40 or not _INT.match(value):
            raise NumaError(f"{where}: Parameter 'smp.{key}' expects integer, not {value!r}")
        out[key] = parse_int(value, f"smp.{key}", where)
    return out


def parse_smp(text: str, machine: str | None = None) -> SmpConfig:
    """Resolve one ``-smp`` value as QEMU 7.2 does for ``machine`` (NumaError otherwise)."""
    return resolve_smp(smp_keys(text), machine, where=f"-smp {text}")


def resolve_smp(keys: Mapping[str, int], machine: str | None = None, where: str = "-smp") -> SmpConfig:
    """machine_parse_smp_config of QEMU 7.2 over already-split keys."""
    board = _board(machine)
    g = {k: int(keys.get(k, 0)) for k in SMP_OPTION_KEYS}  # 0 = omitted (7.2 warns on explicit 0)
    cpus, maxcpus = g["cpus"], g["maxcpus"]
    for level, ok in (("dies", board.dies), ("clusters", board.clusters)):
        if not ok and g[level] > 1:
            raise NumaError(f"{where}: {level} not supported by this machine's CPU topology")
    outer = 1
    for level in ("drawers", "books", "dies", "clusters", "modules"):
        g[level] = g[level] or 1
        outer *= g[level]
    sockets, cores, threads = g["sockets"], g["cores"], g["threads"]
    if cpus == 0 and maxcpus == 0:
        sockets, cores, threads = sockets or 1, cores or 1, threads or 1
    else:
        maxcpus = maxcpus or cpus
        if board.prefer_sockets:
            if sockets == 0:
                cores, threads = cores or 1, threads or 1
                sockets = maxcpus // (outer * cores * threads)
            elif cores == 0:
                threads = threads or 1
                cores = maxcpus // (outer * sockets * threads)
        elif cores == 0:
            sockets, threads = sockets or 1, threads or 1
            cores = maxcpus // (outer * sockets * threads)
        elif sockets == 0:
            threads = threads or 1
            sockets = maxcpus // (outer * cores * threads)
        if threads == 0:
            threads = maxcpus // (outer * sockets * cores)
    total = outer * sockets * cores * threads
    maxcpus = maxcpus or total
    cpus = cpus or maxcpus
    smp = SmpConfig(cpus=cpus, maxcpus=maxcpus, drawers=g["drawers"], books=g["books"],
                    sockets=sockets, dies=g["dies"], modules=g["modules"], clusters=g["clusters"],
                    cores=cores, threads=threads)
    if total != maxcpus:
        raise NumaError(
            f"{where}: Invalid CPU topology: product of the hierarchy must match maxcpus: "
            f"{_hierarchy(smp, board)} != maxcpus ({maxcpus})"
        )
    if maxcpus < cpus:
        raise NumaError(
            f"{where}: Invalid CPU topology: maxcpus must be equal to or greater than smp: "
            f"{_hierarchy(smp, board)} == maxcpus ({maxcpus}) < smp_cpus ({cpus})"
        )
    if board.max_cpus is not None and maxcpus > board.max_cpus:
        raise NumaError(
            f"{where}: Invalid SMP CPUs {maxcpus}. The max CPUs supported by machine "
            f"'{board.name}' is {board.max_cpus}"
        )
    return smp


def _hierarchy(smp: SmpConfig, board: _Board) -> str:
    """cpu_hierarchy_to_string: the levels this board has, outermost first."""
    d = smp.to_dict()
    shown = ["sockets"]
    if board.dies:
        shown.append("dies")
    if board.clusters:
        shown.append("clusters")
    shown += ["cores", "threads"]
    extra = [lv for lv in ("drawers", "books", "modules") if d[lv] > 1]
    levels = [lv for lv in SMP_LEVELS if lv in shown or lv in extra]
    return " * ".join(f"{lv} ({d[lv]})" for lv in levels)
