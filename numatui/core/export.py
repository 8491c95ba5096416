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
from numatui.model.qemu_args import (
    export_lines,
    full_command_line,
    iter_options,
    numa_kind,
    numa_options,
    option_lines,
    shell_join,
)
from numatui.model.sanitise import one_line
from numatui.session.errors import BadRequest
from numatui.session.replay import launched

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


def _own_options(argv: list[str]) -> list[tuple[str, ...]]:
    """The options of ``argv`` (program first) a relaunch may rewrite: all but
    the ``-numa cpu``/``dist`` ones, which the exports always write."""
    return sorted(tuple(o.tokens) for o in iter_options(argv[1:])
                  if not (o.name == "numa" and o.value is not None and numa_kind(o.value) in ("cpu", "dist")))


def rewritten(session: Session) -> str | None:
    """Why options added to the user's own command line no longer build this
    VM: numatui relaunched QEMU with options of it rewritten (a node's memory,
    a new node with memory, a backend's host binding).  Then what ``q`` prints
    and every command-line view is the whole command line; None when the
    options to add are enough (numatui did not start QEMU, or rewrote nothing)."""
    launcher = launched(session)
    if launcher is None or launcher.user_argv == launcher.origin_argv:  # (no parse on every redraw)
        return None
    if _own_options(launcher.user_argv) == _own_options(launcher.origin_argv):
        return None
    return ("numatui relaunched QEMU with options of your command line rewritten "
            "(node memory or its host binding): this is the whole command line to start QEMU with, "
            "not options to add")


def compact_text(session: Session) -> str:
    """What ``q`` prints and ``export --format numa`` gives: what QEMU's own
    command line needs added (:func:`numatui.model.qemu_args.export_lines`),
    one option per line ("" if none): the ``-object`` of backends numatui
    created, ``-numa node``/``dist``/``cpu``, then after boot a ``-device``
    option per hot-plugged CPU (so a restart keeps it).  When numatui rewrote
    options of that command line (:func:`rewritten`), the whole command line."""
    if rewritten(session) is not None:
        return _full(session) + "\n"
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


def quit_notes(session: Session) -> list[str]:
    """What ``q`` says on stderr: one warning per thing numatui cannot know,
    and that the options are a whole command line (:func:`rewritten`)."""
    note = rewritten(session)
    return [*_warnings(session), note] if note else _warnings(session)


def _warnings(session: Session) -> list[str]:
    """``warning: ...``, one line per thing numatui cannot know (``session.unknowns``)."""
    return [f"warning: {one_line(unknown, 400)}" for unknown in session.unknowns]


def render(view: str, session: Session, host: HostTopology | None = None) -> str:
    """The text of the TUI's ``view`` for the session as it is now.  The
    command-line views start with ``# warning: ...``, one comment line per
    thing numatui cannot know (``session.unknowns``); a shell or QEMU does not
    skip them: remove lines starting with ``#`` before giving the options to
    QEMU (``grep -v '^#'``)."""
    text = _render(view, session, host)
    warnings = _warnings(session) if view in ("compact", "full") else []
    return "".join(f"# {w}\n" for w in warnings) + text


def _render(view: str, session: Session, host: HostTopology | None = None) -> str:
    if view == "compact":
        note = rewritten(session)
        text = compact_text(session) or "(no CPU slot is assigned to a node yet)"
        return f"# {note}\n{text}" if note else text
    if view == "json":
        return session.plan().to_json()
    if view == "full":
        return _full(session)
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


def _full(session: Session) -> str:
    """The whole command line (shell-quoted, one option per line); when QEMU's
    own is unknown, every ``-numa`` option after a comment saying so."""
    plan, argv = session.plan(), session.qemu_argv
    if not argv:
        options = numa_options(plan, with_nodes=True)
        return (
            "# QEMU's own command line is unknown (attached over TCP?); "
            "add these to it:\n"
            + "\n".join([*(f"-numa {o}" for o in options), *option_lines(_devices(session))])
        )
    return shell_join(full_command_line(argv, plan) + _devices(session))


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
        text = _full(session)  # the warnings go to stderr (numatui.cli)
    elif fmt == "libvirt":  # LibvirtUnsupported: one line, exit 2
        text = _libvirt(session, host)
    elif fmt == "openstack":  # FlavorUnsupported: one line, exit 2
        text = _flavor(session, flavor)
    else:
        raise BadRequest(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}")
    return text if text.endswith("\n") or not text else text + "\n"
