"""Each action checks once (issue 27, item 3): a ``Vm`` action decides inside
and raises the application layer's own error, ActionRefused (NothingToDo for
an empty history), never a session error; nothing reaches QEMU, as the
test's own monitor shows; the faces tell by the type, not by the text."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Qemu, socket
from tui_helpers import settle

from numatui.cli.run import describe_error
from numatui.core.errors import ActionRefused, NothingToDo
from numatui.core.vm import Vm
from numatui.session.errors import SessionError
from numatui.session.session import Session
from numatui.tui.app import NumaApp


async def test_a_refused_action_raises_a_core_error_and_sends_nothing(qemu: Qemu, session: Session) -> None:
    vm = Vm(session)
    before = await qemu.nodes()
    sent = session.transcript.count()
    with pytest.raises(ActionRefused, match="Node 7 does not exist") as refused:
        await vm.assign(socket(session.topology, 0), 7)
    assert not isinstance(refused.value, SessionError)
    with pytest.raises(NothingToDo, match="Nothing to undo"):
        await vm.undo()
    with pytest.raises(ActionRefused, match="QEMU is connected"):
        await vm.relaunch_or_reconnect()
    assert session.transcript.count() == sent  # not one command went out
    assert await qemu.nodes() == before
    assert describe_error(refused.value)[0] == 2  # the CLI: numatui refused, input to change


async def test_the_tui_says_a_refusal_by_its_type(qemu: Qemu, session: Session) -> None:
    """ctrl+z with nothing to undo is a quiet notice with no title; a digit to a
    missing node is refused by the Vm when its turn comes, and gives the
    selection back; QEMU's mapping stays as it was."""
    app = NumaApp(Vm(session))
    shown: list[tuple[str, str]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        original = app.notify

        def notify(message: str, *, title: str = "", **kwargs: Any) -> None:
            shown.append((title, message))
            original(message, title=title, **kwargs)

        app.notify = notify  # type: ignore[method-assign]
        await pilot.press("ctrl+z", "s", "7")
        await settle(app, pilot)
        assert ("", "Nothing to undo.") in shown
        assert any(m.startswith("Node 7 does not exist") for _, m in shown)
        assert app.grid.selection  # given back
    assert set((await qemu.nodes()).values()) == {None}
