"""One batch's replies folded back: what QEMU accepted of a user action's
commands (:mod:`numatui.session.commands`), in the order sent, as the
session's mirror and its record take it (:meth:`numatui.session.session.Session.send`).
QEMU runs the commands after a refused one all the same, so each reply is
read on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.plan import Distance, Node
from numatui.session.commands import Step
from numatui.session.errors import QemuRefused
from numatui.session.record import Record


@dataclass
class Folded:
    """What QEMU holds after a batch (``nodes``, ``distances``: all of them)
    and what it accepted of it."""

    nodes: dict[int, Node]
    distances: dict[tuple[int, int], Distance]
    memdevs: list[dict[str, Any]] = field(default_factory=list)  # backends made, as query-memdev lists them
    new_nodes: dict[int, Node] = field(default_factory=dict)
    new_dists: dict[tuple[int, int], int] = field(default_factory=dict)
    lbs: list[HmatLb] = field(default_factory=list)
    caches: list[HmatCache] = field(default_factory=list)
    first: BaseException | None = None  # the first refusal (or lost, timed out command)
    accepted: int = 0
    cpus: bool = False  # a set-numa-node type cpu was sent (refused or not)

    @property
    def bound(self) -> bool:
        """A backend bound to host nodes was made (query-memdev says how)."""
        return any(m.get("host-nodes") for m in self.memdevs)

    @property
    def recorded(self) -> bool:
        """Something the record keeps was accepted."""
        return bool(self.memdevs or self.new_nodes or self.new_dists or self.lbs or self.caches)

    def record(self, r: Record, nodes: Sequence[Node]) -> None:
        """Put what was accepted into the record ``r`` (``nodes``: with QEMU's binding)."""
        r.memdevs.update((m["id"], m["size"]) for m in self.memdevs)
        r.nodes.update((n.id, n) for n in nodes if n.id in self.new_nodes)
        r.distances.update(self.new_dists)
        r.hmat_lb += self.lbs
        r.hmat_cache += self.caches


def fold(steps: Sequence[Step], replies: Sequence[Any], nodes: Sequence[Node], distances: Sequence[Distance],
         cpu: Callable[[Any, QemuRefused | None], object],
         sent: Callable[[dict[str, Any]], object]) -> Folded:
    """The ``replies`` to ``steps`` (a reply or the error it raised) over the
    ``nodes`` and ``distances`` QEMU had.  ``cpu`` hears each type cpu's
    option and its refusal (derived boards follow a refused one too);
    ``sent`` each accepted command's arguments."""
    out = Folded({n.id: n for n in nodes}, {(d.src, d.dst): d for d in distances})
    for step, reply in zip(steps, replies, strict=True):
        refused = reply if isinstance(reply, QemuRefused) else None
        if isinstance(reply, BaseException):
            out.first = out.first or reply
            if refused is None:
                continue
        held = step.holds
        if step.args.get("type") == "cpu":
            out.cpus = True
            cpu(held, refused)
        elif refused is not None:
            if isinstance(held, Node) and "Duplicate" in refused.qemu_message and held.id not in out.nodes:
                out.nodes[held.id] = Node(id=held.id)  # QEMU has it: not ours
        elif step.command == "object-add":
            out.memdevs.append(held)
        elif isinstance(held, Node):
            out.nodes[held.id] = out.new_nodes[held.id] = held
        elif isinstance(held, Distance):
            out.distances[held.src, held.dst] = held
            out.new_dists[held.src, held.dst] = held.val
        elif isinstance(held, HmatLb):
            out.lbs.append(held)
        elif isinstance(held, HmatCache):
            out.caches.append(held)
        if refused is None:
            out.accepted += 1
            sent(step.args)
    return out
