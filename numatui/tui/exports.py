"""The texts the command-line panel shows and copies, built by the model.

Pure functions of the session's state: the compact ``-numa`` options, the
full QEMU command line, the JSON plan and libvirt XML.  The model modules
``numatui.model.qemu_args`` and ``numatui.model.libvirt`` do the work; a view
whose module is missing says so instead of failing.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from numatui.model.devices import device_args, plugged_cpus
from numatui.model.plan import Plan

if TYPE_CHECKING:
    from numatui.session.session import Session

#: View id -> title, in the order the switch cycles through them.
VIEWS: dict[str, str] = {
    "compact": "-numa cpu options",
    "full": "full command line",
    "json": "JSON plan",
    "libvirt": "libvirt XML",
}


def _model(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"numatui.model.{name}")
    except ImportError:
        return None


def numa_lines(plan: Plan) -> list[str]:
    """``["-numa node,nodeid=2", "-numa cpu,node-id=0,socket-id=0", ...]``: what QEMU's
    own command line needs added (:func:`numatui.model.qemu_args.export_lines`)."""
    qemu_args = _model("qemu_args")
    if qemu_args is not None:
        return list(qemu_args.export_lines(plan))  # -object of live backends, -numa node/dist/cpu
    return ["-numa cpu," + ",".join(f"{k}={v}" for k, v in opt.items()) for opt in plan.cpus]


def compact_text(session: Session) -> str:
    """What ``q`` prints: the compact ``-numa cpu`` options, one per line ("" if none),
    then after boot a ``-device`` option per hot-plugged CPU (so a restart keeps it)."""
    lines = numa_lines(session.plan()) + device_lines(session)
    return "\n".join(lines) + "\n" if lines else ""


def device_lines(session: Session) -> list[str]:
    """``["-device max-x86_64-cpu,id=...,socket-id=1,...,node-id=1", ...]``: the
    hot-plugged CPUs that QEMU's own command line does not declare."""
    args = device_args(plugged_cpus(session.topology), _user_argv(session) or ())
    return [f"{opt} {shlex.quote(value)}" for opt, value in zip(args[::2], args[1::2], strict=True)]


def _user_argv(session: Session) -> Sequence[str] | None:
    """QEMU's argv (the model drops numatui's --preconfig and monitors)."""
    argv = getattr(session, "qemu_argv", None)
    if argv:
        return list(argv)
    launcher: Any = getattr(session, "launcher", None)
    if launcher is not None and getattr(launcher, "user_argv", None):
        return list(launcher.user_argv)
    return None


def render(view: str, session: Session) -> str:
    """The text of ``view`` for the session as it is now."""
    plan = session.plan()
    if view == "compact":
        return compact_text(session) or "(no CPU slot is assigned to a node yet)"
    if view == "json":
        return plan.to_json()
    if view == "full":
        qemu_args = _model("qemu_args")
        if qemu_args is None:
            return "(the full command line needs numatui.model.qemu_args)"
        argv = _user_argv(session)
        if argv is None:
            options = qemu_args.numa_options(plan, with_nodes=True)
            return (
                "# QEMU's own command line is unknown (attached over TCP?); "
                "add these to it:\n"
                + "\n".join([*(f"-numa {o}" for o in options), *device_lines(session)])
            )
        full = qemu_args.full_command_line(argv, plan)
        full += device_args(plugged_cpus(session.topology), argv)
        return str(qemu_args.shell_join(full))
    if view == "libvirt":
        libvirt = _model("libvirt")
        if libvirt is None:
            return "(libvirt XML needs numatui.model.libvirt)"
        smp = getattr(getattr(session, "info", None), "smp", None)
        try:
            return str(libvirt.libvirt_xml(session.topology, plan, smp=smp))
        except ValueError as exc:  # LibvirtUnsupported (a NumaError): what libvirt cannot say
            return f"(no libvirt XML: {exc})"
    raise ValueError(f"unknown view {view!r}")
