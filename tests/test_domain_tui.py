"""``numatui domain`` in the TUI, driven like a user: map, Save to domain, quit.

The saved domain is then judged by libvirt and QEMU (its ``domxml-to-native``
argv started in a fresh QEMU reports each slot's node), not by numatui.
"""

from __future__ import annotations

import asyncio
import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import session_on
from libvirt_fixtures import (
    URI,
    libvirtd,  # noqa: F401 (the fixture, used by name)
)
from test_domain import REALISTIC, WANT, _native, _oracle_args, _slot_nodes
from tui_helpers import Notes, settle

from numatui.cli.domain import scratch_launcher
from numatui.core.domain import DomainTarget, domain_plan
from numatui.core.keeper import Keeper
from numatui.core.vm import Vm
from numatui.model.domain_xml import read_domain
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.confirm import ConfirmDialog


@asynccontextmanager
async def domain_app(target: DomainTarget) -> AsyncIterator[tuple[NumaApp, Any, Notes]]:
    """The TUI on ``target``'s scratch QEMU, its cells mapped as the domain has them."""
    launcher, scratch = scratch_launcher(target.domain, URI, None)
    async with session_on(launcher) as session:
        plan = domain_plan(session.topology, scratch.cell_cpus, None, scratch.hmat)
        await Vm(session).apply_plan(plan, lambda _: None)
        app = NumaApp(session, keeper=Keeper(session), domain=target)
        async with app.run_test(size=(140, 44)) as pilot:
            yield app, pilot, Notes(app)


@pytest.mark.usefixtures("libvirtd")
async def test_map_save_quit(qemu_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    target = DomainTarget(read_domain(REALISTIC.read_text(), str(REALISTIC)), uri=URI,
                          path=str(REALISTIC), output=str(out))
    async with domain_app(target) as (app, pilot, notes):
        # socket 0 (cells 0: vCPUs 0-3) to node 1, then socket 1 to node 0: moves, relaunched
        await pilot.press("s", "1", "escape", "right_square_bracket", "s", "0")
        await settle(app, pilot)
        assert not out.exists()
        await pilot.press("q")  # unsaved: asks, and "n" stays
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.click("#cmd-save")  # the button (ctrl+s is the key)
        await settle(app, pilot)
        assert out.exists(), notes.text()
        await pilot.press("q")  # saved: no question
        await settle(app, pilot)
    assert app.return_value == app.vm.quit_text()  # saved to a file: q prints the -numa options
    saved = ET.fromstring(out.read_text())
    cells_out = {c.get("id"): c.get("cpus") for c in saved.findall("cpu/numa/cell")}
    assert cells_out == {"0": "4-7", "1": "0-3"}, notes.text()
    assert await _slot_nodes(qemu_factory, _oracle_args(_native(URI, out))) == WANT


@pytest.mark.usefixtures("libvirtd")
def test_snapshot_of_a_domain_saved(snap_compare: Any, tmp_path: Path) -> None:
    """The TUI on the realistic domain (its cells mapped from the start), after
    Save to domain (ctrl+s): the button beside Exit preconfig, the notice."""
    fixed = Path("/tmp/numatui-domain-snapshot")  # the notice names it: the same on every run
    fixed.mkdir(exist_ok=True)
    out = fixed / "new.xml"
    target = DomainTarget(read_domain(REALISTIC.read_text(), str(REALISTIC)), uri=URI,
                          path=str(REALISTIC), output=str(out))
    launcher, scratch = scratch_launcher(target.domain, URI, None)
    asyncio.run(launcher.start())
    try:
        session = Session(launcher.address, launcher=launcher, qemu_argv=launcher.user_argv)
        mask = {str(launcher.address.path): "/run/numatui/vm.qmp",
                f"pid {launcher.pid}": "pid 4242"}
        app = NumaApp(session, keeper=Keeper(session), domain=target, mask=mask)

        async def run_before(pilot: Any) -> None:
            await session.reconnect()
            plan = domain_plan(session.topology, scratch.cell_cpus, None, scratch.hmat)
            await Vm(session).apply_plan(plan, lambda _: None)
            app.sync()
            await pilot.press("ctrl+s")
            await settle(app, pilot)

        assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
        saved = ET.fromstring(out.read_text())
        cells = {c.get("id"): c.get("cpus") for c in saved.findall("cpu/numa/cell")}
        assert cells == {"0": "0-3", "1": "4-7"}  # the domain's own layout, saved by ctrl+s
    finally:
        asyncio.run(launcher.stop())
        shutil.rmtree(fixed, ignore_errors=True)


@pytest.mark.usefixtures("libvirtd")
async def test_ctrl_s_defines_a_domain_opened_by_name(tmp_path: Path) -> None:
    """A domain read from libvirtd by name: ctrl+s redefines it there (virsh
    dumpxml shows the move), and q then quits without asking."""
    from libvirt_fixtures import PREFIX, undefine, virsh
    from test_domain import DEFINED

    from numatui.session import libvirt

    name = f"{PREFIX}tui"
    src = tmp_path / "d.xml"
    src.write_text(DEFINED.format(name=name).replace(
        "    <topology sockets='2' cores='2' threads='2'/>\n",
        "    <topology sockets='2' cores='2' threads='2'/>\n    <numa>\n"
        "      <cell id='0' cpus='0-3' memory='1048576' unit='KiB'/>\n"
        "      <cell id='1' cpus='4-7' memory='1048576' unit='KiB'/>\n    </numa>\n"))
    undefine(name)
    virsh("define", str(src))
    target = DomainTarget(read_domain(libvirt.dumpxml(URI, name), name), uri=URI, name=name, define=True)
    async with domain_app(target) as (app, pilot, notes):
        await pilot.press("right_square_bracket", "s", "0")  # socket 1 joins socket 0 on node 0
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert f"defined {name} on {URI}" in notes.text(), notes.text()
        await pilot.press("q")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmDialog)
    dumped = ET.fromstring(virsh("dumpxml", "--inactive", name).stdout)
    cells = {c.get("id"): c.get("cpus") for c in dumped.findall("cpu/numa/cell")}
    assert cells == {"0": "0-7", "1": None}
    undefine(name)
