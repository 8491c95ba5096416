"""Safety (#17): a set-numa-node naming no topology prop matches every CPU, so
numatui sends one only when the mapping itself covers every slot, never
because it believes the other slots are on that node already."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Qemu
from hypothesis import HealthCheck, given, settings
from test_model_compact import topo_now_and_wanted
from test_session_assign import K, sent_set_numa_node

from numatui.model.compact import fewest_commands, names_no_prop
from numatui.model.topology import Slot, SlotKey, Topology
from numatui.session import commands as session_commands
from numatui.session.errors import BadRequest
from numatui.session.session import Session


def two_sockets(socket0_on: int | None = None) -> Topology:
    return Topology.build(
        Slot(key=K(s, c, t), node_id=socket0_on if s == 0 else None)
        for s in (0, 1) for c in (0, 1) for t in (0, 1)
    )


def socket_keys(n: int) -> list[SlotKey]:
    return [K(n, c, t) for c in (0, 1) for t in (0, 1)]


def test_the_rest_on_the_node_already_is_not_enough() -> None:
    topo = two_sockets(socket0_on=1)
    assert fewest_commands(topo, dict.fromkeys(socket_keys(1), 1)) == [{"node-id": 1, "socket-id": 1}]


def test_a_mapping_of_every_slot_may_be_one_bare_command() -> None:
    topo = two_sockets()
    every = dict.fromkeys(socket_keys(0) + socket_keys(1), 1)
    assert fewest_commands(topo, every) == [{"node-id": 1}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo_now_and_wanted())
def test_no_bare_command_unless_the_mapping_covers_every_slot(
    case: tuple[Topology, dict[SlotKey, int]],
) -> None:
    topo, wanted = case
    for command in fewest_commands(topo, wanted):
        assert not names_no_prop(command) or len(wanted) == len(topo.slots), command


async def test_on_qemu_the_second_socket_is_named(qemu: Qemu) -> None:
    session = await Session.connect(qemu.sock)
    try:
        await session.assign(socket_keys(0), 1)
        mark = session.transcript.count()
        await session.assign(socket_keys(1), 1)
        assert sent_set_numa_node(session, mark) == [{"type": "cpu", "node-id": 1, "socket-id": 1}]
        assert set((await qemu.nodes()).values()) == {1}
    finally:
        await session.close()


async def test_the_session_refuses_a_bare_command_for_a_partial_mapping(
    qemu: Qemu, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the model computes: the session's own check before sending."""

    def bare(topology: Topology, mapping: Any) -> list[dict[str, int]]:
        return [{"node-id": 1}]

    session = await Session.connect(qemu.sock)
    try:
        monkeypatch.setattr(session_commands, "fewest_commands", bare)
        mark = session.transcript.count()
        with pytest.raises(BadRequest, match="refuses to send a set-numa-node naming no CPU prop"):
            await session.assign(socket_keys(1), 1)
        assert sent_set_numa_node(session, mark) == []
        assert set((await qemu.nodes()).values()) == {None}
    finally:
        await session.close()
