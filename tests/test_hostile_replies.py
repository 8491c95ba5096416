"""Replies no QEMU sends (tests/fake_qmp.py's HostileProxy rewrites a real
QEMU's): a connect error in one line (exit 3), never "internal error"; a
malformed re-read after an accepted change is one line in the TUI and the
change is still autosaved; and a boot by another client is noticed."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fake_qmp import HostileProxy
from test_hostile_cli import assert_inert, numatui
from tui_helpers import Notes, settle

from numatui.core.autosave import Autosaver
from numatui.core.keeper import Keeper
from numatui.session.session import Session
from numatui.tui.app import NumaApp


def replace_reply(command: str, value: Any) -> Any:
    def rewrite(name: str, msg: dict[str, Any]) -> dict[str, Any]:
        if name == command and "return" in msg:
            msg["return"] = value(msg["return"]) if callable(value) else value
        return msg
    return rewrite


def slots_with(field: str, bad: Any) -> Any:
    def change(reply: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if field == "vcpus-count":
            reply[0]["vcpus-count"] = bad
        else:
            reply[0]["props"][field] = bad
        return reply
    return change


@pytest.mark.parametrize("command, value, words", [
    ("query-commands", {"not": "a list"}, "query-commands: malformed"),
    ("query-version", [7, 2, 0], "query-version: malformed"),
    ("query-memdev", [1, "m0"], "query-memdev: malformed"),
    ("query-hotpluggable-cpus", slots_with("socket-id", -1), "socket-id -1 is out of range"),
    ("query-hotpluggable-cpus", slots_with("vcpus-count", -4), "vcpus-count -4 is out of range"),
    ("query-hotpluggable-cpus", slots_with("vcpus-count", 10**12), "is out of range"),
    ("query-hotpluggable-cpus", slots_with("core-id", 1.5), "core-id is 1.5, not an integer"),
    ("query-hotpluggable-cpus", slots_with("thread-id", True), "thread-id is True, not an integer"),
], ids=["commands", "version", "memdev", "neg-id", "neg-vcpus", "1e12-vcpus", "float-id", "bool-id"])
async def test_malformed_replies_are_a_connect_error(qemu: Any, command: str, value: Any, words: str) -> None:
    path = Path(qemu.extra["dir"]) / "bad.sock"
    async with HostileProxy(path, qemu.sock, "refused", rewrite=replace_reply(command, value)):
        code, _out, err = await numatui("show", str(path), "--nodes", "2")
    assert code == 3, err
    assert_inert(err)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0] and words in lines[0], lines


async def test_a_malformed_reread_after_an_accepted_change_is_one_line_and_autosaved(
        qemu: Any, tmp_path: Path) -> None:
    accepted = asyncio.Event()

    def rewrite(name: str, msg: dict[str, Any]) -> dict[str, Any]:
        if name == "set-numa-node" and "return" in msg:
            accepted.set()
        elif name == "query-hotpluggable-cpus" and accepted.is_set() and "return" in msg:
            msg["return"][0]["props"] = "garbage"
        return msg

    path = Path(qemu.extra["dir"]) / "reread.sock"
    async with HostileProxy(path, qemu.sock, "refused", rewrite=rewrite):
        session = await Session.connect(str(path), nodes=2)
        saver = Autosaver(tmp_path / "vm.json")
        keeper = Keeper(session, save=saver.save_session)
        keeper.autosave()
        app = NumaApp(session, keeper=keeper)
        notes = Notes(app, inert=True)
        try:
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("0")  # the cursor slot to node 0: QEMU accepts
                await settle(app, pilot)
                assert app.is_running
                errors = [m for sev, m in notes.messages if sev == "error"]
                assert len(errors) == 1 and "malformed" in errors[0] and "\n" not in errors[0].strip()
        finally:
            await session.close()
    first = session.topology.slots[0].key
    assert (await qemu.nodes())[first] == 0  # QEMU has it
    saved = json.loads((tmp_path / "vm.json").read_text())
    assert saved["plan"]["cpus"], saved  # ... and so does the autosave


async def test_a_boot_by_another_client_is_reread(session: Session, qemu: Any) -> None:
    assert not any(s.present for s in session.topology.slots)
    await qemu.qmp("x-exit-preconfig")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(s.present for s in session.topology.slots):
        await asyncio.sleep(0.05)
    present = [s for s in session.topology.slots if s.present]
    assert present, "numatui still shows every CPU as an empty slot after another client booted"
    reply = await qemu.qmp("query-hotpluggable-cpus")
    assert len(present) == sum(1 for e in reply if "qom-path" in e)
