"""Slots and topology from real recorded QEMU 7.2 replies (tests/data/*.json)."""

from __future__ import annotations

import json

import pytest
from conftest import load_data

from numatui.model.errors import NumaError
from numatui.model.qemu_args import parse_qemu_args
from numatui.model.topology import PROP_ORDER, Slot, Topology, format_key, order_props, parse_key


def test_q35_dies_threads_with_maxcpus_above_cpus() -> None:
    data = load_data("q35-dies-threads.json")
    topo = Topology.from_hotpluggable(data["query-hotpluggable-cpus"])
    assert len(topo) == 16 == data["smp"]["maxcpus"]
    assert topo.levels == ("socket-id", "die-id", "core-id", "thread-id")
    # QEMU lists the slots in reverse; the model keeps topology order
    assert topo.slots[0].key == (("socket-id", 0), ("die-id", 0), ("core-id", 0), ("thread-id", 0))
    assert topo.slots[-1].key == (("socket-id", 1), ("die-id", 1), ("core-id", 1), ("thread-id", 1))
    keys = [tuple(v for _, v in s.key) for s in topo.slots]
    assert keys == sorted(keys)
    assert all(s.vcpus_count == 1 and s.type == "qemu64-x86_64-cpu" for s in topo)
    assert all(s.node_id is None and not s.present and not s.derived for s in topo)
    assert topo.vcpus == 16
    indexes = topo.cpu_indexes()
    assert [indexes[s.key].start for s in topo] == list(range(16))
    # back to QMP: the same entries QEMU gave, in another order
    def canon(entries: list[dict[str, object]]) -> list[str]:
        return sorted(json.dumps(e, sort_keys=True) for e in entries)

    assert canon([s.to_qmp() for s in topo]) == canon(data["query-hotpluggable-cpus"])


def test_q35_default_has_no_die_id() -> None:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    assert topo.levels == ("socket-id", "core-id", "thread-id")
    assert len(topo) == 8
    assert len(topo.groups(1)) == 2 and len(topo.groups(2)) == 4


def test_pseries_one_slot_per_core_carrying_threads() -> None:
    data = load_data("pseries.json")
    topo = Topology.from_hotpluggable(data["query-hotpluggable-cpus"])
    assert topo.levels == ("core-id",)
    assert [s.prop("core-id") for s in topo] == [0, 2, 4, 6]
    assert all(s.vcpus_count == 2 for s in topo)
    assert topo.vcpus == data["smp"]["maxcpus"] == 8
    assert [list(r) for r in topo.cpu_indexes().values()] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert all(s.type.endswith("-spapr-cpu-core") for s in topo)


def test_arm_virt_slots_derived_from_smp() -> None:
    data = load_data("arm-virt.json")
    assert "not enabled" in data["error"]
    topo = Topology.from_smp(data["smp"], ("socket-id", "cluster-id", "core-id", "thread-id"))
    assert topo.derived and all(s.derived for s in topo)
    assert topo.levels == ("socket-id", "cluster-id", "core-id", "thread-id")
    assert len(topo) == 8
    # ids numbered within their parent, like virt_possible_cpu_arch_ids
    assert topo.slots[5].props == {"socket-id": 1, "cluster-id": 0, "core-id": 1, "thread-id": 0}
    # the argv parser resolves the same smp QEMU reported
    smp = parse_qemu_args(data["argv"]).smp
    assert smp is not None and {k: v for k, v in smp.to_dict().items() if k in data["smp"]} == data["smp"]


def test_riscv_like_core_only_numbered_over_everything() -> None:
    smp = {"cpus": 4, "maxcpus": 8, "sockets": 2, "cores": 2, "threads": 2}
    topo = Topology.from_smp(smp, ("core-id",))
    assert [s.prop("core-id") for s in topo] == list(range(8))


def test_node_ids_from_reply_and_matching() -> None:
    reply = load_data("q35-default.json")["query-hotpluggable-cpus"]
    reply = [{**e, "props": {**e["props"], "node-id": e["props"]["socket-id"]}} for e in reply]
    topo = Topology.from_hotpluggable(reply)
    assert {s.node_id for s in topo} == {0, 1}
    assert len(topo.matching({"node-id": 5, "socket-id": 1})) == 4
    assert len(topo.matching({"core-id": 0})) == 4  # a prop left out matches everything
    with pytest.raises(NumaError, match="die-id is not supported"):
        topo.matching({"die-id": 0})


def test_with_mapping_and_index_errors() -> None:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    key = topo.slots[3].key
    moved = topo.with_mapping({key: 1})
    assert moved.slot(key).node_id == 1 and topo.slot(key).node_id is None
    with pytest.raises(NumaError, match="no CPU slot socket-id=9"):
        topo.index((("socket-id", 9),))


@pytest.mark.parametrize(
    "reply, message",
    [
        ([{"vcpus-count": 1}], "malformed"),
        ([{"props": {"socket-id": "x"}}], "malformed"),
        ([{"props": {"bogus-id": 1}}], "unknown CPU prop 'bogus-id'"),
        ([{"props": {"core-id": 1}}, {"props": {"core-id": 1}}], "same props"),
    ],
)
def test_bad_replies_are_numa_errors(reply: list[dict[str, object]], message: str) -> None:
    with pytest.raises(NumaError, match=message):
        Topology.from_hotpluggable(reply)


def test_keys_round_trip() -> None:
    key = order_props({"thread-id": 1, "socket-id": 0, "node-id": 3})
    assert key == (("socket-id", 0), ("thread-id", 1))
    assert parse_key(format_key(key)) == key
    for bad in ("socket-id", "socket-id=x", "socket-id=1,socket-id=2", "foo-id=1"):
        with pytest.raises(NumaError):
            parse_key(bad)
    assert len(PROP_ORDER) == 8
    assert Slot(key=key).matches({"socket-id": 0, "node-id": 9})


def test_parse_key_refuses_a_key_without_topology_props() -> None:
    with pytest.raises(NumaError, match="topology props"):
        parse_key("node-id=0")
    assert parse_key("node-id=1,socket-id=1,core-id=0") == (("socket-id", 1), ("core-id", 0))


def test_topologies_of_one_shape_share_their_slot_keys() -> None:
    reply = load_data("q35-default.json")["query-hotpluggable-cpus"]
    topo = Topology.from_hotpluggable(reply)
    assert topo.slot_keys == tuple(s.key for s in topo.slots)
    assert topo.max_node is None  # nothing assigned yet
    # QEMU's reply re-read after an assignment: parsed afresh, same shape
    again = json.loads(json.dumps(reply))
    again[0]["props"]["node-id"] = 3
    reread = Topology.from_hotpluggable(again)
    assert reread.slot_keys is topo.slot_keys  # "same shape" is an identity test
    assert reread.max_node == 3
    assert topo.with_mapping({topo.slots[1].key: 1}).slot_keys is topo.slot_keys
    other = Topology.from_hotpluggable(load_data("q35-dies-threads.json")["query-hotpluggable-cpus"])
    assert other.slot_keys != topo.slot_keys
    assert reread == Topology.from_hotpluggable(again)  # still compared by slots, not by caches


def _assigned(reply: list[dict[str, object]], node_of: dict[int, int]) -> list[dict[str, object]]:
    """``reply`` (a fresh copy) with entry i on node ``node_of[i]``."""
    out: list[dict[str, object]] = json.loads(json.dumps(reply))
    for i, node in node_of.items():
        props = out[i]["props"]
        assert isinstance(props, dict)
        props["node-id"] = node
    return out


def test_a_re_read_parses_only_what_changed_and_equals_a_fresh_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key press re-reads every slot: from the second read on, only the
    entries that differ from the last reply's are parsed; the result is what
    a parse from scratch gives."""
    import numatui.model.topology as topology

    reply = load_data("q35-default.json")["query-hotpluggable-cpus"]
    connect = Topology.from_hotpluggable(_assigned(reply, {}))  # a first read keeps nothing
    before = Topology.from_hotpluggable(_assigned(reply, {0: 0}), connect)
    parsed: list[int] = []
    entry_slot = topology._entry_slot
    monkeypatch.setattr(topology, "_entry_slot", lambda i, e: parsed.append(i) or entry_slot(i, e))
    after = _assigned(reply, {0: 0, 3: 1, 5: 1})
    reread = Topology.from_hotpluggable(after, before)
    assert parsed == [3, 5]
    assert reread == Topology.from_hotpluggable(after)
    assert reread.slot_keys is before.slot_keys and reread.max_node == 1
    # and again from the re-read one (each keeps what it was parsed from)
    parsed.clear()
    assert Topology.from_hotpluggable(_assigned(reply, {0: 0}), reread) == before
    assert parsed == [3, 5]


def test_a_re_read_refuses_what_a_fresh_parse_refuses() -> None:
    """An entry equal to the last reply's only as Python compares (``true``
    for ``1``) is malformed all the same; another shape is parsed afresh."""
    reply = load_data("q35-default.json")["query-hotpluggable-cpus"]
    before = Topology.from_hotpluggable(reply)
    lying = _assigned(reply, {})
    props = lying[2]["props"]
    assert isinstance(props, dict) and props["socket-id"] == 1
    props["socket-id"] = True
    with pytest.raises(NumaError, match="entry 2 is malformed: socket-id is True"):
        Topology.from_hotpluggable(lying, before)
    broken = _assigned(reply, {})
    broken[1] = {"props": "x"}
    with pytest.raises(NumaError, match="entry 1 is malformed"):
        Topology.from_hotpluggable(broken, before)
    shorter = _assigned(reply, {0: 1})[1:]
    assert Topology.from_hotpluggable(shorter, before) == Topology.from_hotpluggable(shorter)
