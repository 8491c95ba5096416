"""The host panel's text: each host node's CPUs and memory, the guest nodes
bound to it, and the pinning state.  Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from numatui.model.host import HostTopology, format_cpulist
from numatui.model.plan import Node
from numatui.model.units import human_size


def host_panel_lines(host: HostTopology | None, nodes: Sequence[Node], *, pinning: str | None,
                     pinned: Mapping[int, tuple[int, ...]], unpinned: Mapping[int, str],
                     error: str | None = None) -> list[str]:
    """Lines for the panel (plain text: the widget never reads markup in them)."""
    if host is None:
        return ["Host", f"cannot read the host: {error or 'unknown'}"]
    out = [f"Host: {len(host.nodes)} node(s)"]
    for hn in host.nodes:
        bound = [n for n in nodes if hn.id in n.host_nodes]
        out.append(f"node {hn.id}: cpus {format_cpulist(hn.cpus) or 'none'}")
        out.append(f"· {human_size(hn.memory)}, {human_size(hn.free)} free")
        if bound:
            out.append("· guest " + ", ".join(f"{n.id} ({n.policy or 'bind'})" for n in bound))
    unbound = [n.id for n in nodes if not n.host_nodes]
    if unbound:
        out.append("unbound guest node(s): " + ", ".join(map(str, unbound)))
    out.append(f"pinning: {pinning or 'none planned'}")
    if pinned:
        out.append(f"· {len(pinned)} vCPU(s) pinned")
    if unpinned:
        out.append(f"· {len(unpinned)} left as they are (node unbound)")
    return out
