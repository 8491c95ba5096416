"""The distance and memory editors, mounted in a tiny host app with a real
Session on real QEMU, driven with keys.  QEMU's own view is read through the
test's second monitor (attached QEMU) or raw commands (launched QEMU)."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from numatui.core.vm import Vm
from numatui.model.distances import DistanceMatrix
from numatui.model.memory_split import MIB
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.distance_editor import DistanceEditor
from numatui.tui.editing import route_editor_key
from numatui.tui.memory_editor import MemoryEditor


class Host(App[None]):
    """Nothing but a place to push an editor onto."""

    def __init__(self, editor: Screen[None]) -> None:
        super().__init__()
        self.editor = editor
        self.changes = 0

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(self.editor)

    def changed(self) -> None:
        self.changes += 1

    async def on_key(self, event: events.Key) -> None:  # as NumaApp: an open cell takes every key
        await route_editor_key(self, event)


async def settle(app: App[Any], pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def given(session: Session) -> dict[tuple[int, int], int]:
    return {(d.src, d.dst): d.val for d in session.distances}


async def test_edit_cell_fills_mirror_and_qemu_has_it(qemu: Any, session: Session) -> None:
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    editor.on_change = app.changed
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "3", "0", "enter")  # node 0 -> node 1 = 30, linked
        await settle(app, pilot)
        assert given(session) == {(0, 1): 30, (1, 0): 30}
        assert app.changes == 1
        assert editor.message.text == "Sent: node 0 \u2192 node 1 = 30 (and back)."
        assert "Complete" in str(editor.query_one("#dist-status", Static).content)
        # unlinked: one way only
        await pilot.press("u", "2", "5", "enter")
        await settle(app, pilot)
        assert given(session) == {(0, 1): 25, (1, 0): 30}
    # QEMU has them: a fresh matrix of the other node count is accepted at boot
    await session.exit_preconfig()
    assert session.state == "running"


async def test_values_below_ten_and_the_diagonal_are_refused(session: Session) -> None:
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "5", "enter")
        await settle(app, pilot)
        assert editor.message.text.startswith("Refused: distance 5 is refused: distances start at 10")
        assert editor.message.has_class("error")
        assert given(session) == {}
        await pilot.press("escape")  # after a refusal one escape leaves the editor (#25)
        await settle(app, pilot)
        assert app.screen is not editor
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")  # the diagonal
        await settle(app, pilot)
        assert "fixed at 10" in editor.message.text
        assert given(session) == {}
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is not editor


async def test_fill_unset_with_twenty(qemu: Any, session: Session) -> None:
    await session.add_node()
    await session.set_distance(0, 1, 15)
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "Incomplete" in str(editor.query_one("#dist-status", Static).content)
        await pilot.press("f")
        await settle(app, pilot)
        assert not DistanceMatrix.of([0, 1, 2], session.distances).problems()
        assert given(session) == {(0, 1): 15, (0, 2): 20, (1, 2): 20}  # QEMU mirrors them
        assert "2 missing distance(s) filled" in editor.message.text


async def test_qemu_refusal_is_shown_verbatim(session: Session) -> None:
    """QEMU checks too: a distance naming a node QEMU lacks (the session
    believes in a node 2 QEMU never declared) comes back in QEMU's words."""
    from numatui.model.plan import Node

    session.nodes = [*session.nodes, Node(2)]
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "right", "2", "0", "enter")
        await settle(app, pilot)
        assert editor.message.text.startswith("QEMU refused: Source/Destination NUMA node is missing")
        assert (2, 0) not in given(session)
        assert app.is_running


async def test_read_only_after_boot(session: Session) -> None:
    await session.exit_preconfig()
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "2", "0", "enter", "f")
        await settle(app, pilot)
        assert "preconfig" in editor.message.text
        assert given(session) == {}


async def test_memory_editor_relaunches_with_the_new_split(launched: Session) -> None:
    await launched.assign([s.key for s in launched.topology.slots if s.key[0] == ("socket-id", 1)], 1)
    old_pid = launched.launcher.pid if isinstance(launched.launcher, Launcher) else None
    editor = MemoryEditor(Vm(launched))
    app = Host(editor)
    editor.on_change = app.changed
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter", "ctrl+u", *"1536M", "enter")
        await settle(app, pilot)
        assert "512 MiB more than" in editor.remainder_text()
        await pilot.press("a")  # does not add up: refused before any QEMU
        await settle(app, pilot)
        assert "should equal RAM size" in editor.message.text
        await pilot.press("down", "enter", "ctrl+u", *"512", "enter")
        await settle(app, pilot)
        assert editor.remainder_text() == "all RAM is on a node"
        await pilot.press("a")
        await settle(app, pilot)
        assert editor.message.has_class("ok"), editor.message.text
        assert app.changes == 1
    memdevs = {m["id"]: m["size"] for m in await launched.execute("query-memdev")}
    assert memdevs == {"m0": 1536 * MIB, "m1": 512 * MIB}
    assert isinstance(launched.launcher, Launcher) and launched.launcher.pid != old_pid
    assert {s.node_id for s in launched.topology.slots if s.key[0] == ("socket-id", 1)} == {1}


async def test_memory_editor_attached_is_read_only(session: Session) -> None:
    editor = MemoryEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "numatui did not start this QEMU" in editor.message.text
        await pilot.press("enter", "e", "a")
        await settle(app, pilot)
        assert "did not start this QEMU" in editor.message.text
        assert editor.draft == {0: 1024 * MIB, 1: 1024 * MIB}


async def test_qemu_words_that_look_like_markup_are_shown_literally(session: Session) -> None:
    """QEMU's text is never parsed as markup: a refusal carrying Textual markup
    (a stand-in for a hostile peer, raised where QEMU's reply would be) is shown
    as written and its [@click=app.quit] does nothing."""
    from rich.text import Text

    from numatui.session.errors import QemuRefused

    markup = "[bold red]x[/] [@click=app.quit]quit[/] [link=http://evil]click[/link]"

    async def refuse(*args: object) -> int:
        raise QemuRefused("set-numa-node", markup)

    session.send = refuse  # type: ignore[method-assign]
    editor = DistanceEditor(Vm(session))
    app = Host(editor)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "2", "0", "enter")
        await settle(app, pilot)
        assert editor.message.text == f"QEMU refused: {markup}"
        shown = editor.message.content
        assert isinstance(shown, Text) and shown.plain == f"QEMU refused: {markup}"
        await pilot.click(editor.message)
        await settle(app, pilot)
        assert app.is_running
