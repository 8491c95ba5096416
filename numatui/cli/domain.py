"""``numatui domain SOURCE``: lay out a libvirt domain's NUMA on a scratch QEMU, write it back.

SOURCE is a domain XML file or a domain's name on ``--connect URI``.  libvirt
converts the domain (``domxml-to-native``, with its devices left out); numatui
starts a scratch QEMU in preconfig with the board, CPUs, memory and cells of
it (:func:`numatui.model.domain_xml.scratch_args`), maps the cells' vCPUs over
QMP, then opens the TUI, or applies ``--apply PLAN`` / ``--preset NAME``
headless, checks that QEMU boots the layout (``x-exit-preconfig`` of the
scratch QEMU, which has no devices and no guest code), and writes the domain
back (:class:`numatui.core.domain.DomainTarget`).  Nothing is written or
defined when any step fails.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from numatui.cli.parser import EXIT_OK, is_file_source
from numatui.core.domain import DomainTarget, domain_plan
from numatui.model.domain_xml import (
    Domain,
    Scratch,
    conversion_xml,
    read_domain,
    scratch_args,
    scratch_can_boot,
)
from numatui.session.errors import PreflightBlocked

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.session.launcher import Launcher


def load(args: argparse.Namespace) -> DomainTarget:
    """The domain (a file, or ``virsh dumpxml`` of a name) and where it is written."""
    from numatui.session import libvirt

    if is_file_source(args.source):
        with open(args.source, encoding="utf-8") as f:
            text = f.read(2 << 20)
        domain = read_domain(text, args.source)
        return DomainTarget(domain, uri=args.connect, path=args.source, output=args.output,
                            in_place=args.in_place)
    where = f"domain {args.source} on {args.connect or 'libvirt (its default URI)'}"
    domain = read_domain(libvirt.dumpxml(args.connect, args.source), where)
    return DomainTarget(domain, uri=args.connect, name=args.source, output=args.output,
                        define=args.define)


def scratch_launcher(domain: Domain, uri: str | None,
                     qemu: str | None) -> tuple[Launcher, Scratch]:
    """The scratch QEMU's launcher (not started) and what its QMP is sent (cells' vCPUs, HMAT)."""
    from numatui.session import libvirt
    from numatui.session.launcher import Launcher

    scratch = scratch_args(libvirt.to_native(uri, conversion_xml(domain)))
    return Launcher(qemu=qemu or domain.qemu, extra_args=scratch.args), scratch


async def domain_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from numatui.cli.io import read_plan
    from numatui.cli.launch import connect, make_vm

    plan = read_plan(args.apply) if args.apply is not None else None  # bad input: before QEMU starts
    target = load(args)
    launcher, scratch = scratch_launcher(target.domain, args.connect, args.qemu)
    await launcher.start()
    vm: Vm | None = None
    try:
        session = await connect(args, err, launcher.address, launcher)
        try:
            headless = plan is not None or args.preset is not None
            vm = make_vm(session, save=False) if headless else make_vm(session, err=err)
            if args.preset is not None:
                plan = vm.preset_plan(args.preset, args.into, args.add_nodes)
            await vm.apply_plan(domain_plan(session.topology, scratch.cell_cpus, plan, scratch.hmat),
                                lambda _: None)
            if not headless:  # the TUI's Save to domain defines a domain read by name
                target.define = target.define or (target.name is not None and target.output is None)
                return await _tui(vm, target)
            text = target.text(vm)
            if scratch_can_boot(session.info.machine_type or "", session.info.smp or {}):
                await session.exit_preconfig()  # QEMU judges the layout before anything is written
            else:
                findings = session.preflight()
                if any(f.severity.value == "blocking" for f in findings):
                    raise PreflightBlocked(findings)
            said = target.save(text, out)
            if said:
                err.write(f"numatui: {said}\n")
            return EXIT_OK
        finally:
            await session.close()
    finally:
        current = vm.launcher if vm is not None and vm.launcher is not None else launcher
        await current.stop()
        if current is not launcher:
            await launcher.stop()


async def _tui(vm: Vm, target: DomainTarget) -> int:
    from numatui.tui.app import run_tui

    return await run_tui(vm, domain=target)
