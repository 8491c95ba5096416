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

SIZE = (100, 30)
SMP = "4,maxcpus=8,sockets=2,cores=2,threads=2"


async def shoot(app: NumaApp, pilot: Any, outdir: Path, name: str) -> Path:
    await app.workers.wait_for_complete()
    await pilot.pause()
    path = outdir / f"{name}.svg"
    # librsvg drops the leading spaces of a text run unless told to keep them
    svg = app.export_screenshot(title="numatui").replace("<svg ", '<svg xml:space="preserve" ', 1)
    path.write_text(svg, encoding="utf-8")
    print(f"wrote {path}")
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
            await app.workers.wait_for_complete()
            await pilot.press("end", "left", "space")  # cursor and a selection left over
            shots.append(await shoot(app, pilot, outdir, "preconfig"))
            await pilot.press("question_mark")
            shots.append(await shoot(app, pilot, outdir, "help"))
            await pilot.press("escape", "l")
            shots.append(await shoot(app, pilot, outdir, "qmp-log"))
            await pilot.press("l", "X")
            shots.append(await shoot(app, pilot, outdir, "exit-dialog"))
            await pilot.press("enter")
            await pilot.press("escape")
            shots.append(await shoot(app, pilot, outdir, "running"))
    finally:
        await session.close()
        await launcher.stop()
    return shots


def to_png(svg: Path) -> None:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert not found (apt-get install librsvg2-bin fonts-firacode): SVG only")
        return
    png = svg.with_suffix(".png")
    subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
    print(f"wrote {png}")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "screenshots"
    for svg in asyncio.run(main(out)):
        to_png(svg)
