"""``numatui apply ADDRESS --preset NAME [--into N] [--add-nodes]``: the preset
(:mod:`numatui.model.presets`) as a plan for the live QEMU, which ``apply``
then sends like a plan file (the fewest commands, one line per command)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from numatui.core.host import HOST_PRESET, host_context
from numatui.model.host import HostTopology
from numatui.model.plan import Plan
from numatui.model.presets import preset_plan, presets

if TYPE_CHECKING:
    from numatui.session.session import Session


def preset_names() -> list[str]:
    return [p.name for p in presets()]


def plan_for_session(session: Session, name: str, *, into: int | None = None,
                     add_nodes: bool = False, host: HostTopology | None = None) -> Plan:
    """The plan applying preset ``name`` to the machine ``session`` is on,
    over the nodes QEMU has (PresetError: one line, exit 2).  ``host``: the
    host the "host" preset shapes the guest after (read from ``/`` when None)."""
    unknown = not session.nodes and session.nodes_source == "unknown"
    if name == HOST_PRESET and host is None:
        from numatui.core.host import HostView

        host = HostView().get()
    with host_context(host, session.info.ram_size):
        return preset_plan(name, session.topology, None if unknown else session.nodes, into=into,
                           add_nodes=add_nodes, nodes_source=session.nodes_source)
