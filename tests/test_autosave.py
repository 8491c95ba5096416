"""Autosave and resume: the plan on disk equals QEMU's mapping after every
step (real QEMU), and ``launch_with_plan`` restores it in a fresh QEMU."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from numatui.core.autosave import (
    Autosaver,
    SavedStateError,
    find,
    list_saved,
    load,
    save,
    state_dir,
    state_key,
    vm_name,
    write_atomic,
)
from numatui.core.keeper import Keeper
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.qemu_args import load_plan
from numatui.model.topology import SlotKey, Topology
from numatui.session.launcher import Launcher
from numatui.session.replay import launch_with_plan
from numatui.session.session import Session

ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "8,sockets=2,cores=2,threads=2",
        "-m", "2G", "-name", "guest=web1,debug-threads=on"]
PLAN = Plan.from_dict({"cpus": [{"node-id": 1, "socket-id": 0}]})


# -- files ---------------------------------------------------------------------------
def test_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "numatui"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")  # the XDG spec says so
    assert state_dir() == Path.home() / ".local/state/numatui"


def test_names_do_not_collide() -> None:
    a = ["qemu-system-x86_64", "-name", "web1", "-smp", "4"]
    b = ["qemu-system-x86_64", "-name", "web1", "-smp", "8"]
    assert vm_name(a) == "web1" and vm_name(["q", *ARGS]) == "web1"
    assert state_key(a).startswith("web1-") and state_key(a) != state_key(b)
    assert state_key(None, "unix:/a") != state_key(None, "unix:/b")
    assert state_key(["q", "-name", "../../etc/passwd x"]).startswith("etc_passwd_x-")
    # what numatui's launcher adds and the plan's own options do not change the key
    launched = [*a, "--preconfig", "-qmp", "unix:/tmp/numatui-abc/qmp.sock,server=on,wait=off",
                "-numa", "cpu,node-id=0,socket-id=0"]
    assert state_key(launched) == state_key(a)


def test_save_is_atomic_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state" / "vm-1.json"
    saved = save(path, PLAN, argv=["qemu-system-x86_64", "-name", "x"], launched=True, address="unix:/s")
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert os.listdir(path.parent) == ["vm-1.json"]  # no temporary file left
    data = json.loads(path.read_text())
    assert set(data) == {"version", "name", "argv", "qemu_argv", "plan", "saved", "launched", "address"}
    assert data["version"] == 1 and data["name"] == "x" and data["plan"] == PLAN.to_dict()
    assert load(path) == saved
    # numatui apply takes the saved file: the plan is under "plan"
    assert load_plan(path.read_text()) == PLAN


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vm.json"
    write_atomic(path, "old\n")

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["vm.json"]


def test_find_by_name_key_or_newest(tmp_path: Path) -> None:
    with pytest.raises(SavedStateError, match="nothing to resume"):
        find(None, tmp_path)
    one = save(tmp_path / "web1-aaaa.json", PLAN, argv=["qemu-system-x86_64", "-name", "web1"], launched=True)
    two = save(tmp_path / "vm-bbbb.json", PLAN, argv=["qemu-system-x86_64"], launched=True)
    os.utime(one.path, (1, 1))
    save(tmp_path / "attached-cccc.json", PLAN, argv=None)  # no argv: not resumable
    (tmp_path / "junk.json").write_text("{not json")
    assert sorted(s.key for s in list_saved(tmp_path)) == ["attached-cccc", "vm-bbbb", "web1-aaaa"]
    assert find(None, tmp_path).path == two.path  # the newest with QEMU arguments
    assert find("web1", tmp_path).path == one.path
    assert find("vm-bbbb", tmp_path).path == two.path
    assert find("vm-b", tmp_path).path == two.path
    assert find(str(one.path), tmp_path).path == one.path
    with pytest.raises(SavedStateError, match=r"no saved state 'db2'.*web1-aaaa"):
        find("db2", tmp_path)


@pytest.mark.parametrize("text, match", [
    ("{", "not JSON"),
    ('{"cpus": []}', "no \"plan\""),
    ('{"version": 1, "plan": {"cpus": [{"node-id": 999}]}}', "out of range"),
    ('{"version": 2, "plan": {}}', "version 2"),
    ('{"version": 1, "plan": {}, "argv": "qemu -m 1G"}', "list of strings"),
])
def test_bad_saved_files_are_one_numa_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(NumaError, match=match):
        load(path)


# -- real QEMU -------------------------------------------------------------------------
def live(session: Session) -> dict[SlotKey, int]:
    return {k: v for k, v in session.topology.mapping().items() if v is not None}


async def qemu_mapping(session: Session) -> dict[SlotKey, int]:
    """QEMU's own word (a raw query-hotpluggable-cpus)."""
    topo = Topology.from_hotpluggable(await session.execute("query-hotpluggable-cpus"))
    return {k: v for k, v in topo.mapping().items() if v is not None}


async def test_autosave_follows_every_step_and_resume_restores_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    launcher = Launcher(extra_args=ARGS)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    resumed: Session | None = None
    try:
        saver = Autosaver.for_session(session)
        assert saver.path.parent == tmp_path / "numatui" and saver.path.name.startswith("web1-")
        keeper = Keeper(session, save=saver.save_session)
        keeper.autosave()

        async def on_disk_is_live() -> None:
            state = load(saver.path)
            assert state.plan == session.plan()
            assert state.plan.resolve(session.topology) == await qemu_mapping(session)
            assert state.launched and state.argv == launcher.user_argv[: len(state.argv)]

        await on_disk_is_live()
        topo = session.topology
        s0 = [s.key for s in topo.slots if s.key[0] == ("socket-id", 0)]
        s1 = [s.key for s in topo.slots if s.key[0] == ("socket-id", 1)]
        await session.assign(s0, 0)
        await on_disk_is_live()
        await session.add_node(2)
        await on_disk_is_live()
        await session.assign(s1[:2], 2)
        await on_disk_is_live()
        await session.set_distance(0, 2, 30)
        await on_disk_is_live()
        await keeper.move(s0[:1], 2)  # relaunch
        await on_disk_is_live()
        await keeper.undo()  # relaunch
        await on_disk_is_live()
        final = await qemu_mapping(session)
        saved = find("web1")
        assert saved.path == saver.path

        # resume in a fresh QEMU, as `numatui launch --resume web1` does
        assert saved.argv is not None
        resumed = await launch_with_plan(saved.argv, saved.plan)
        assert await qemu_mapping(resumed) == final
        assert [n.id for n in resumed.nodes] == [0, 1, 2]
        assert {(d.src, d.dst, d.val) for d in resumed.distances} == {(0, 2, 30)}
        assert resumed.plan() == saved.plan
    finally:
        if resumed is not None:
            await resumed.close()
        await session.close()
        await launcher.stop()


def test_numatui_apply_takes_the_saved_file(qemu: Any, tmp_path: Path) -> None:
    import asyncio
    import io

    from numatui.cli import main

    path = tmp_path / "web1-0000.json"
    save(path, Plan.from_dict({"cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}),
         argv=["qemu-system-x86_64", "-name", "web1"], launched=True)
    out, err = io.StringIO(), io.StringIO()
    assert main(["apply", qemu.sock, str(path)], stdout=out, stderr=err) == 0, err.getvalue()
    nodes = asyncio.run(qemu.nodes())
    assert {v for k, v in nodes.items() if k[0] == ("socket-id", 0)} == {1}
    assert {v for k, v in nodes.items() if k[0] == ("socket-id", 1)} == {0}


def test_launch_resume_restores_the_saved_plan_in_a_fresh_qemu() -> None:
    import io

    from numatui.cli import main

    argv = ["qemu-system-x86_64", *ARGS, "-display", "none"]
    plan = Plan.from_dict({"nodes": [{"id": 0}, {"id": 1}, {"id": 2}],
                           "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 2, "socket-id": 1}]})
    save(state_dir() / f"{state_key(argv)}.json", plan, argv=argv, launched=True)
    out, err = io.StringIO(), io.StringIO()
    assert main(["launch", "--resume", "web1", "--no-tui"], stdout=out, stderr=err) == 0, err.getvalue()
    assert "numatui: resuming web1-" in err.getvalue()
    text = out.getvalue()
    # printed from what the resumed QEMU reports (query-hotpluggable-cpus)
    assert "-numa cpu,node-id=1,socket-id=0\n-numa cpu,node-id=2,socket-id=1\n" in text
    # the resumed session keeps saving to the same file
    assert load(find("web1").path).plan.cpus == plan.cpus
    # nothing to resume by that name: one line, exit 2
    err = io.StringIO()
    assert main(["launch", "--resume", "db2", "--no-tui"], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith("numatui: no saved state 'db2'")
    err = io.StringIO()
    assert main(["launch", "--resume", "--smp", "4", "--no-tui"], stdout=io.StringIO(), stderr=err) == 2
    assert "give no QEMU args" in err.getvalue()
