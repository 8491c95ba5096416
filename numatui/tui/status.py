"""The status bar: where QEMU is, what it is, and what state it is in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from numatui.core.vm import run_state
from numatui.model.sanitise import one_line
from numatui.model.topology import LEVEL_NAMES, SlotKey, Topology, format_key
from numatui.tui.paint import update_static

if TYPE_CHECKING:
    from numatui.session.session import Session

STATE_STYLES: dict[str, str] = {
    "preconfig": "bold black on #f59e0b",
    "running": "bold black on #10b981",
    "paused": "bold black on #94a3b8",
    "disconnected": "bold white on #ef4444",
    "other": "bold black on #94a3b8",
}
#: the state badge while numatui works (booting, relaunching, applying ...)
BUSY_STYLE = "bold black on #a78bfa"
#: the badge saying numatui cannot know something (session.unknowns)
UNKNOWN_STYLE = "bold black on #38bdf8"


def shape(session: Session) -> str:
    """"8 slots: 2 sockets x 2 cores x 2 threads" from qom-get /machine smp."""
    smp: dict[str, int] = dict(session.info.smp or {})
    parts = [
        f"{smp[k]} {k if smp[k] != 1 else k[:-1]}"
        for k in ("drawers", "books", "sockets", "dies", "modules", "clusters", "cores", "threads")
        if smp.get(k, 1) > 1 or (k in ("sockets", "cores", "threads") and k in smp)
    ]
    text = f"{len(session.topology.slots)} slots"
    if parts:
        text += ": " + " × ".join(parts)
    if session.topology.derived:
        text += " (derived from -smp: the board does not list its slots)"
    return text


def short_key(key: SlotKey) -> str:
    """``socket 1 core 0 thread 0``: the props in fewer columns than :func:`format_key`."""
    return " ".join(f"{LEVEL_NAMES.get(p, p)} {v}" for p, v in key)


def cursor_text(topology: Topology, cursor: int, selected: int, booted: bool,
                boot_cpus: int | None = None, pinned: str | None = None,
                width: int | None = None) -> str:
    """The line under the grid: the cursor slot's props, node, state, its
    pinning (``pinned``, after boot); the selection size.  ``boot_cpus``
    (``-smp cpus`` below ``maxcpus``): whether the slot is filled at boot.
    Longer than ``width``, the props are spelt short (``socket 1 core 0``)."""
    if not topology.slots:
        return "QEMU reports no CPU slots"
    slot = topology.slots[cursor]
    text = ""
    if slot.node_id is None:
        text += " · unassigned"
    else:
        text += f" · node {slot.node_id}" + ("" if booted else " (set)")
    if slot.present:
        text += f" · cpu-index {topology.cpu_indexes()[slot.key].start}"
    elif booted:
        text += " · empty"
    elif boot_cpus is not None:
        at_boot = topology.cpu_indexes()[slot.key].start < boot_cpus
        text += " · present at boot" if at_boot else " · empty at boot (hot-pluggable)"
    if pinned:
        text += f" · {pinned}"
    if selected:
        text += f" · {selected} selected"
    key = format_key(slot.key)
    if width is not None and len(key) + len(text) > width:
        key = short_key(slot.key)
    return key + text


def hover_text(topology: Topology, index: int, booted: bool) -> str:
    """The slot under the mouse pointer: every prop QEMU lists for it."""
    slot = topology.slots[index]
    text = "↖ " + cursor_text(topology, index, 0, booted)
    if slot.vcpus_count != 1:
        text += f" · vcpus-count {slot.vcpus_count}"
    if slot.type:
        text += f" · {slot.type}"
    return text


class StatusBar(Static):
    """Two lines, never wrapped (cut with … on a narrow terminal): address,
    QEMU version, machine, run state; origin, nodes, shape."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; color: $text; padding: 0 1;
                text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, session: Session, busy: str | None, mask: Callable[[str], str],
             seconds: float = 0.0, resumed: str | None = None,
             progress: tuple[int, int] | None = None) -> None:
        update_static(self, status_text(session, busy, mask, seconds, resumed, progress))


def busy_badge(busy: str, seconds: float, progress: tuple[int, int] | None = None) -> str:
    """The state badge while a step runs: ``booting 12 s``, ``relaunching 3 s``,
    ``applying 120/496`` (a batch's replies so far), ``applying`` (its first
    second), from the step's words."""
    word = "relaunching" if "relaunch" in busy else busy.split(maxsplit=1)[0].rstrip(":")
    if progress is not None:
        return f"{word} {progress[0]}/{progress[1]}"
    return f"{word} {seconds:.0f} s" if seconds >= 1 else word


def status_text(session: Session, busy: str | None, mask: Callable[[str], str] = str,
                seconds: float = 0.0, resumed: str | None = None,
                progress: tuple[int, int] | None = None) -> Text:
    """The status bar's two lines; while a step runs (``busy``, for ``seconds``)
    the state badge says what numatui is doing instead of QEMU's run state.
    ``resumed`` (``resumed web1-1a2b3c4d``) replaces "launched by numatui"."""
    state = run_state(session)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("numatui ", style="bold")
    if busy:  # first: never cut off
        line.append(f" {busy_badge(busy, seconds, progress)} ", style=BUSY_STYLE)
    else:
        line.append(f" {state} ", style=STATE_STYLES.get(state, "bold"))
    line.append("  ")
    line.append(mask(str(session.address)), style="underline")
    line.append(f"  QEMU {one_line(session.info.qemu_version, 120)}  "
                f"{one_line(session.info.machine_type, 80)}")
    warning = session.address.warning()
    if warning:
        line.append("  ⚠ ", style="bold #ef4444")
        line.append(mask(warning))
    line.append("\n")
    if busy:  # first: on a narrow terminal the rest is cut
        line.append("⟳ " + busy + "  ", style="bold #f59e0b")
    if session.unknowns:  # what numatui cannot know: the sentences head the command-line views
        line.append(f" ? {len(session.unknowns)} unknown ", style=UNKNOWN_STYLE)
        line.append(" ")
    origin = resumed or ("launched by numatui" if session.launcher is not None else "attached")
    if not session.topology.slots and state == "disconnected":
        line.append(f"{origin} · QEMU is gone: R relaunches or reconnects")
    elif not session.topology.slots:  # between two QEMUs (R, a relaunch)
        line.append(f"{origin} · waiting for QEMU's CPU slots")
    else:
        line.append(f"{origin} · nodes from {mask(session.nodes_source)} · {shape(session)}")
    return line
