"""Plans: the JSON plan file, the -numa text file, sniffing, resolving against slots."""

from __future__ import annotations

import json

import pytest
from conftest import load_data
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import numa_text

from numatui.model.errors import NumaError
from numatui.model.plan import Distance, Node, Plan
from numatui.model.qemu_args import load_plan, numa_options, plan_from_numa_text
from numatui.model.topology import Topology

ISSUE_EXAMPLE = """{"version": 1,
 "nodes": [{"id": 0, "memdev": "m0"}, {"id": 1}],
 "distances": [{"src": 0, "dst": 1, "val": 20}],
 "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1, "core-id": 0}]}"""


def q35() -> Topology:
    return Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])


def full_plan() -> Plan:
    return Plan(
        nodes=(Node(0, "m0", 1 << 30), Node(1, "m1", 1 << 30), Node(2)),
        distances=(Distance(0, 1, 20), Distance(0, 2, 30), Distance(1, 2, 25)),
        cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1, "core-id": 0},
              {"node-id": 2, "socket-id": 1, "core-id": 1, "thread-id": 1}),
    )


def test_issue_example_loads_and_resolves() -> None:
    plan = load_plan(ISSUE_EXAMPLE)
    assert plan.nodes == (Node(0, "m0"), Node(1))
    assert plan.distances == (Distance(0, 1, 20),)
    resolved = plan.resolve(q35())
    assert len(resolved) == 6
    assert sorted(set(resolved.values())) == [0, 1]


def test_json_round_trip() -> None:
    plan = full_plan()
    assert Plan.from_json(plan.to_json()) == plan
    assert load_plan(plan.to_json()) == plan
    assert json.loads(plan.to_json())["version"] == 1


def test_numa_text_round_trip() -> None:
    plan = full_plan()
    text = numa_text(plan)
    assert text.splitlines()[:2] == ["-object memory-backend-ram,id=m0,size=1073741824",
                                     "-object memory-backend-ram,id=m1,size=1073741824"]
    assert "-numa cpu,node-id=2,socket-id=1,core-id=1,thread-id=1" in text.splitlines()
    assert plan_from_numa_text(text) == plan
    assert load_plan(text) == plan


def test_numa_text_gives_a_sized_node_without_memdev_a_backend() -> None:
    plan = Plan(nodes=(Node(0, size=1 << 29),), cpus=({"node-id": 0},))
    text = numa_text(plan)
    assert text == ("-object memory-backend-ram,id=m0,size=536870912\n"
                    "-numa node,nodeid=0,memdev=m0\n-numa cpu,node-id=0\n")
    assert plan_from_numa_text(text) == Plan(nodes=(Node(0, "m0", 1 << 29),), cpus=({"node-id": 0},))


def test_cpu_only_text_as_in_the_contract() -> None:
    plan = Plan(cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}))
    assert numa_text(plan) == "-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1\n"
    assert plan_from_numa_text(numa_text(plan)) == plan
    assert numa_options(plan) == ["cpu,node-id=0,socket-id=0", "cpu,node-id=1,socket-id=1"]


def test_text_with_comments_bare_values_and_a_pasted_command_line() -> None:
    text = """
    # my plan
    node,nodeid=0          # no -numa: fine
    -numa node,nodeid=1
    --numa dist,src=0,dst=1,val=21

    cpu,node-id=0,socket-id=0
    -numa cpu,node-id=1,socket-id=1   # trailing comment
    """
    plan = load_plan(text)
    assert plan.node_ids() == [0, 1]
    assert plan.distances == (Distance(0, 1, 21),)
    assert [c["node-id"] for c in plan.cpus] == [0, 1]
    pasted = ("qemu-system-x86_64 \\\n  -machine q35 \\\n  -m 2G \\\n"
              "  -numa node,nodeid=0 \\\n  -numa cpu,node-id=0,socket-id=0\n")
    assert load_plan(pasted) == Plan(nodes=(Node(0),), cpus=({"node-id": 0, "socket-id": 0},))
    for empty in ("", "# nothing\n\n", "{}", '{"version": 1, "cpus": []}'):
        with pytest.raises(NumaError, match="plan: it is empty"):
            load_plan(empty)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"version": 2}', "version 2 is not supported"),
        ('{"cpus": [{"socket-id": 0}]}', "node-id\" is missing"),
        ('{"cpus": [{"node-id": 0, "bogus": 1}]}', "unknown prop 'bogus'"),
        ('{"cpus": [{"node-id": 128}]}', "out of range"),
        ('{"nodes": [{"id": 0}, {"id": 0}]}', "listed twice"),
        ('{"nodes": [{"id": 0, "size": "lots"}]}', "not a size"),
        ('{"distances": [{"src": 0, "dst": 1}]}', "'val' is missing"),
        ('{"frob": 1}', "unknown key 'frob'"),
        ("[1, 2]", "top level must be a JSON object"),
        ("{", "not valid JSON at line 1"),
        ("-numa cpu,socket-id=0", "-numa cpu,socket-id=0: Missing mandatory node-id"),
        ("-numa node,node-id=1", "-numa node,node-id=1: Invalid parameter 'node-id'.*nodeid"),
        ("cpu,nodeid=1", "-numa cpu,nodeid=1: Invalid parameter 'nodeid'.*node-id"),
        ("-numa node,nodeid=0 && touch x", "^plan line 1: '&&' is neither a QEMU option"),
        ("-numa node,nodeid=0\n-numa cpu,node-id=0 $(touch x)", "^plan line 2: '\\$\\(touch'"),
        ("-m 2G ; rm -rf x", "^plan line 1: ';'"),
        ("-numa node,nodeid=0,cpus=0-3x", "Parameter 'cpus' expects"),
        ("-numa node,nodeid=0 'x", "plan line 1"),
        ("node,nodeid=0 and words", "neither a QEMU option"),
        ("-numa bogus", "does not accept value 'bogus'"),
    ],
)
def test_plan_errors_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(NumaError, match=message):
        load_plan(text)


def test_resolve_errors() -> None:
    topo = q35()
    with pytest.raises(NumaError, match=r"cpus\[0\].*die-id is not supported"):
        Plan(cpus=({"node-id": 0, "die-id": 0},)).resolve(topo)
    with pytest.raises(NumaError, match="no CPU slot matches"):
        Plan(cpus=({"node-id": 0, "socket-id": 7},)).resolve(topo)
    with pytest.raises(NumaError, match=r"already on node 0 by cpus\[0\]"):
        Plan(cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "core-id": 0})).resolve(topo)
    with pytest.raises(NumaError, match="not among the plan's nodes"):
        Plan(nodes=(Node(0),), cpus=({"node-id": 1},)).resolve(topo)


def test_from_topology_compacts_what_the_slots_carry() -> None:
    topo = q35()
    topo = topo.with_mapping({s.key: s.prop("socket-id") for s in topo})
    plan = Plan.from_topology(topo, [Node(0), Node(1)])
    assert plan.cpus == ({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1})
    assert plan.resolve(topo) == topo.mapping()


# -- never anything but NumaError ---------------------------------------------------------
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["version", "nodes", "cpus", "distances", "id", "src", "dst",
                                       "val", "node-id", "socket-id", "memdev", "size", "type"]),
                      children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), JSONISH.map(json.dumps),
                 st.lists(st.sampled_from(["-numa", "node", "cpu,node-id=0", "nodeid=1", "dist,src=0",
                                           "-object", "memory-backend-ram,id=m0,size=1G", "#", "'",
                                           "\\\n", ",", "=", "-m", "cpus=0-3", "\n", " "])).map("".join)))
def test_load_plan_raises_only_numa_errors(text: str) -> None:
    try:
        plan = load_plan(text)
    except NumaError:
        return
    assert isinstance(plan, Plan)


def test_deep_json_is_a_numa_error() -> None:
    with pytest.raises(NumaError):
        load_plan("[" * 100000)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    ids = draw(st.lists(st.integers(0, 127), unique=True, max_size=5))
    nodes = tuple(
        Node(i, memdev=draw(st.sampled_from([None, f"m{i}", f"ram,{i}", f"x=y {i}"])),
             size=draw(st.sampled_from([None, 1 << 20, 3 << 29, 12345])))
        for i in sorted(ids)
    )
    nodes = tuple(n for n in nodes if n.memdev or not n.size)  # text gives a sized node a memdev
    pairs = st.tuples(st.integers(0, 127), st.integers(0, 127))  # one value per pair (else refused)
    distances = tuple(Distance(src, dst, val) for (src, dst), val
                      in draw(st.dictionaries(pairs, st.integers(0, 255), max_size=3)).items())
    props = st.dictionaries(st.sampled_from(["socket-id", "die-id", "core-id", "thread-id", "book-id"]),
                            st.integers(0, 300), max_size=3)
    cpus = tuple({"node-id": draw(st.integers(0, 127)), **dict(sorted(p.items(), key=_order))}
                 for p in draw(st.lists(props, max_size=4)))
    return Plan(nodes=nodes, distances=distances, cpus=cpus)


def _order(item: tuple[str, int]) -> int:
    return ["book-id", "socket-id", "die-id", "core-id", "thread-id"].index(item[0])


@settings(max_examples=200, deadline=None)
@given(plans())
def test_plans_round_trip_through_json_and_text(plan: Plan) -> None:
    assert Plan.from_json(plan.to_json()) == plan
    assert plan_from_numa_text(numa_text(plan)) == plan
