"""``numatui host`` (the host's NUMA view) and ``numatui pin`` (vCPU threads to host CPUs);
their grammar is in :mod:`numatui.cli.parser`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, TextIO

from numatui.model.host import format_cpulist, render_host
from numatui.session.host_reader import read_host

if TYPE_CHECKING:
    from numatui.core.vm import Vm


def host_command(args: argparse.Namespace, out: TextIO, vm: Vm | None = None) -> int:
    """The host; with ``vm`` (``--vm ADDRESS``), its guest nodes' bindings and
    the capacity findings of its plan on this host."""
    host = read_host(args.host_root)
    if args.format == "json":
        out.write(json.dumps(host.to_dict(), indent=2) + "\n")
        return 0
    out.write(render_host(host))
    if vm is not None:
        from numatui.core.host import capacity_findings

        for n in vm.session.nodes:
            where = (f"host node(s) {','.join(map(str, n.host_nodes))} ({n.policy})" if n.host_nodes
                     else "no host node (not bound)")
            out.write(f"guest node {n.id}: memory bound to {where}\n")
        findings = capacity_findings(vm.session, host)
        for f in findings:
            out.write(f"capacity {f.severity.value}: {f.message}\n")
        if not findings:
            out.write("capacity: no finding (every bound guest node fits its host node)\n")
    return 0


async def pin_command(vm: Vm, args: argparse.Namespace, out: TextIO) -> int:
    result = await vm.pin(args.policy, dry_run=args.dry_run)
    for line in result.plan.lines():
        out.write(("would pin " if args.dry_run and "->" in line else "") + line + "\n")
    if not args.dry_run:
        for pin in result.plan.pins:
            got = result.applied.get(pin.vcpu.cpu_index, ())
            out.write(f"vCPU {pin.vcpu.cpu_index}: Cpus_allowed_list {format_cpulist(got)}\n")
    if not result.plan.pins:
        out.write("nothing to pin: no vCPU is on a guest node bound to a host node "
                  "(bind a node's memory with host-nodes=, or use --policy cpu)\n")
    return 0
