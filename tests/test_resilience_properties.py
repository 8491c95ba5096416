"""Bad input never raises anything but NumaError (hypothesis).

Already covered elsewhere and not repeated here: ``load_plan`` on text and
JSON-ish plans (test_model_plan), ``parse_qemu_args`` + ``full_command_line``
and ``parse_smp`` (test_model_qemu_args).  Here: slot keys typed by a person,
query-hotpluggable-cpus replies from a hostile peer, saved-state wrappers,
and saved-state files on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numatui.core.autosave import SavedStateError, load
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.qemu_args import load_plan
from numatui.model.topology import PROP_ORDER, Topology, format_key, parse_key

KEYS = ["props", "vcpus-count", "type", "qom-path", "node-id", *PROP_ORDER, "version", "plan", "argv",
        "name", "saved", "cpus", "nodes", "distances", "id"]
SCALARS = (st.none() | st.booleans() | st.integers(-3, 1 << 70) | st.floats(allow_nan=True)
           | st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=5),
    max_leaves=20,
)


KEY_BITS = ["socket-id", "core-id", "=", ",", "1", "0x1", " ", "thread-id", "-1", "٣", "node-id", "x"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.lists(st.sampled_from(KEY_BITS)).map("".join))
def test_parse_key_raises_only_numa_errors(text: str) -> None:
    try:
        key = parse_key(text)
    except NumaError:
        return
    assert key, "an empty slot key must be refused"
    assert parse_key(format_key(key)) == key


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON, max_size=6) | JSON)
def test_hotpluggable_reply_from_a_hostile_peer(reply: Any) -> None:
    try:
        topo = Topology.from_hotpluggable(reply)
    except NumaError:
        return
    assert len(topo.slots) == len({s.key for s in topo.slots})
    for slot in topo.slots:  # what a peer cannot make numatui believe
        assert all(type(v) is int and 0 <= v < 1 << 31 for _, v in slot.key), slot.key
        assert type(slot.vcpus_count) is int and 1 <= slot.vcpus_count <= 1 << 16, slot.vcpus_count


ABSURD = [-1, -(1 << 40), 1 << 40, 1.0, 0.5, True, False, "1", None]


@given(st.sampled_from(PROP_ORDER), st.sampled_from(ABSURD))
def test_absurd_ids_and_counts_are_refused(prop: str, bad: Any) -> None:
    import pytest

    with pytest.raises(NumaError, match="malformed"):
        Topology.from_hotpluggable([{"props": {prop: bad}, "vcpus-count": 1}])
    with pytest.raises(NumaError, match="malformed"):
        Topology.from_hotpluggable([{"props": {prop: 0}, "vcpus-count": bad if bad != 1.0 else -3}])


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(["wrapped", "plain"]))
def test_saved_state_wrappers_raise_only_numa_errors(inner: Any, how: str) -> None:
    data = {"version": 1, "argv": ["qemu"], "plan": inner} if how == "wrapped" else inner
    for text in (json.dumps(data), json.dumps(data, allow_nan=True)):
        try:
            plan = load_plan(text)
        except NumaError:
            continue
        assert isinstance(plan, Plan)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | JSON.map(lambda d: json.dumps({"plan": d, "argv": d}).encode()))
def test_saved_state_files_raise_only_saved_state_errors(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(raw)
    try:
        state = load(path)
    except SavedStateError:
        return
    assert isinstance(state.plan, Plan)
