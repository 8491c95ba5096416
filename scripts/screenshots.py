#!/usr/bin/env python3
"""Regenerate screenshots/*.svg and *.png of numatui's main screens.

Starts its own QEMU in preconfig (numatui's launcher: q35, 2 sockets x 2
cores x 2 threads, 4 of 8 CPUs present at boot, 2 nodes of 1G), drives the
real app through Textual's ``run_test`` and saves an SVG per screen;
``rsvg-convert`` (librsvg2-bin, with fonts-firacode installed) makes the PNGs.

    .venv/bin/python scripts/screenshots.py [OUTDIR]
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid
from numatui.tui.nodes import NodesPanel

SIZE = (100, 30)
SMP = "4,maxcpus=8,sockets=2,cores=2,threads=2"


async def shoot(app: NumaApp, pilot: Any, outdir: Path, name: str) -> Path:
    await app.settled()
    await pilot.pause()
    path = outdir / f"{name}.svg"
    # librsvg drops the leading spaces of a text run unless told to keep them
    svg = app.export_screenshot(title="numatui").replace("<svg ", '<svg xml:space="preserve" ', 1)
    path.write_text(svg, encoding="utf-8")
    print(f"wrote {path}")
    return path


async def drag_shot(app: NumaApp, pilot: Any, outdir: Path) -> Path:
    """Two unassigned slots dragged over node 1 (then cancelled: the mapping stays)."""
    grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)

    def cell(slot: int) -> tuple[int, int]:
        row, x = grid.grid_layout.position[slot]
        return (x + 1 - grid.scroll_offset.x, row - grid.scroll_offset.y)

    await pilot.click(grid, offset=cell(7), control=True)  # slots 6 and 7 selected
    await pilot.mouse_down(grid, offset=cell(7))
    await pilot.hover(grid, offset=(cell(7)[0] + 6, cell(7)[1] + 2))
    region = nodes.region  # the panel line a drop finds node 1 on
    line = next(y for y in range(region.height) if nodes.drop_target_at(region.x + 4, region.y + y) == 1)
    await pilot.hover(nodes, offset=(6, line))
    path = await shoot(app, pilot, outdir, "drag")
    await pilot.press("escape")  # cancel: nothing is sent
    await pilot.mouse_up(nodes, offset=(6, line))
    await pilot.press("escape", "end", "left", "space")  # the selection as it was
    return path


async def main(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(smp=SMP)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    masks = {str(launcher.address): "unix:/run/user/1000/numatui/qmp.sock"}
    if launcher.directory is not None:
        masks[str(launcher.directory)] = "/run/user/1000/numatui"
    if launcher.pid is not None:
        masks[f"pid {launcher.pid}"] = "pid 4242"
    app = NumaApp(session, mask=masks)
    shots: list[Path] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s", "0")  # socket 0 -> node 0
            await pilot.press("j", "h", "right", "c", "1")  # socket 1 core 0 -> node 1
            await app.settled()
            await pilot.press("end", "left", "space")  # cursor and a selection left over
            shots.append(await shoot(app, pilot, outdir, "preconfig"))
            shots.append(await drag_shot(app, pilot, outdir))
            await pilot.press("question_mark")
            shots.append(await shoot(app, pilot, outdir, "help"))
            await pilot.press("escape", "l")
            shots.append(await shoot(app, pilot, outdir, "qmp-log"))
            await pilot.press("l", "X")
            shots.append(await shoot(app, pilot, outdir, "exit-dialog"))
            await pilot.press("enter")
            await pilot.press("escape")
            await app.settled()
            await pilot.press("home", *["right"] * 4, "p")  # hot-plug socket 1 core 0 thread 0
            await app.settled()
            await pilot.press("right", "right")  # the cursor on an empty slot
            app.clear_notifications()
            shots.append(await shoot(app, pilot, outdir, "running"))
    finally:
        await session.close()
        await launcher.stop()
    return shots


async def distances(outdir: Path) -> Path:
    """The distance editor on a QEMU of its own with 3 nodes (the other shots keep 2)."""
    launcher = Launcher(smp=SMP, nodes=3)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    masks = {str(launcher.address): "unix:/run/user/1000/numatui/qmp.sock"}
    if launcher.pid is not None:
        masks[f"pid {launcher.pid}"] = "pid 4242"
    app = NumaApp(session, mask=masks)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s", "0", "j", "s", "1")  # socket 0 -> node 0, socket 1 -> node 1
            await app.settled()
            await pilot.press("d", "right", "1", "5", "enter")  # 0 <-> 1 = 15
            await app.settled()
            await pilot.press("f")  # every unset pair: 20 (one way; QEMU mirrors it)
            await app.settled()
            await pilot.press("down", "down", "u", "2", "5", "enter")  # 2 -> 1 = 25, one way
            await app.settled()
            await pilot.press("f")  # asymmetric now: QEMU needs every direction
            await app.settled()
            # open it again: the screen below repaints without the busy text of the last step
            await pilot.press("escape", "d", "down", "down", "right")  # the cursor on 2 -> 1
            app.clear_notifications()
            return await shoot(app, pilot, outdir, "distances")
    finally:
        await session.close()
        await launcher.stop()


async def host(outdir: Path) -> Path:
    """The host panel (H) after the "host" preset (node 0 bound, by relaunch) and boot (pinned)."""
    launcher = Launcher(smp=SMP, nodes=2)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    app = NumaApp(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app.vm.apply_plan(app.vm.preset_plan("host"), lambda _: None)
            masks = {str(session.address): "unix:/run/user/1000/numatui/qmp.sock"}
            if app.vm.launcher is not None and app.vm.launcher.pid is not None:
                masks[f"pid {app.vm.launcher.pid}"] = "pid 4242"
            app._masks = masks
            app.sync()
            await pilot.press("X")
            await app.settled()
            await pilot.press("enter")
            await app.settled()
            await pilot.press("H")
            app.clear_notifications()
            return await shoot(app, pilot, outdir, "host")
    finally:
        await session.close()
        for lch in {id(x): x for x in (launcher, session.launcher) if x is not None}.values():
            await lch.stop()


#: Screens whose snapshot tests already drive them on a real QEMU (tests/__snapshots__):
#: copied, so the README shows exactly what the tests check.
FROM_SNAPSHOTS = {
    "hmat": "test_hmat_tui/test_hmat_editor_snapshot.svg",
    "presets": "test_tui_navigation/test_preset_chooser_snapshot.svg",
    "overview": "test_tui_navigation/test_overview_snapshot.svg",
    "big-80x24": "test_tui_snapshots/test_big_vm_at_80x24.svg",
    "wide-200x60": "test_tui_snapshots/test_wide_with_log_beside_the_panel.svg",
}


def from_snapshots(outdir: Path) -> list[Path]:
    snapshots = Path(__file__).parent.parent / "tests" / "__snapshots__"
    out = []
    for name, rel in FROM_SNAPSHOTS.items():
        svg = outdir / f"{name}.svg"
        text = (snapshots / rel).read_text()
        if 'xml:space="preserve"' not in text:  # rsvg-convert drops leading spaces otherwise
            text = text.replace("<svg ", '<svg xml:space="preserve" ', 1)
        svg.write_text(text)
        out.append(svg)
    return out


def to_png(svg: Path) -> None:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert not found (apt-get install librsvg2-bin fonts-firacode): SVG only")
        return
    png = svg.with_suffix(".png")
    subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
    print(f"wrote {png}")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "screenshots"
    for svg in [*asyncio.run(main(out)), asyncio.run(distances(out)), asyncio.run(host(out)),
                *from_snapshots(out)]:
        to_png(svg)
