"""Never stuck, never lost: undo/redo and moves by relaunch, the disconnected
state, and QEMU's words shown inertly and clipped.

The work is :class:`numatui.session.replay.Keeper`'s (history, relaunch,
autosave); this module is its face in the app: the operations (run as
workers under the app's one QMP lock), the banner shown while QEMU is gone,
and :func:`clip` for text from the QMP peer.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from numatui.model import sanitise
from numatui.model.topology import SlotKey
from numatui.session.errors import QemuRefused
from numatui.session.machine import RunState
from numatui.session.replay import ATTACHED_EXPLANATION, moved_plan
from numatui.tui.show import update_static

if TYPE_CHECKING:
    from numatui.session.replay import Keeper
    from numatui.session.session import Session
    from numatui.tui.app import NumaApp

#: Text from QEMU longer than this is cut in notifications (the QMP log and --log keep it).
MAX_NOTICE = 1500


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    """``text`` through the sanitiser (controls visible, newlines kept), cut to
    ``limit`` characters with a marker saying how much was left out."""
    return sanitise.multi_line(text, limit)


def needs_move(session: Session, keys: Collection[SlotKey], node: int) -> bool:
    """True when some of ``keys`` are already on another node (QEMU cannot move them)."""
    return any(session.topology.slot(k).node_id not in (None, node) for k in keys)


class DisconnectedBanner(Static):
    """Shown while QEMU is gone: why, QEMU's last words, where the plan is, what to do."""

    DEFAULT_CSS = """
    DisconnectedBanner { height: auto; max-height: 9; display: none; padding: 0 1;
                         background: $error 25%; color: $text; }
    DisconnectedBanner.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.reason = "QEMU went away"
        self.stderr: str | None = None

    def lost(self, reason: str, stderr: str | None) -> None:
        self.reason = reason
        self.stderr = stderr

    def show(self, session: Session, keeper: Keeper, mask: Any) -> None:
        gone = session.state is RunState.DISCONNECTED
        self.set_class(gone, "shown")
        if not gone:
            return
        text = Text()
        text.append("Disconnected: ", style="bold")
        text.append(clip(mask(self.reason), 300))
        if self.stderr:
            text.append("\nQEMU said:", style="bold")
            for line in self.stderr.strip().splitlines()[-4:]:
                text.append("\n  " + clip(mask(line), 200))
        if keeper.saved_path:
            text.append(f"\nThe plan is saved in {mask(keeper.saved_path)}.")
        if keeper.can_relaunch:
            text.append("\nPress R to relaunch QEMU with this plan. ", style="bold")
        else:
            text.append("\nStart QEMU again, then press R to reconnect. ", style="bold")
        text.append("The grid and the command line stay readable; y copies.")
        update_static(self, text)


async def undo(app: NumaApp, redo: bool = False) -> None:
    keeper = app.keeper
    word = "redo" if redo else "undo"
    what = keeper.history.redo_description() if redo else keeper.history.undo_description()
    if what is None:
        app.notify(f"Nothing to {word}.", severity="warning")
        return
    if not keeper.can_relaunch:
        app.notify(_why_not_relaunch(app.session, f"{word} {what}"), title=f"Cannot {word}",
                   severity="warning", timeout=15, markup=False)
        return
    app.notify(f"Relaunching QEMU to {word}: {what} …", title=word.capitalize(), timeout=4,
               markup=False)
    async with app.ops.step(f"{word}: {what} (relaunching QEMU)"):
        await (keeper.redo() if redo else keeper.undo())
        app.notify(f"{'Redone' if redo else 'Undone'}: {what}", title=word.capitalize(),
                   markup=False)
        app.grid.clear_selection()


async def move(app: NumaApp, keys: Collection[SlotKey], node: int) -> None:
    """Put ``keys`` on ``node`` when some are already on another node: by
    relaunch when numatui started QEMU; else QEMU's refusal plus what to do."""
    keeper = app.keeper
    if keeper.can_relaunch:
        app.notify(f"QEMU cannot move an assigned CPU: relaunching it with node {node} …",
                   title="Move", timeout=4)
        async with app.ops.step(f"moving {len(keys)} slot(s) to node {node} (relaunching QEMU)"):
            await keeper.move(keys, node)
            app.grid.clear_selection()
        return
    async with app.ops.step(f"assigning {len(keys)} slot(s) to node {node}"):
        try:
            await app.session.assign(keys, node)
        except QemuRefused as exc:
            try:
                app.needed_plan = moved_plan(app.session, keys, node)
            except Exception:
                app.needed_plan = None
            app.notify(f"{clip(exc.qemu_message)}\n{ATTACHED_EXPLANATION}. "
                       "Ctrl+p › \"Copy the plan this move needs\" copies it.",
                       title="QEMU refused", severity="error", timeout=20, markup=False)


async def relaunch_or_reconnect(app: NumaApp) -> None:
    keeper = app.keeper
    session = app.session
    if session.state is not RunState.DISCONNECTED:
        app.notify("QEMU is connected.", severity="information")
        return
    if keeper.can_relaunch:
        async with app.ops.step("relaunching QEMU with the plan"):
            await keeper.relaunch()
            app.ops.told_disconnected = False
            app.notify("QEMU relaunched in preconfig with the plan replayed.", title="Relaunched")
        return
    async with app.ops.step(f"reconnecting to {app.mask(str(session.address))}"):
        await session.reconnect()
        app.ops.told_disconnected = False
        app.notify("Reconnected.", title="QEMU")


def _why_not_relaunch(session: Session, what: str) -> str:
    if session.launcher is None:
        return f"{what}: {ATTACHED_EXPLANATION}."
    return f"{what}: the VM has booted; QEMU fixed every CPU's node at boot."
