"""Resume brings the undo history back and says so (#25 item 9): the state
file keeps the last 50 steps (fewer when they would pass HISTORY_BYTES),
``numatui launch --resume`` restores them, ctrl+z then relaunches QEMU with
the plan before the last change; a file without a history still resumes."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from test_autosave import ARGS, qemu_mapping
from test_numa_nodes_tui import press

from numatui.cli.launch import _resume, make_vm
from numatui.core.autosave import HISTORY_BYTES, SavedStateError, find, history_dict, load, save
from numatui.model.errors import NumaError
from numatui.model.history import History
from numatui.model.plan import Plan
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.status import StatusBar


def plan_on(node: int) -> Plan:
    return Plan.from_dict({"cpus": [{"node-id": node, "socket-id": 0}]})


def test_the_saved_history_is_bounded_and_round_trips(tmp_path: Path) -> None:
    history = History(Plan(), "start")
    for i in range(120):
        history.push(plan_on(i % 2), f"step {i}")
    history.undo()
    saved = history_dict(history)
    assert saved is not None and len(saved["states"]) == 50 and saved["position"] == 48
    back = History.from_dict(json.loads(json.dumps(saved)))
    assert back.undo_description() == "step 118" and back.redo_description() == "step 119"
    small = history_dict(history, budget=len(json.dumps(saved)) // 3)
    assert small is not None and 2 <= len(small["states"]) < 50
    assert history_dict(History(Plan())) is None  # nothing to undo: nothing saved
    path = tmp_path / "st" / "vm-1.json"
    state = save(path, history.current, argv=["qemu-system-x86_64"], launched=True, history=history)
    assert path.stat().st_size < HISTORY_BYTES + 4096
    assert load(path).undo_history() is not None and state.history == saved
    # a history is data: a broken one is refused in one line naming the file
    raw = json.loads(path.read_text())
    raw["history"]["position"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(SavedStateError, match=r"vm-1\.json: history: \"position\""):
        load(path)
    with pytest.raises(NumaError, match="states"):
        History.from_dict({"position": 0, "states": [{"description": "x", "plan": {}}]})


@pytest.mark.qemu
async def test_resume_brings_the_undo_history_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    launcher = Launcher(extra_args=ARGS)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        vm = make_vm(session)
        async with NumaApp(session, keeper=vm.keeper).run_test(size=(100, 30)) as pilot:
            await press(pilot.app, pilot, "s", "0", "j", "s", "1")  # two changes, each autosaved
        first = {k: v for k, v in (await qemu_mapping(session)).items() if k[0] == ("socket-id", 0)}
        assert set(first.values()) == {0} and len(await qemu_mapping(session)) == 8
    finally:
        await session.close()
        await launcher.stop()

    args = argparse.Namespace(resume="web1", qemu_args=[], smp=None, memory=None, timeout=60.0,
                              keep_running=False, log=None)
    session, launcher, state = await _resume(args, io.StringIO())
    try:
        assert len(await qemu_mapping(session)) == 8  # the plan replayed
        vm = make_vm(session, state.path, resumed=state)
        app = NumaApp(session, keeper=vm.keeper)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            line = str(app.query_one(StatusBar).render())
            assert f"resumed {state.key}" in line
            await press(app, pilot, "ctrl+z")
            assert await qemu_mapping(session) == first  # the first change, in a new QEMU
            assert vm.keeper.history.undo_description() is not None  # and further back still
            assert vm.keeper.history.redo_description() == "socket 1 -> node 1"
        assert load(find("web1").path).undo_history() is not None  # saved again after the undo
    finally:
        await session.close()
        current = session.launcher
        await launcher.stop()
        if isinstance(current, Launcher) and current is not launcher:
            await current.stop()
