"""Presets (:mod:`numatui.model.presets`) for the live QEMU: the plan a preset
makes of the machine a session is on, and what each preset would need there
(for the TUI's chooser).  :meth:`numatui.core.vm.Vm.apply_preset` sends it,
for ``numatui apply --preset`` and the TUI's ``P`` alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from numatui.model.errors import NumaError
from numatui.model.host import HostTopology
from numatui.model.plan import Plan
from numatui.model.presets import NotEnoughNodes, preset_plan, presets

if TYPE_CHECKING:
    from numatui.session.session import Session


def preset_names() -> list[str]:
    return [p.name for p in presets()]


def plan_for_session(session: Session, name: str, host: HostTopology | None, *,
                     into: int | None = None, add_nodes: bool = False) -> Plan:
    """The plan applying preset ``name`` to the machine ``session`` is on,
    over the nodes QEMU has (PresetError: one line, exit 2).  ``host``: the
    host the "host" preset shapes the guest after (None: it could not be read)."""
    unknown = not session.nodes and session.nodes_source == "unknown"
    return preset_plan(name, session.topology, None if unknown else session.nodes, into=into,
                       add_nodes=add_nodes, nodes_source=session.nodes_source, host=host,
                       ram=session.info.ram_size)


@dataclass(frozen=True)
class PresetChoice:
    """One preset as it stands for this machine."""

    name: str
    description: str
    takes_into: bool
    missing: int = 0
    """Nodes QEMU lacks that it needs (added memoryless when applied with add_nodes)."""
    refused: str | None = None
    """Why it cannot apply here (a board without dies, ...), or None."""

    @property
    def fits(self) -> bool:
        return self.refused is None and not self.missing


def choices(session: Session, host: HostTopology | None, into: int | None = None) -> list[PresetChoice]:
    """Every registered preset and whether it applies to this board and nodes
    (``host``: what the "host" preset shapes the guest after, None: unread;
    ``into``: for the presets that take it)."""
    out = []
    for p in presets():
        missing, refused = 0, None
        try:
            plan_for_session(session, p.name, host, into=into if p.takes_into else None)
        except NotEnoughNodes as exc:
            missing = len(exc.missing)
        except NumaError as exc:
            refused = str(exc)
        out.append(PresetChoice(p.name, p.description, p.takes_into, missing, refused))
    return out
