"""Hostile strings from the QMP peer: markup, terminal escapes, a 1 MB error.

A fault-injecting proxy (tests/fake_qmp.py) sits in front of a real QEMU and
replaces QEMU's error texts and adds an event whose name and data are the
hostile text.  The session keeps the text literally (it is QEMU's word, shown
escaped by the TUI, never interpreted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_qmp import HostileProxy

from numatui.session.errors import QemuRefused
from numatui.session.session import Session

MARKUP = "[bold red]x[/] [link=http://evil]click[/link] [@click=app.quit]quit[/]"
ESCAPES = "\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 \x1b[2J\x1b[H \r\n\x00 \u202egnp.exe"
HOSTILE = f"{MARKUP} {ESCAPES}"
HUGE = "A" * (1 << 20) + MARKUP


async def refused_through(proxy_dir: Path, qemu: Any, text: str) -> tuple[QemuRefused, Session, list[Any]]:
    path = proxy_dir / "p.sock"
    async with HostileProxy(path, qemu.sock, text):
        session = await Session.connect(str(path), nodes=2)
        events: list[dict[str, Any]] = []
        session.add_listener(events.append)
        try:
            key = session.topology.slots[0].key
            await session.assign([key], 0)
            with pytest.raises(QemuRefused) as info:
                await session.assign([key], 1)  # QEMU: "CPU is already assigned ..." -> hostile
        finally:
            await session.close()
    return info.value, session, events


@pytest.fixture
def proxy_dir(qemu: Any) -> Path:
    d: Path = qemu.extra["dir"]
    return d


async def test_markup_and_escapes_are_kept_literally(qemu: Any, proxy_dir: Path) -> None:
    exc, session, events = await refused_through(proxy_dir, qemu, HOSTILE)
    assert exc.qemu_message == HOSTILE
    assert str(exc) == f"QEMU refused set-numa-node: {HOSTILE}"
    errors = [json.loads(e.text) for e in session.transcript.entries if e.kind == "error"]
    assert errors[-1]["error"]["desc"] == HOSTILE
    # the transcript line is JSON: no raw escape character reaches a terminal from it
    assert all("\x1b" not in e.text for e in session.transcript.entries)
    hostile_events = [e for e in events if e.get("event") == HOSTILE]
    assert hostile_events and hostile_events[0]["data"]["text"] == HOSTILE
    # the real QEMU was not touched by the refused move
    assert (await qemu.nodes())[session.topology.slots[0].key] == 0


async def test_a_one_megabyte_error_arrives_whole(qemu: Any, proxy_dir: Path) -> None:
    exc, _, _ = await refused_through(proxy_dir, qemu, HUGE)
    assert exc.qemu_message == HUGE
    assert len(str(exc)) > 1 << 20


async def test_the_line_under_the_grid_shows_qemu_text_literally() -> None:
    """Hovering a slot shows QEMU's CPU type there: never parsed as markup,
    cut with an ellipsis when longer than the line."""
    from textual.app import App, ComposeResult

    from numatui.tui.info_line import InfoLine

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield InfoLine(id="info")

    app = One()
    async with app.run_test(size=(24, 3)) as pilot:
        line = app.query_one(InfoLine)
        line.show("y" * 40 + " [bold red]x[/]")  # its start is cut (#25: the node and state stay)
        await pilot.pause()
        strip = line.render_line(0)
        assert strip.text.endswith("yyy [bold red]x[/]") and strip.text.startswith("…")
        assert strip.cell_length == 24
        line.show("short [b]")
        assert line.render_line(0).text == "short [b]".ljust(24)
