"""The nodes panel: each NUMA node with its colour, CPUs, memory and, after
boot, how many of its CPUs are present."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from numatui.model.units import human_size
from numatui.tui import colours

if TYPE_CHECKING:
    from numatui.session.session import Session


def nodes_text(session: Session, booted: bool) -> Text:
    slots = session.topology.slots
    cpus: Counter[int | None] = Counter()
    present: Counter[int | None] = Counter()
    for s in slots:
        cpus[s.node_id] += s.vcpus_count
        if s.present:
            present[s.node_id] += s.vcpus_count
    known = {n.id: n for n in session.nodes}
    ids = sorted(set(known) | {n for n in cpus if n is not None})
    out = Text()
    out.append("Nodes\n", style="bold")
    if not ids:
        out.append("(none known: press n to add one)\n", style="italic")
    for node_id in ids:
        out.append("██", style=colours.swatch(node_id))
        out.append(f" {node_id:<3}")
        if booted:
            out.append(f"{present[node_id]}/{cpus[node_id]} present")
        else:
            out.append(f"{cpus[node_id]:>3} CPUs")
        node = known.get(node_id)
        if node is not None and node.size is not None:
            out.append(f"  {human_size(node.size)}")
        elif node is not None and not booted:
            out.append("  no memory", style="italic")
        out.append("\n")
    if cpus[None]:
        out.append("░░", style=colours.swatch(None))
        out.append(f" unassigned {cpus[None]}\n")
    return out


class NodesPanel(Static):
    DEFAULT_CSS = "NodesPanel { height: auto; padding: 0 1; }"

    def show(self, session: Session, booted: bool) -> None:
        self.update(nodes_text(session, booted))
