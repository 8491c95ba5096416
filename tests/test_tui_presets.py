"""Presets in the TUI (issue 17, item 2): ``P`` opens the chooser, and the
keystrokes a whole-machine layout takes are counted here (the README's Keys
section quotes them).  QEMU's mapping is read through the test's second monitor.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from conftest import numa_node_args, until
from tui_helpers import Notes, settle

from numatui.core.presets import choices
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.commands import numatui_commands
from numatui.tui.preset_chooser import PresetChooser, hotkeys

BIG_ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "240,sockets=8,cores=15,threads=2", "-m", "2G", *numa_node_args(8, 2048)]
HUGE_ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
             "-smp", "4096,sockets=16,cores=128,threads=2", "-m", "4G", *numa_node_args(16, 4096)]


def by_socket(nodes: dict[Any, int | None]) -> dict[int, set[int | None]]:
    out: dict[int, set[int | None]] = {}
    for key, node in nodes.items():
        out.setdefault(dict(key)["socket-id"], set()).add(node)
    return out


async def type_keys(app: NumaApp, pilot: Any, keys: list[str]) -> int:
    """Press ``keys`` one by one (each a keystroke); returns how many."""
    for key in keys:
        await pilot.press(key)
        if key == "P":
            await until(lambda: isinstance(app.screen, PresetChooser), 10, "the chooser")
            await pilot.pause()
    await until(lambda: not isinstance(app.screen, PresetChooser), 10, "the chooser closed")
    await settle(app, pilot)
    return len(keys)


async def test_socket_per_node_on_240_vcpus_in_two_keys(qemu_factory: Any) -> None:
    q = qemu_factory(BIG_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            count = await type_keys(app, pilot, ["P", "enter"])
            assert count <= 3
            assert by_socket(await q.nodes()) == {i: {i} for i in range(8)}
    finally:
        await session.close()


async def test_letter_then_enter_and_split_onto_four(qemu_factory: Any) -> None:
    q = qemu_factory(BIG_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            keys = ["P", hotkeys([c.name for c in choices(session, None)])["split"], "4"]
            assert await type_keys(app, pilot, keys) <= 3
            nodes = await q.nodes()
            assert Counter(nodes.values()) == {0: 60, 1: 60, 2: 60, 3: 60}
            assert all(len(ns) == 1 for ns in by_socket(nodes).values())  # whole sockets
    finally:
        await session.close()


async def test_preset_needing_more_nodes_says_so_and_adds_them(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("P")
            await until(lambda: isinstance(app.screen, PresetChooser), 10, "the chooser")
            chooser = app.screen
            assert isinstance(chooser, PresetChooser)
            die = next(c for c in chooser.choices if c.name == "die")
            assert die.refused is not None and "die" in die.refused  # q35 here has no dies
            key = chooser.keys["interleave"]
            await pilot.press(key, "4")  # core k on node k mod 4: nodes 2 and 3 are added
            await until(lambda: not isinstance(app.screen, PresetChooser), 10, "closed")
            await settle(app, pilot)
            nodes = await qemu.nodes()
            assert sorted({v for v in nodes.values() if v is not None}) == [0, 1, 2, 3]
            for k, v in nodes.items():
                core = dict(k)["socket-id"] * 2 + dict(k)["core-id"]
                assert v == core % 4
            assert {n.id for n in session.nodes} == {0, 1, 2, 3}
    finally:
        await session.close()


async def test_socket_preset_row_says_how_many_nodes_it_adds(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                      "-smp", "8,sockets=4,cores=1,threads=2", "-m", "2G", *numa_node_args(2, 2048)])
    session = await Session.connect(q.sock, nodes=2)
    try:
        socket = next(c for c in choices(session, None) if c.name == "socket")
        assert socket.missing == 2 and not socket.fits
    finally:
        await session.close()


async def test_palette_has_one_entry_per_preset_and_escape_sends_nothing(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            notes = Notes(app)
            titles = [c.title for c in numatui_commands(app.vm, lambda a: None, lambda a: None)]
            for name in ("socket", "split", "interleave"):
                assert f"Preset: {name}" in titles
            await pilot.press("P")
            await until(lambda: isinstance(app.screen, PresetChooser), 10, "the chooser")
            await pilot.press("escape")
            await settle(app, pilot)
            assert set((await qemu.nodes()).values()) == {None}
            app.action_apply_preset("socket")  # what the palette entry runs
            await until(lambda: None not in session.topology.mapping().values(), 10, "mapped")
            await settle(app, pilot)
            assert by_socket(await qemu.nodes()) == {0: {0}, 1: {1}}
            assert "8 vCPUs on 2 node(s)" in notes.text()
    finally:
        await session.close()


@pytest.mark.skipif(os.environ.get("NUMATUI_TEST_QEMU") != "10.0",
                    reason="4096 vCPUs need QEMU >= 9.0: run with NUMATUI_TEST_QEMU=10.0")
async def test_4096_vcpus_socket_per_node_and_split_onto_four(qemu_factory: Any) -> None:
    q = qemu_factory(HUGE_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            assert await type_keys(app, pilot, ["P", "enter"]) <= 3
            assert by_socket(await q.nodes()) == {i: {i} for i in range(16)}
    finally:
        await session.close()
    q2 = qemu_factory(HUGE_ARGS)
    session = await Session.connect(q2.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            keys = ["P", hotkeys([c.name for c in choices(session, None)])["split"], "4"]
            assert await type_keys(app, pilot, keys) <= 3
            assert Counter((await q2.nodes()).values()) == {0: 1024, 1: 1024, 2: 1024, 3: 1024}
    finally:
        await session.close()
