"""What a real Linux guest sees equals what numatui shows and exports.

Each test starts QEMU in preconfig with the guest kernel already on its
command line (tests/guest.py), maps it with ``numatui apply ...
--exit-preconfig`` so the guest boots from exactly what numatui set, and
compares the guest's own report (nodes, CPUs, distances, memory) with the
expectation computed from ``numatui export --format json`` taken before
boot, renumbered as Linux numbers nodes (numatui.model.guest_numbering).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path
from typing import Any

import guest
import pytest
from conftest import Qemu, until
from test_cli import ok

from numatui.model.guest_numbering import guest_numbering
from numatui.model.topology import Topology

pytestmark = [pytest.mark.guest, pytest.mark.qemu]

MIB = 1024 * 1024
Q35 = ["-machine", "q35", "-accel", "tcg", "-cpu", "max"]
SMP8 = ["-smp", "8,sockets=2,cores=2,threads=2"]
#: guest node -> (cpus, distance row, bytes of memory)
Want = dict[int, tuple[frozenset[int], tuple[int, ...], int]]


@pytest.fixture(autouse=True)
def _guest_files() -> None:
    guest.require()


def memory(sizes_mib: dict[int, int]) -> list[str]:
    """-m and one node per entry (0 MiB: a memoryless node)."""
    args = ["-m", f"{sum(sizes_mib.values())}M"]
    for node, size in sizes_mib.items():
        if size:
            args += ["-object", f"memory-backend-ram,id=m{node},size={size}M",
                     "-numa", f"node,nodeid={node},memdev=m{node}"]
        else:
            args += ["-numa", f"node,nodeid={node}"]
    return args


def start_guest(qemu_factory: Any, tmp: Path, args: list[str], init: str = guest.INIT_REPORT) -> Qemu:
    """A QEMU in preconfig whose guest will boot with ``init``; serial in q.extra["serial"]."""
    serial = tmp / "serial.txt"
    q: Qemu = qemu_factory([*args, *guest.kernel_args(tmp, serial, init)])
    q.extra["serial"] = serial
    return q


def apply_and_boot(q: Qemu, plan: dict[str, Any], boot: bool = True) -> dict[str, Any]:
    """``numatui apply`` the plan; numatui's export (JSON) before boot; then boot."""
    path = q.extra["serial"].parent / "plan.json"
    path.write_text(json.dumps({"version": 1, **plan}))
    ok("apply", q.sock, str(path))
    exported: dict[str, Any] = json.loads(ok("export", q.sock, "--format", "json"))
    exported["topology"] = Topology.from_hotpluggable(asyncio.run(q.qmp("query-hotpluggable-cpus")))
    exported["cmdline"] = ok("export", q.sock, "--format", "cmdline")
    exported["show"] = ok("show", q.sock)  # its nodes line names the guest's node ids
    # distances set live: QMP cannot read them back; the second numatui
    # process (export) knows them from the record the first one (apply) kept
    assert {(d["src"], d["dst"], d["val"]) for d in plan.get("distances", [])} <= \
        {(d["src"], d["dst"], d["val"]) for d in exported["distances"]}
    if boot:
        ok("apply", q.sock, str(path), "--exit-preconfig")
    return exported


def report(q: Qemu, **kw: Any) -> guest.Report:
    return guest.wait_report(q.extra["serial"], lambda: q.proc.poll() is None, **kw)


def expected(exported: dict[str, Any], present: int | None = None) -> Want:
    """guest node -> (cpus, distance row, bytes) from numatui's export.

    ``present``: how many CPUs are present at boot (the first cpu-indexes).
    """
    topo: Topology = exported["topology"]
    mapping = {}
    for slot in topo.slots:
        for entry in exported["cpus"]:
            props = {k: v for k, v in entry.items() if k != "node-id"}
            if slot.matches(props):
                mapping[slot.key] = entry["node-id"]
                break
    topo = topo.with_mapping(mapping)
    sizes = {n["id"]: n.get("size") or 0 for n in exported["nodes"]}
    numbering = guest_numbering(topo, sizes)
    qemu_of = {g: qn for qn, g in numbering.items()}
    given = {(d["src"], d["dst"]): d["val"] for d in exported.get("distances", [])}

    def dist(a: int, b: int) -> int:
        if a == b:
            return 10
        return given.get((a, b), given.get((b, a), 20))

    cpus: dict[int, set[int]] = {qn: set() for qn in numbering}
    for slot, indexes in zip(topo.slots, topo.cpu_indexes().values(), strict=True):
        for i in indexes:
            if present is None or i < present:
                cpus[slot.node_id if slot.node_id is not None else 0].add(i)
    return {
        g: (frozenset(cpus[qemu_of[g]]), tuple(dist(qemu_of[g], qemu_of[h]) for h in range(len(numbering))),
            sizes[qemu_of[g]])
        for g in range(len(numbering))
    }


def assert_guest_matches(seen: guest.Report, want: Want) -> None:
    assert sorted(seen.nodes) == sorted(want), (seen, want)
    for g, (cpus, dists, size) in want.items():
        node = seen.nodes[g]
        assert node.cpus == cpus, (g, seen, want)
        assert node.distances == dists, (g, seen, want)
        if size == 0:
            assert node.mem_kb == 0, (g, seen)
        else:  # MemTotal: the node's RAM less what firmware and kernel keep
            assert 0.8 * size / 1024 <= node.mem_kb <= size / 1024, (g, node.mem_kb, size)


def shown_numbering(exported: dict[str, Any]) -> dict[int, int | None]:
    """QEMU node -> the guest node ``numatui show`` named for it (None: "not in guest")."""
    line = next(ln for ln in exported["show"].splitlines() if ln.startswith("nodes "))
    out: dict[int, int | None] = {}
    for node, label in re.findall(r"(\d+) \([^)]*?(guest node\d+|not in guest)\)", line):
        out[int(node)] = int(label.removeprefix("guest node")) if label.startswith("guest") else None
    return out


def assert_shown_numbering_is_the_guests(exported: dict[str, Any], seen: guest.Report) -> None:
    """Each QEMU node's CPUs and memory are in the guest node ``show`` named:
    the numbering numatui shows is the one the guest kernel uses."""
    shown = shown_numbering(exported)
    assert sorted(shown) == sorted(n["id"] for n in exported["nodes"]), exported["show"]
    topo: Topology = exported["topology"]
    cpus: dict[int, set[int]] = {n: set() for n in shown}
    for slot, indexes in zip(topo.slots, topo.cpu_indexes().values(), strict=True):
        node = next(e["node-id"] for e in exported["cpus"]
                    if slot.matches({k: v for k, v in e.items() if k != "node-id"}))
        cpus[node] |= set(indexes)
    sizes = {n["id"]: n.get("size") or 0 for n in exported["nodes"]}
    assert sorted(g for g in shown.values() if g is not None) == sorted(seen.nodes), (shown, seen)
    for node, g in shown.items():
        if g is None:
            assert not cpus[node] and not sizes[node], (node, shown)
            continue
        assert seen.nodes[g].cpus == frozenset(cpus[node]), (node, g, seen)
        assert (seen.nodes[g].mem_kb > 0) == (sizes[node] > 0), (node, g, seen)


# -- the cases -----------------------------------------------------------------
def test_guest_numbers_nodes_by_cpu0_and_permutes_distances(qemu_factory: Any, tmp_path: Path) -> None:
    """Socket 0 on QEMU node 1 (1536M), socket 1 on node 0 (512M), asymmetric
    distances: the guest's node0 is QEMU's node 1 (cpus 0-3, ~1.5 GB) and
    its distance row is QEMU's row of node 1."""
    q = start_guest(qemu_factory, tmp_path, [*Q35, *SMP8, *memory({0: 512, 1: 1536})])
    exported = apply_and_boot(q, {
        "distances": [{"src": 0, "dst": 1, "val": 21}, {"src": 1, "dst": 0, "val": 31}],
        "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}],
    })
    seen = report(q)
    assert seen.nodes[0].cpus == frozenset(range(4)) and seen.nodes[0].mem_kb > 1200 * 1024
    assert seen.nodes[0].distances == (10, 31) and seen.nodes[1].distances == (21, 10)
    assert_guest_matches(seen, expected(exported))
    assert seen.online == frozenset(range(8))
    assert shown_numbering(exported) == {0: 1, 1: 0}  # numatui show said so before boot
    assert_shown_numbering_is_the_guests(exported, seen)


def test_memory_only_node_comes_after_the_cpu_nodes_and_an_empty_node_is_not_there(
    qemu_factory: Any, tmp_path: Path
) -> None:
    """QEMU node 0 has memory and no CPU: the guest numbers it after the CPU
    nodes; node 3 (no CPU, no memory) is not in the SRAT: the guest has no
    such node.  A full 4-node distance matrix follows the renumbering."""
    q = start_guest(qemu_factory, tmp_path, [*Q35, "-smp", "4,sockets=2,cores=2,threads=1",
                                             *memory({0: 512, 1: 1024, 2: 768, 3: 0})])
    exported = apply_and_boot(q, {
        "distances": [{"src": 0, "dst": 1, "val": 21}, {"src": 0, "dst": 2, "val": 31},
                      {"src": 1, "dst": 2, "val": 41}, {"src": 0, "dst": 3, "val": 51},
                      {"src": 1, "dst": 3, "val": 61}, {"src": 2, "dst": 3, "val": 71}],
        "cpus": [{"node-id": 2, "socket-id": 0}, {"node-id": 1, "socket-id": 1}],
    })
    assert [n["id"] for n in exported["nodes"]] == [0, 1, 2, 3]
    seen = report(q)
    assert sorted(seen.nodes) == [0, 1, 2]
    assert seen.nodes[2].cpus == frozenset() and 400 * 1024 < seen.nodes[2].mem_kb <= 512 * 1024
    assert_guest_matches(seen, expected(exported))
    assert shown_numbering(exported) == {0: 2, 1: 1, 2: 0, 3: None}
    assert_shown_numbering_is_the_guests(exported, seen)


def test_threads_of_one_core_on_two_nodes_and_a_memoryless_node_added_live(
    qemu_factory: Any, tmp_path: Path
) -> None:
    """Each thread is in its own node; node 2 is added live by numatui
    (memoryless) and the guest has it, with its CPUs and no memory."""
    q = start_guest(qemu_factory, tmp_path, [*Q35, *SMP8, *memory({0: 1024, 1: 1024})])
    exported = apply_and_boot(q, {
        "nodes": [{"id": 0, "memdev": "m0"}, {"id": 1, "memdev": "m1"}, {"id": 2}],
        "distances": [{"src": 0, "dst": 1, "val": 21}, {"src": 0, "dst": 2, "val": 31},
                      {"src": 1, "dst": 2, "val": 41}],
        "cpus": [{"node-id": 0, "socket-id": 0, "core-id": 0, "thread-id": 0},
                 {"node-id": 1, "socket-id": 0, "core-id": 0, "thread-id": 1},
                 {"node-id": 0, "socket-id": 0, "core-id": 1},
                 {"node-id": 2, "socket-id": 1}],
    })
    assert [n["id"] for n in exported["nodes"]] == [0, 1, 2]
    seen = report(q)
    assert 0 in seen.nodes[0].cpus and 1 in seen.nodes[1].cpus  # the two threads of core 0
    assert seen.nodes[2].mem_kb == 0 and seen.nodes[2].cpus == frozenset(range(4, 8))
    assert_guest_matches(seen, expected(exported))


def test_maxcpus_above_cpus_puts_the_present_cpus_in_their_nodes(qemu_factory: Any, tmp_path: Path) -> None:
    q = start_guest(qemu_factory, tmp_path, [*Q35, "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2",
                                   *memory({0: 1024, 1: 1024})])
    exported = apply_and_boot(q, {
        "cpus": [{"node-id": 0, "socket-id": 0, "core-id": 0},
                 {"node-id": 1, "socket-id": 0, "core-id": 1}, {"node-id": 1, "socket-id": 1}],
    })
    seen = report(q)
    assert seen.online == frozenset(range(4))
    assert seen.cpus() == {0: frozenset({0, 1}), 1: frozenset({2, 3})}
    assert_guest_matches(seen, expected(exported, present=4))


# -- the export round trip -------------------------------------------------------
def _without(argv: list[str], *options: str) -> list[str]:
    out: list[str] = []
    skip = False
    for tok in argv:
        if skip:
            skip = False
        elif tok in options:
            skip = True
        elif tok != "--preconfig":
            out.append(tok)
    return out


def _round_trip(qemu_factory: Any, tmp: Path, plan: dict[str, Any], args: list[str]) -> None:
    first = start_guest(qemu_factory, tmp, args)
    exported = apply_and_boot(first, plan, boot=False)  # the other tests boot the first QEMU
    first.kill()
    want = expected(exported)
    # a fresh QEMU from numatui's exported command line (its own console and monitors)
    argv = _without(shlex.split(exported["cmdline"].replace("\\\n", " ")), "-qmp", "-serial")
    serial = tmp / "again.txt"
    again: Qemu = qemu_factory([*argv[1:], "-serial", f"file:{serial}"], preconfig=False)
    again.extra["serial"] = serial
    assert_guest_matches(report(again), want)


def test_export_round_trip_with_distances_on_the_command_line(qemu_factory: Any, tmp_path: Path) -> None:
    _round_trip(qemu_factory, tmp_path, {
        "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1, "core-id": 0},
                 {"node-id": 1, "socket-id": 1, "core-id": 1}],
    }, [*Q35, *SMP8, *memory({0: 512, 1: 1536}),
        "-numa", "dist,src=0,dst=1,val=27"])


def test_export_round_trip_with_distances_set_live(qemu_factory: Any, tmp_path: Path) -> None:
    _round_trip(qemu_factory, tmp_path, {
        "distances": [{"src": 0, "dst": 1, "val": 21}],
        "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}],
    }, [*Q35, *SMP8, *memory({0: 512, 1: 1536})])


# -- hot-plug and unplug with a guest that answers ----------------------------------
HOTPLUG_ARGS = [*Q35, "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", *memory({0: 1024, 1: 1024})]
SLOT = "socket-id=1,core-id=1,thread-id=0"


def test_hotplug_joins_the_planned_node_and_unplug_succeeds_when_the_guest_ejects(
    qemu_factory: Any, tmp_path: Path
) -> None:
    q = start_guest(qemu_factory, tmp_path, HOTPLUG_ARGS, init=guest.INIT_ANSWER)
    apply_and_boot(q, {"cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]})
    booted = report(q)
    assert booted.online == frozenset(range(4)) and booted.cpus() == {0: frozenset(range(4)), 1: frozenset()}
    ok("hotplug", q.sock, SLOT)
    plugged = report(q, after=booted.seq, until=lambda r: len(r.online) == 5)
    assert plugged.cpus() == {0: frozenset(range(4)), 1: frozenset({4})}  # the guest's own number: 4
    assert plugged.online == frozenset(range(5))
    # the guest ejects it: QEMU 7.2 says DEVICE_DELETED only for .../lapic; numatui
    # decides from the slot, now empty in query-hotpluggable-cpus
    out = ok("unplug", q.sock, SLOT, "--wait", "20")
    assert f"unplugged {SLOT}" in out
    slots = asyncio.run(q.qmp("query-hotpluggable-cpus"))
    props = {"node-id": 1, "socket-id": 1, "core-id": 1, "thread-id": 0}
    slot = next(s for s in slots if s["props"] == props)
    assert "qom-path" not in slot
    gone = report(q, after=plugged.seq, until=lambda r: len(r.online) == 4)
    assert gone.cpus() == {0: frozenset(range(4)), 1: frozenset()}


# -- the same in the TUI: p, then u, with a guest that answers ------------------------
async def _guest_report(q: Qemu, after: int, want: Any, what: str) -> guest.Report:
    """The first guest report numbered above ``after`` for which ``want`` holds (polled)."""
    def found() -> guest.Report | None:
        assert q.proc.poll() is None, "QEMU exited"
        text = q.extra["serial"].read_text(errors="replace") if q.extra["serial"].exists() else ""
        return next((r for r in guest.reports(text) if r.seq > after and want(r)), None)

    try:
        # a TCG guest on a loaded 2-core machine can take long: a deadline, not a speed claim
        report: guest.Report = await until(found, 2 * guest.BOOT_TIMEOUT, what)
    except AssertionError as exc:
        tail = "\n".join(q.extra["serial"].read_text(errors="replace").splitlines()[-25:])
        raise AssertionError(f"{exc}; serial tail:\n{tail}") from None
    return report


def test_tui_hotplug_then_unplug_with_a_guest_that_answers(qemu_factory: Any, tmp_path: Path) -> None:
    """``p`` on an empty slot of node 1: the guest has the CPU online in its
    node 1; ``u``: the ``~`` mark clears once QEMU reports the slot empty (QEMU
    7.2 sends DEVICE_DELETED for the CPU's lapic only), QEMU's own monitor
    shows the slot empty, and the guest no longer lists the CPU."""
    q = start_guest(qemu_factory, tmp_path, HOTPLUG_ARGS, init=guest.INIT_ANSWER)
    apply_and_boot(q, {"cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]})
    asyncio.run(_tui_hotplug_then_unplug(q))  # the CLI above runs its own event loop


async def _tui_hotplug_then_unplug(q: Qemu) -> None:
    from tui_helpers import Notes, settle

    from numatui.session.session import Session
    from numatui.tui.app import NumaApp
    from numatui.tui.grid import CpuGrid

    booted = await _guest_report(q, 0, lambda r: len(r.online) == 4, "the guest booted")
    key = (("socket-id", 1), ("core-id", 1), ("thread-id", 0))
    props = {"node-id": 1, "socket-id": 1, "core-id": 1, "thread-id": 0}
    session = await Session.connect(q.sock)
    try:
        app = NumaApp(session)
        # a user gets 10 s for the guest's answer; a TCG guest on a loaded test
        # machine may need longer, and this test is about the answer, not its speed
        app.vm.unplugs.timeout = 2 * guest.BOOT_TIMEOUT
        notes = Notes(app)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            grid = app.query_one(CpuGrid)
            await pilot.press("home", *["right"] * session.topology.index(key))
            assert session.topology.slots[grid.cursor].key == key
            await pilot.press("p")
            await settle(app, pilot)
            assert session.topology.slot(key).present, notes.text()
            plugged = await _guest_report(q, booted.seq, lambda r: len(r.online) == 5,
                                          "the guest has the hot-plugged CPU online")
            assert plugged.cpus() == {0: frozenset(range(4)), 1: frozenset({4})}
            await pilot.press("u")
            await settle(app, pilot)
            assert grid.pending == {key}, notes.text()  # shown with ~
            await until(lambda: not grid.pending and not session.pending_unplug, 2 * guest.BOOT_TIMEOUT,
                        "the ~ mark clears")
            await settle(app, pilot)
            assert "the guest ejected it" in notes.text(), notes.text()
            assert "did not answer" not in notes.text()
            assert not session.topology.slot(key).present and not grid.pending
        slots = await q.qmp("query-hotpluggable-cpus")  # QEMU's own view, second monitor
        assert "qom-path" not in next(s for s in slots if s["props"] == props)
        gone = await _guest_report(q, plugged.seq, lambda r: len(r.online) == 4,
                                   "the guest no longer lists the CPU")
        assert gone.cpus() == {0: frozenset(range(4)), 1: frozenset()}
    finally:
        await session.close()
