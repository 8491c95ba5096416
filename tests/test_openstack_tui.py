"""The TUI's command-line panel shows the OpenStack flavor (``v`` cycles to it)
and ``y`` copies it; keys pressed in bursts, checked against what QEMU reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_openstack_model import specs_of
from tui_helpers import settle

from numatui.core.export import VIEWS
from numatui.model.topology import Topology
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import CommandPanel


@pytest.fixture
async def session(qemu: Any) -> Any:
    s = await Session.connect(qemu.sock, nodes=2)
    yield s
    await s.close()


async def test_v_reaches_the_flavor_and_y_copies_it(
    qemu: Any, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(CommandPanel)
        await pilot.press("s", "1", *"v" * list(VIEWS).index("openstack"))
        await settle(app, pilot)
        assert panel.view == "openstack"
        assert panel.text == ("(no OpenStack flavor: vCPUs 4-7 are on no node: nova puts every vCPU in one "
                              "cell; assign them, or use --format numa or cmdline)")
        await pilot.press("j", "s", "0", "y")
        await settle(app, pilot)
        topo = Topology.from_hotpluggable(await qemu.qmp("query-hotpluggable-cpus"))
        indexes = topo.cpu_indexes()
        cells: dict[int, list[int]] = {}
        for s in topo.slots:  # QEMU's nodes by cpu-index
            cells.setdefault(s.node_id, []).extend(indexes[s.key])  # type: ignore[arg-type]
        assert cells == {1: [0, 1, 2, 3], 0: [4, 5, 6, 7]}  # CPU 0 on node 1
        assert app.clipboard == panel.text
        specs = specs_of(app.clipboard)
        assert specs["hw:numa_cpus.0"] == "4-7" and specs["hw:numa_cpus.1"] == "0-3"
        assert specs["hw:numa_mem.0"] == specs["hw:numa_mem.1"] == "1024"
