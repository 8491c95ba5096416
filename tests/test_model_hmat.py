"""The HMAT model: QEMU's rules replayed (numatui.model.hmat), plans and -numa text."""

from __future__ import annotations

import json

import hmat_cases as cases
import pytest
from oracles import numa_text

from numatui.model import hmat
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.preflight import Severity, check
from numatui.model.qemu_args import load_plan, numa_options, parse_qemu_args
from numatui.model.topology import Topology


def _replay(steps: list[tuple[dict, bool]], argv: list[str]) -> list[bool]:
    """Which steps numatui's model refuses (:func:`hmat.live_problem`, as a live
    apply asks), given QEMU's command line ``argv``."""
    cfg = parse_qemu_args(argv)
    present = {n.id for n in cfg.nodes}
    cpu_nodes = {c["node-id"] for c in cfg.cpus}
    lbs: list[hmat.HmatLb] = []
    caches: list[hmat.HmatCache] = []
    refused = []
    for args, _ in steps:
        kind = args["type"]
        if kind == "node":
            bad = "initiator" in args and not cfg.hmat
            if not bad:
                present.add(args["nodeid"])
            refused.append(bad)
            continue
        try:
            item = hmat.lb_from_args("x", args) if kind == "hmat-lb" else hmat.cache_from_args("x", args)
        except NumaError:
            refused.append(True)
            continue
        new_lb = [item] if isinstance(item, hmat.HmatLb) else []
        new_c = [item] if isinstance(item, hmat.HmatCache) else []
        bad = hmat.live_problem(new_lb, new_c, hmat_on=bool(cfg.hmat), present=present, cpu_nodes=cpu_nodes,
                                have_lb=lbs, have_cache=caches) is not None  # the product's own check
        if not bad:
            lbs += new_lb
            caches += new_c
        refused.append(bad)
    return refused


@pytest.mark.parametrize("name", ["BUILD", "OFF", "ERANGE"])
def test_qemus_hmat_cases_are_refused_where_qemu_refuses(name: str) -> None:
    steps = getattr(cases, name)
    argv = getattr(cases, f"{name}_ARGS")
    assert _replay(steps, argv) == [want for _, want in steps]


def test_plan_json_round_trip_keeps_hmat_and_initiator() -> None:
    plan = Plan.from_dict(cases.TIER_PLAN)
    assert plan.node(2) is not None and plan.node(2).initiator == 0
    assert len(plan.hmat_lb) == 12 and plan.hmat_cache[0].level == 1
    again = Plan.from_json(plan.to_json())
    assert again == plan
    data = json.loads(plan.to_json())
    assert data["hmat-lb"][0] == {"initiator": 0, "target": 0, "hierarchy": "memory",
                                  "data-type": "access-latency", "latency": 80}


def test_numa_text_round_trip() -> None:
    plan = Plan.from_dict(cases.TIER_PLAN)
    text = numa_text(plan)
    assert "-numa node,nodeid=2,memdev=m2,initiator=0" in text
    assert "-numa hmat-cache,node-id=2,size=268435456,level=1,associativity=direct," \
           "policy=write-back,line=64" in text
    back = load_plan(text)
    assert back.hmat_lb == plan.hmat_lb and back.hmat_cache == plan.hmat_cache
    assert back.node(2).initiator == 0


def test_numa_options_put_hmat_after_cpus() -> None:
    plan = Plan.from_dict(cases.TIER_PLAN)
    opts = numa_options(plan, with_nodes=True)
    kinds = [o.split(",")[0] for o in opts]
    assert kinds.index("hmat-lb") > max(i for i, k in enumerate(kinds) if k == "cpu")
    assert kinds[-1] == "hmat-cache"


def test_text_plan_bandwidth_takes_size_suffix() -> None:
    plan = load_plan("-numa hmat-lb,initiator=0,target=0,hierarchy=memory,"
                     "data-type=access-bandwidth,bandwidth=20G\n")
    assert plan.hmat_lb[0].value == 20 << 30


@pytest.mark.parametrize("item, message", [
    ({"initiator": 0, "target": 0, "hierarchy": "memory", "data-type": "access-latency"},
     "Missing 'latency' option"),
    ({"initiator": 0, "target": 0, "hierarchy": "memory", "data-type": "read-bandwidth",
      "latency": 5}, "Invalid option 'latency'"),
    ({"initiator": 0, "target": 0, "hierarchy": "l4", "data-type": "access-latency",
      "latency": 5}, "hierarchy must be one of"),
])
def test_plan_items_are_checked(item: dict, message: str) -> None:
    with pytest.raises(NumaError, match=message):
        Plan.from_dict({"version": 1, "hmat-lb": [item]})


def _topo() -> Topology:
    slots = [{"type": "qemu64-x86_64-cpu", "vcpus-count": 1, "props": {"socket-id": s, "core-id": c,
                                                                        "thread-id": 0}}
             for s in range(2) for c in range(2)]
    return Topology.from_hotpluggable(slots)


def test_preflight_blocks_hmat_without_hmat_on() -> None:
    found = check(_topo(), Plan.from_dict(cases.TIER_PLAN), hmat=False)
    assert [f.code for f in found if f.severity is Severity.BLOCKING] == ["hmat-disabled"]
    assert "enable it with -machine hmat=on" in found[0].message


def test_preflight_tier_plan_is_clean() -> None:
    found = check(_topo(), Plan.from_dict(cases.TIER_PLAN), ram_size=3 << 30, hmat=True)
    assert [f for f in found if f.code.startswith("hmat")] == []


def test_preflight_initiator_without_cpus_blocks_with_qemus_words() -> None:
    data = json.loads(json.dumps(cases.TIER_PLAN))
    data["nodes"][2]["initiator"] = 1
    data["cpus"] = [{"node-id": 0}]
    data["hmat-lb"], data["hmat-cache"] = [], []
    found = check(_topo(), Plan.from_dict(data), hmat=True)
    msgs = [f.message for f in found if f.code == "hmat-initiator"]
    assert msgs and "The initiator of NUMA node 2 is invalid" in msgs[0]
    assert "exit at x-exit-preconfig" in msgs[0]


def test_preflight_warns_incomplete_matrix_and_missing_initiator() -> None:
    data = json.loads(json.dumps(cases.TIER_PLAN))
    del data["nodes"][2]["initiator"]
    data["hmat-lb"] = data["hmat-lb"][:1]
    data["hmat-cache"] = []
    found = check(_topo(), Plan.from_dict(data), hmat=True)
    codes = {f.code: f.severity for f in found}
    assert codes["hmat-incomplete"] is Severity.WARNING
    assert codes["hmat-no-initiator"] is Severity.WARNING


def test_readme_tier_example_is_the_tested_plan() -> None:
    """The README's example plan is the one tests/test_hmat_apply.py and the guest test apply."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### Memory tiers (HMAT)"):]
    block = section[section.index("```json\n") + 8:]
    block = block[:block.index("```")]
    assert Plan.from_json(block) == Plan.from_dict(cases.TIER_PLAN)


def test_live_problem_is_the_one_check_of_hmat_sent_live() -> None:
    """model.hmat.live_problem (core's hmat_problem only gathers the session's facts)."""
    lat = hmat.HmatLb(0, 1, "memory", "access-latency", 20)
    bw = hmat.HmatLb(0, 1, "memory", "access-bandwidth", 1 << 30)
    cache = hmat.HmatCache(1, 1 << 20, 1)
    facts = {"hmat_on": True, "present": {0, 1}, "cpu_nodes": {0}}
    assert hmat.live_problem([], [], **facts) is None  # nothing new, no HMAT planned
    off = hmat.live_problem([], [], hmat_on=False, present={0}, cpu_nodes={0}, needs=True)
    assert off is not None and hmat.HMAT_DISABLED in off
    assert hmat.live_problem([lat], [], hmat_on=True, present=None, cpu_nodes=()) is None  # QEMU will say
    assert hmat.live_problem([lat, bw], [], **facts) is None
    early = hmat.live_problem([], [cache], **facts, have_lb=[lat])
    assert early is not None and early.startswith("hmat-cache,node-id=1,")
    assert "should be provided before" in early
    assert hmat.live_problem([], [cache], **facts, have_lb=[lat, bw]) is None
    not_cpu = hmat.live_problem([hmat.HmatLb(1, 0, "memory", "access-latency", 20)], [], **facts)
    assert not_cpu is not None and "isn't an initiator proximity domain" in not_cpu
    own = hmat.live_problem([], [], **facts, initiators={0: 1})
    assert own == "node 0: The initiator of CPU NUMA node 0 should be itself (got 1)"
