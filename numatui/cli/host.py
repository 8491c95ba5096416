"""``numatui host`` (the host's NUMA view) and ``numatui pin`` (vCPU threads to host CPUs)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

from numatui.model.host import format_cpulist, render_host
from numatui.model.pinning import PinPolicy
from numatui.session.host_reader import read_host

if TYPE_CHECKING:
    from numatui.core.vm import Vm

HOST_FORMATS = ("text", "json")


def add_parsers(sub: Any, address: argparse.ArgumentParser, nodes: argparse.ArgumentParser,
                common: argparse.ArgumentParser) -> None:
    """The ``host`` and ``pin`` subcommands on numatui's parser."""
    p = sub.add_parser("host", help="print the host's NUMA nodes, distances and CPUs")
    p.add_argument("--host-root", default="/", metavar="DIR",
                   help="read a recorded /sys + /proc tree under DIR (like HWLOC_FSROOT; default /)")
    p.add_argument("--format", choices=HOST_FORMATS, default="text", help="text (default) or JSON")
    p.add_argument("--vm", metavar="ADDRESS",
                   help="also the guest nodes of this QEMU bound to each host node, and the "
                        "capacity findings (text format)")
    p.set_defaults(timeout=3.0, log=None, nodes=None, record=None)

    p = sub.add_parser("pin", parents=[address, nodes, common],
                       help="pin the vCPU threads of a booted QEMU to host CPUs")
    p.add_argument("--policy", choices=[str(x) for x in PinPolicy], default="node",
                   help="node (default): each vCPU to the CPUs of the host node its guest node's "
                        "memory is bound to (host-nodes=); cpu: each vCPU to a host CPU of its own")
    p.add_argument("--dry-run", action="store_true", help="print the pinning, change nothing")
    p.add_argument("--host-root", default="/", metavar="DIR", help=argparse.SUPPRESS)


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
