"""Keys typed in one burst act in order, each on the state it was pressed in
(issue 17, item 1), against real QEMU.

A burst is every key event handed to the app's driver at once, before the
app handled the first (faster than any typist; what a paste or a busy
machine does), and also Pilot's ``press`` of several keys.  What QEMU holds
is read through the test's second monitor (``qemu.nodes()``).
"""

from __future__ import annotations

import json
from typing import Any

from conftest import numa_node_args, until
from textual import events
from textual.keys import _character_to_key
from tui_helpers import Notes, settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.distance_editor import DistanceEditor

BIG_ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "240,sockets=8,cores=15,threads=2", "-m", "2G", *numa_node_args(8, 2048)]


def burst(app: NumaApp, *keys: str) -> None:
    """Hand every key to the driver at once (no wait between them)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        event = events.Key(name, key if len(key) == 1 else None)
        event.set_sender(app)
        driver.send_message(event)


def by_socket(nodes: dict[Any, int | None]) -> dict[int, set[int | None]]:
    """socket-id -> the nodes its slots are on."""
    out: dict[int, set[int | None]] = {}
    for key, node in nodes.items():
        out.setdefault(dict(key)["socket-id"], set()).add(node)
    return out


async def drained(app: NumaApp, pilot: Any, done: Any, what: str) -> None:
    """Until ``done()`` holds in the app's session and no key is waiting."""
    await until(lambda: done() and not app.ctl.queued, 30, what)
    await settle(app, pilot)


def bare_commands(session: Session) -> list[Any]:
    """set-numa-node type cpu commands naming no topology prop (every slot)."""
    out = []
    for entry in session.transcript.entries:
        try:
            msg = json.loads(entry.text)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        args = msg.get("arguments") or {}
        if msg.get("execute") == "set-numa-node" and args.get("type") == "cpu" \
                and set(args) <= {"type", "node-id"}:
            out.append(args)
    return out


async def test_burst_socket_per_node_default_vm(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            notes = Notes(app)
            burst(app, "s", "0", "j", "s", "1")
            await drained(app, pilot, lambda: None not in session.topology.mapping().values(),
                          "every slot assigned")
            assert by_socket(await qemu.nodes()) == {0: {0}, 1: {1}}
            assert not [m for sev, m in notes.messages if sev == "error"], notes.text()
            assert app.grid.selection == set()
    finally:
        await session.close()


async def test_pilot_press_burst_default_vm(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s", "1", "j", "s", "0")
            await drained(app, pilot, lambda: None not in session.topology.mapping().values(),
                          "every slot assigned")
            assert by_socket(await qemu.nodes()) == {0: {1}, 1: {0}}
    finally:
        await session.close()


async def test_burst_on_240_vcpus_maps_socket_per_node(qemu_factory: Any) -> None:
    q = qemu_factory(BIG_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            keys: list[str] = []
            for i in range(8):
                keys += ["s", str(i), "]"]
            burst(app, *keys)
            await drained(app, pilot, lambda: None not in session.topology.mapping().values(),
                          "every slot assigned")
            assert by_socket(await q.nodes()) == {i: {i} for i in range(8)}
            assert bare_commands(session) == []
    finally:
        await session.close()


async def test_burst_of_selections_never_sends_a_bare_command(qemu_factory: Any) -> None:
    """Two sockets, then the rest: each digit takes only what was selected before it."""
    q = qemu_factory(BIG_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            burst(app, "s", "]", "s", "3", "]", "s", "]", "s", "]", "s", "4", "a", "5")
            await drained(app, pilot, lambda: None not in session.topology.mapping().values(),
                          "every slot assigned")
            assert by_socket(await q.nodes()) == {0: {3}, 1: {3}, 2: {4}, 3: {4}, 4: {4},
                                                   5: {5}, 6: {5}, 7: {5}}
            assert bare_commands(session) == []
    finally:
        await session.close()


async def test_refused_digit_gives_the_selection_back(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s", "7")  # no node 7: refused when it runs
            await settle(app, pilot)
            assert app.grid.selection == {0, 1, 2, 3}
            assert set((await qemu.nodes()).values()) == {None}
    finally:
        await session.close()


async def test_burst_during_a_move_by_relaunch(launched: Session) -> None:
    app = NumaApp(launched)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "0")
        await settle(app, pilot)
        first = launched.launcher
        # slot 0 to node 1 is a move (relaunch); the keys after it queue behind it
        burst(app, "space", "1", "]", "s", "1")
        await drained(app, pilot, lambda: launched.launcher is not first
                      and None not in launched.topology.mapping().values(), "the move and socket 1")
        await launched.refresh()
        mapping = launched.topology.mapping()
        slot0 = (("socket-id", 0), ("core-id", 0), ("thread-id", 0))
        assert mapping[slot0] == 1
        assert by_socket({k: v for k, v in mapping.items() if k != slot0}) == {0: {0}, 1: {1}}


async def test_distance_typed_in_a_burst_lands_whole(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("d")
            await until(lambda: isinstance(app.screen, DistanceEditor), 10, "the editor")
            await pilot.pause()
            burst(app, "right", "2", "1", "enter")
            await until(lambda: {(d.src, d.dst, d.val) for d in session.distances}
                        >= {(0, 1, 21), (1, 0, 21)}, 10, "distance 21 sent")
            await settle(app, pilot)
    finally:
        await session.close()
