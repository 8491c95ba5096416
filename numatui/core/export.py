"""Every output numatui exports, from the session as QEMU reports it: the
compact ``-numa`` options (what ``q`` prints and ``numatui export`` gives),
the full command line, the JSON plan and libvirt XML.

One module for the TUI's views (:func:`render`), the text ``q`` prints
(:func:`compact_text`) and ``numatui export --format`` (:func:`export_text`).
Where these differ today (an unknown argv: the TUI shows what to add, the CLI
refuses), both behaviours are kept here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numatui.model.devices import device_args, plugged_cpus
from numatui.model.host import HostTopology
from numatui.model.libvirt import LibvirtUnsupported, libvirt_xml
from numatui.model.openstack import FlavorUnsupported, flavor_command
from numatui.model.qemu_args import export_lines, full_command_line, numa_options, option_lines, shell_join
from numatui.model.sanitise import one_line
from numatui.session.errors import BadRequest

if TYPE_CHECKING:
    from numatui.session.session import Session

#: TUI view id -> title, in the order the switch cycles through them.
VIEWS: dict[str, str] = {
    "compact": "-numa cpu options",
    "full": "full command line",
    "json": "JSON plan",
    "libvirt": "libvirt XML",
    "openstack": "OpenStack flavor",
}
#: ``numatui export --format`` choices.
EXPORT_FORMATS = ("numa", "cmdline", "json", "libvirt", "openstack")


def _devices(session: Session) -> list[str]:
    """``-device`` argv pairs for the hot-plugged CPUs QEMU's own argv lacks."""
    return device_args(plugged_cpus(session.topology), session.qemu_argv or ())


def compact_text(session: Session) -> str:
    """What ``q`` prints and ``export --format numa`` gives: what QEMU's own
    command line needs added (:func:`numatui.model.qemu_args.export_lines`),
    one option per line ("" if none): the ``-object`` of backends numatui
    created, ``-numa node``/``dist``/``cpu``, then after boot a ``-device``
    option per hot-plugged CPU (so a restart keeps it)."""
    lines = export_lines(session.plan(), _devices(session))
    return "\n".join(lines) + "\n" if lines else ""


def _libvirt(session: Session, host: HostTopology | None) -> str:
    """libvirt XML of the plan; with the host known, ``<vcpupin>`` to each host node's CPUs."""
    cpus = None if host is None else {n.id: tuple(n.cpus) for n in host.nodes}
    return libvirt_xml(session.topology, session.plan(), smp=session.info.smp, host_cpus=cpus)


def _flavor(session: Session, name: str | None = None) -> str:
    """The ``openstack flavor set`` line of the plan (:mod:`numatui.model.openstack`)."""
    return flavor_command(session.topology, session.plan(), name=name, boot_cpus=session.boot_cpus(),
                          smp=session.info.smp, ram_size=session.info.ram_size)


def _with_warnings(session: Session, text: str) -> str:
    """``# warning: ...`` first, one comment line per thing numatui cannot know
    (``session.unknowns``).  A shell or QEMU does not skip them: remove lines
    starting with ``#`` before giving the options to QEMU (``grep -v '^#'``)."""
    warnings = [f"# warning: {one_line(unknown, 400)}" for unknown in session.unknowns]
    return "\n".join(warnings) + "\n" + text if warnings else text


def quit_text(session: Session) -> str:
    """What ``q`` prints: the warnings, then :func:`compact_text`."""
    return _with_warnings(session, compact_text(session))


def render(view: str, session: Session, host: HostTopology | None = None) -> str:
    """The text of the TUI's ``view`` for the session as it is now (the
    command-line views start with the warnings)."""
    if view in ("compact", "full"):
        return _with_warnings(session, _render(view, session, host))
    return _render(view, session, host)


def _render(view: str, session: Session, host: HostTopology | None = None) -> str:
    plan = session.plan()
    if view == "compact":
        return compact_text(session) or "(no CPU slot is assigned to a node yet)"
    if view == "json":
        return plan.to_json()
    if view == "full":
        argv = session.qemu_argv
        if not argv:
            options = numa_options(plan, with_nodes=True)
            return (
                "# QEMU's own command line is unknown (attached over TCP?); "
                "add these to it:\n"
                + "\n".join([*(f"-numa {o}" for o in options), *option_lines(_devices(session))])
            )
        return shell_join(full_command_line(argv, plan) + _devices(session))
    if view == "libvirt":
        try:
            return _libvirt(session, host)
        except LibvirtUnsupported as exc:  # what libvirt cannot say
            return f"(no libvirt XML: {exc})"
    if view == "openstack":
        try:
            return _flavor(session)
        except FlavorUnsupported as exc:  # what a flavor cannot say
            return f"(no OpenStack flavor: {exc})"
    raise ValueError(f"unknown view {view!r}")


def export_text(session: Session, fmt: str, host: HostTopology | None = None,
                flavor: str | None = None) -> str:
    """``numatui export --format fmt``: the mapping QEMU reports as the compact
    ``-numa cpu`` options, the full command line, the JSON plan, libvirt XML
    or an ``openstack flavor set`` line (``flavor``: its name)."""
    if fmt == "numa":  # the same lines the TUI shows and prints on quit
        text = compact_text(session)
    elif fmt == "json":
        text = session.plan().to_json()
    elif fmt == "cmdline":
        if session.qemu_argv is None:
            raise BadRequest(
                "the full command line needs QEMU's own, which numatui knows only for a QEMU it "
                "launched or a local one it can read /proc for; use --format numa"
            )
        text = _render("full", session)  # the warnings go to stderr (numatui.cli)
    elif fmt == "libvirt":  # LibvirtUnsupported: one line, exit 2
        text = _libvirt(session, host)
    elif fmt == "openstack":  # FlavorUnsupported: one line, exit 2
        text = _flavor(session, flavor)
    else:
        raise BadRequest(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}")
    return text if text.endswith("\n") or not text else text + "\n"
