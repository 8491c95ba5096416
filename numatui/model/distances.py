"""The node x node distance matrix, as QEMU reads and completes it.

QEMU (hw/core/numa.c, 7.2) takes distances one pair at a time
(``-numa dist,src=,dst=,val=`` or ``set-numa-node`` type dist) and, at
``x-exit-preconfig``, checks and completes them:

- a node's distance to itself is 10 and nothing else;
- no distance is below 10, none above 255 (the ACPI SLIT byte);
- once any distance is given, every pair of nodes needs at least one
  direction (``The distance between node 0 and 2 is missing``);
- one direction given means both (the matrix is mirrored), unless some
  pair has different values each way: then every direction of every pair
  must be given.

:class:`DistanceMatrix` holds what was given and answers what each cell
will be; :meth:`DistanceMatrix.edits` and :meth:`DistanceMatrix.fill` say
which ``set-numa-node`` type dist arguments to send.  Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from numatui.model.errors import NumaError
from numatui.model.numbers import UINT64_MAX, parse_int, shown
from numatui.model.plan import MAX_NODES, Distance

LOCAL_DISTANCE = 10
DEFAULT_REMOTE_DISTANCE = 20
MAX_DISTANCE = 255


class CellKind(StrEnum):
    """Where a cell's value comes from."""

    LOCAL = "local"  # a node to itself: always 10
    GIVEN = "given"  # set for this direction
    MIRROR = "mirror"  # only the other direction is set: QEMU mirrors it
    UNSET = "unset"  # neither direction


def refusal(src: int, dst: int, val: int) -> tuple[str, str] | None:
    """The rule QEMU applies to one distance value (hw/core/numa.c
    ``parse_numa_distance``; the value is one byte of the guest's ACPI SLIT,
    a uint8 in QAPI): which one ``val`` breaks, as (the preflight finding's
    code, QEMU's words); None when QEMU takes it.  The one definition: the
    editors, a plan applied live, the preflight and the command-line reader
    all ask here."""
    if val < LOCAL_DISTANCE:
        return "distance-too-small", f"NUMA distance ({val}) is invalid, it shouldn't be less than 10."
    if val > MAX_DISTANCE:
        return "distance-too-large", "Parameter 'val' expects uint8_t"
    if src == dst and val != LOCAL_DISTANCE:
        return "distance-local", f"Local distance of node {src} should be 10."
    return None


def check_distance(src: int, dst: int, val: int) -> None:
    """Raise NumaError, in plain words with QEMU's own, when QEMU would refuse the value."""
    for name, node in (("src", src), ("dst", dst)):
        if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < MAX_NODES:
            raise NumaError(f"{name} node {node!r} is out of range (0..{MAX_NODES - 1})")
    if isinstance(val, bool) or not isinstance(val, int):
        raise NumaError(f"distance {val!r} is not a whole number")
    broken = refusal(src, dst, val)
    if broken is None:
        return
    code, words = broken
    if code == "distance-too-small":
        raise NumaError(f"distance {val} is refused: distances start at {LOCAL_DISTANCE} (a node to "
                        f"itself; {DEFAULT_REMOTE_DISTANCE} is the usual remote distance). QEMU would "
                        f"say \u201c{words}\u201d")
    if code == "distance-too-large":
        raise NumaError(f"distance {val} is refused: the largest distance is {MAX_DISTANCE} "
                        "(one byte in the guest's ACPI SLIT)")
    raise NumaError(f"the distance of node {src} to itself is fixed at {LOCAL_DISTANCE} (QEMU: "
                    f"\u201c{words}\u201d)")


def parse_distance(text: str) -> int:
    """A distance typed by a user: a whole number 10..255."""
    s = text.strip()
    if not s:
        raise NumaError("no distance given: type a whole number from 10 to 255")
    try:
        value = parse_int(s, "distance", hi=UINT64_MAX)
    except NumaError:
        raise NumaError(f"{shown(s)} is not a distance: type a whole number from 10 to 255") from None
    if value > MAX_DISTANCE:
        raise NumaError(f"distance {value} is refused: the largest distance is {MAX_DISTANCE}")
    return value


@dataclass(frozen=True)
class DistanceMatrix:
    """The distances given between ``nodes`` (ids, sorted)."""

    nodes: tuple[int, ...]
    given: Mapping[tuple[int, int], int] = field(default_factory=dict)

    @classmethod
    def of(cls, nodes: Iterable[int], distances: Iterable[Distance]) -> DistanceMatrix:
        """The matrix of ``nodes``; a later distance for the same pair wins (as in QEMU).
        Nodes named only by a distance are added."""
        given = {(d.src, d.dst): d.val for d in distances}
        ids = set(nodes) | {i for pair in given for i in pair}
        return cls(nodes=tuple(sorted(ids)), given=given)

    # -- reading -------------------------------------------------------------------
    def kind(self, src: int, dst: int) -> CellKind:
        if src == dst:
            return CellKind.LOCAL
        if (src, dst) in self.given:
            return CellKind.GIVEN
        if (dst, src) in self.given:
            return CellKind.MIRROR
        return CellKind.UNSET

    def value(self, src: int, dst: int) -> int | None:
        """The distance the guest will see (None: unset)."""
        if self.kind(src, dst) is CellKind.UNSET:
            return None
        return self.given.get((src, dst), self.given.get((dst, src), LOCAL_DISTANCE))

    def pairs(self) -> list[tuple[int, int]]:
        """Every pair of distinct nodes, (a, b) with a < b."""
        return [(a, b) for i, a in enumerate(self.nodes) for b in self.nodes[i + 1:]]

    def unset_pairs(self) -> list[tuple[int, int]]:
        """Pairs with no distance either way."""
        return [(a, b) for a, b in self.pairs() if self.kind(a, b) is CellKind.UNSET]

    @property
    def asymmetric(self) -> bool:
        """Some pair has different values each way (QEMU then needs every direction)."""
        return any(self.given.get((b, a), v) != v for (a, b), v in self.given.items() if a != b)

    @property
    def used(self) -> bool:
        """Any remote distance given: QEMU then needs the whole matrix."""
        return any(a != b for a, b in self.given)

    def problems(self) -> list[str]:
        """Why QEMU would not take this matrix at x-exit-preconfig (empty: it would)."""
        if not self.given:
            return []
        out: list[str] = []
        unset = self.unset_pairs()
        if unset:
            listed = ", ".join(f"{a}\u2013{b}" for a, b in unset[:6]) + (" \u2026" if len(unset) > 6 else "")
            out.append(f"{len(unset)} pair(s) have no distance: {listed}")
        if self.asymmetric:
            one_way = [(a, b) for a in self.nodes for b in self.nodes
                       if a != b and (a, b) not in self.given]
            if one_way:
                a, b = one_way[0]
                out.append(f"some pair differs each way, so every direction is needed; "
                           f"{a}\u2192{b} and {len(one_way) - 1} more are not given")
        return out

    # -- changing ------------------------------------------------------------------
    def edits(self, src: int, dst: int, val: int, *, linked: bool = True) -> list[Distance]:
        """The distances to send to make cell (src, dst) ``val``: the mirror
        cell too when ``linked``.  Raises NumaError for values QEMU refuses."""
        check_distance(src, dst, val)
        if src == dst:
            raise NumaError(f"the distance of node {src} to itself is fixed at {LOCAL_DISTANCE}")
        for node in (src, dst):
            if node not in self.nodes:
                raise NumaError(f"node {node} does not exist (nodes: {list(self.nodes)})")
        out = [Distance(src, dst, val)]
        if linked:
            out.append(Distance(dst, src, val))
        return out

    def fill(self, default: int = DEFAULT_REMOTE_DISTANCE) -> list[Distance]:
        """The distances that make the matrix complete: ``default`` for every
        unset pair, one way (QEMU mirrors it) unless some pair already differs
        each way; then both ways, and the missing direction of a pair given
        one way only gets its mirror value (what QEMU would have used)."""
        check_distance(0, 1, default)
        both = self.asymmetric
        out: list[Distance] = []
        for a, b in self.pairs():
            if self.kind(a, b) is CellKind.UNSET:
                out.append(Distance(a, b, default))
                if both:
                    out.append(Distance(b, a, default))
            elif both:
                for src, dst in ((a, b), (b, a)):
                    if (src, dst) not in self.given:
                        out.append(Distance(src, dst, self.given[(dst, src)]))
        return out
