"""Runs every measurement, numerator and denominator interleaved, and builds
the :class:`~numatui.bench.report.Report`.

1. ``apply_ratio``: numatui's Session maps the socket-per-node plan of the
   240-vCPU VM (``Session.apply_mapping``: its fewest set-numa-node, then
   its one re-read) vs the raw floor (the same 8 set-numa-node + one
   query-hotpluggable-cpus), each on an identical fresh QEMU, pairs
   A,B,A,B...
2. ``commands_ratio``: set-numa-node numatui sent for that plan / the
   fewest (8); ``commands_ratio_per_core``: the same for core-id % 8 against
   the fewest any client can send (:mod:`numatui.bench.fewest`, verified on
   QEMU), and ``..._prefix`` against the fewest prefix-only commands.
3. ``keypress_ratio``: :mod:`numatui.bench.keypress` (context: the minimal
   Textual app of :mod:`numatui.bench.textual_floor`).
3b. ``pin_ratio``: :mod:`numatui.bench.pinning` (numatui pin --policy node
   of a booted 240-vCPU VM vs a raw query-cpus-fast + sched_setaffinity loop).
3d. ``cli_ratio``, ``apply_process_ratio``: :mod:`numatui.bench.processes`
   (whole ``numatui show`` / ``numatui apply`` processes vs a plain script's).
3e. ``relaunch_ratio``: :mod:`numatui.bench.relaunch` (a move by
   relaunch-and-replay vs starting QEMU with the final options).
3c. ``plan_ratio``: :mod:`numatui.bench.plan` (a 32-node plan with memory
   and all distances through ``Vm.apply_plan`` vs a raw client sending the
   same commands), with the 8/16/32/64-node series as context rows.
4-6. ``render_scaling``, ``first_paint_scaling``, ``memory_scaling``:
   :mod:`numatui.bench.render`, 4096 slots vs 16, interleaved.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass, fields

from numatui.bench import keypress, measures, pinning, plan, processes, relaunch, render
from numatui.bench.fewest import fewest_patterns
from numatui.bench.qemu_vm import (
    SOCKETS,
    VM_240,
    VmSpec,
    big_vm,
    per_core_plan,
    qemu_version,
    real_machines,
    socket_plan,
    sockets_in_runs_plan,
)
from numatui.bench.report import Report, Row, Stat
from numatui.model.topology import Topology
from numatui.session.session import Session

BIG, SMALL = 4096, 16


@dataclass
class Config:
    repeat: int  # samples per side for apply, first paint and memory; rounds for render
    keypress_pairs: int  # sets of VMs for the key press (8 sockets = 8 samples each)
    sockets: int  # sockets assigned per keypress VM
    moves: int  # cursor moves and assignments per render round

    @classmethod
    def make(cls, quick: bool, repeat: int | None) -> Config:
        if quick:
            n = repeat or 2
            return cls(repeat=n, keypress_pairs=1, sockets=4, moves=4)
        n = repeat or 10
        return cls(repeat=n, keypress_pairs=max(1, math.ceil(n / 2)), sockets=SOCKETS, moves=20)


def _say(text: str) -> None:
    print(f"numatui.bench: {text}", file=sys.stderr, flush=True)


async def run(config: Config) -> Report:
    report = Report()
    start = time.perf_counter()
    await _apply(report, config)
    await _per_core(report)
    await _presets(report)
    await _pin(report, config)
    await _plan(report, config)
    await _processes(report, config)
    await _relaunch(report, config)
    await _keypress(report, config)
    big = big_vm()
    async with real_machines(big) as real:  # the scaling rows on a real 4096-slot QEMU when found
        sockets = real if isinstance(real, dict) else None
        report.notes.append(
            f"render, first paint and memory: {BIG} slots as QEMU {_version_of(big)} reports them "
            f"(-smp {big.smp}, {big.nodes} nodes, in preconfig; the app connected to it), "
            f"{SMALL} slots from the same binary" if isinstance(big, VmSpec) else
            f"render, first paint and memory: skipped/synthetic: needs QEMU >= 9.0 for a real "
            f"{BIG}-slot machine ({str(real).removeprefix('skipped: needs QEMU >= 9.0 ')}); a synthetic "
            f"topology on a stand-in session instead")
        await _render(report, config, sockets)
        _children(report, config, sockets)
    report.seconds = time.perf_counter() - start
    return report


async def _apply(report: Report, config: Config) -> None:
    _say(f"apply: {config.repeat} pairs of fresh 240-vCPU QEMUs (plus one warm-up pair)")
    plan = socket_plan()
    fewest = fewest_patterns(plan)
    ours: list[measures.ApplyRun] = []
    floor: list[measures.ApplyRun] = []
    for i in range(config.repeat + 1):
        a = await measures.numatui_apply(plan)
        b = await measures.floor_apply(plan, fewest)
        if i:  # the first round warms up imports and caches on every side
            ours.append(a)
            floor.append(b)
    report.add("apply_ratio", "apply socket-per-node plan + re-read: numatui Session / raw asyncio floor",
               [r.seconds for r in ours], [r.seconds for r in floor], "ms")
    report.add("commands_ratio", "set-numa-node for that plan: numatui / fewest possible",
               [r.mapping_commands for r in ours], [len(fewest)], "")
    all_ours = sorted({r.all_commands for r in ours})
    report.notes.append(
        f"apply: numatui sent {'/'.join(map(str, all_ours))} QMP commands in all (its set-numa-node, "
        f"then one query-hotpluggable-cpus); the floor sent {floor[0].all_commands} "
        f"({len(fewest)} set-numa-node + 1 query-hotpluggable-cpus)."
    )


async def _per_core(report: Report) -> None:
    _say("commands: per-core plan (core-id % 8) on two fresh QEMUs")
    counts = await measures.count_commands(per_core_plan())
    report.add("commands_ratio_per_core",
               "set-numa-node for core-id % 8: numatui / fewest any client can send (checked on QEMU)",
               [counts.numatui], [counts.fewest], "")
    report.add("commands_ratio_per_core_prefix",
               "set-numa-node for core-id % 8: numatui / fewest naming prefixes only (socket+core)",
               [counts.numatui], [counts.fewest_prefix], "")
    report.notes.append(
        f"per-core plan: numatui sent {counts.numatui} set-numa-node ({counts.numatui_all} QMP commands "
        f"in all); {counts.fewest} suffice: {{\"node-id\": c % 8, \"core-id\": c}} leaves socket-id out, "
        f"so one command maps core c of every socket (QEMU's matching; checked on QEMU)."
    )


async def _presets(report: Report) -> None:
    """``numatui apply --preset socket`` and ``split --into 4`` against the
    fewest commands, at 240 vCPUs and (QEMU >= 9.0) 4096."""
    big = big_vm()
    for spec, suffix in ((VM_240, ""), (big, "_4096")):
        vcpus = "4096" if suffix else "240"
        rows = (("socket", ["--preset", "socket"], spec.nodes if isinstance(spec, VmSpec) else 0),
                ("split", ["--preset", "split", "--into", "4"], 4))
        for name, argv, nodes in rows:
            key = f"commands_ratio_preset_{name}{suffix}"
            what = f"set-numa-node sent by `apply {' '.join(argv)}`, {vcpus} vCPUs: numatui / fewest possible"
            if not isinstance(spec, VmSpec):
                report.skip(key, what, spec)
                continue
            _say(f"presets: apply {' '.join(argv)} on a fresh {spec.vcpus}-vCPU QEMU ({spec.qemu})")
            counts = await measures.preset_commands(spec, argv, sockets_in_runs_plan(spec, nodes))
            report.add(key, what, [counts.numatui], [counts.fewest], "")


async def _plan(report: Report, config: Config) -> None:
    """``plan_ratio`` at 32 nodes and the 8/16/32/64-node series (:mod:`numatui.bench.plan`)."""
    series: dict[int, plan.PlanRun] = {}
    for nodes in plan.SERIES:
        pairs = config.repeat if nodes == plan.PLAN_NODES else max(1, config.repeat // 3)
        _say(f"plan: {nodes} nodes with memory, all distances, 240 vCPUs: {pairs} pair(s) of fresh QEMUs")
        series[nodes] = run = await plan.plan_pairs(nodes, pairs)
        key = "plan_ratio" if nodes == plan.PLAN_NODES else f"plan_ratio_{nodes}"
        report.add(key, f"{'' if nodes == plan.PLAN_NODES else 'context: '}apply a {nodes}-node plan "
                   f"({run.commands} commands: memory on each node, all distances, 240 vCPUs): "
                   "numatui Vm.apply_plan / a raw client sending the same commands",
                   run.numatui, run.raw, "ms")
    low, high = series[plan.SERIES[0]], series[plan.SERIES[-1]]
    ms = statistics.median
    report.notes.append(
        "plan series (numatui / raw, median ms, commands): " + "; ".join(
            f"{n} nodes {ms(r.numatui) * 1000:.0f} / {ms(r.raw) * 1000:.0f} ({r.commands})"
            for n, r in series.items())
        + f". From {plan.SERIES[0]} to {plan.SERIES[-1]} nodes the commands grow "
        f"{high.commands / low.commands:.1f}x; numatui's time {ms(high.numatui) / ms(low.numatui):.1f}x, "
        f"the raw client's {ms(high.raw) / ms(low.raw):.1f}x."
    )


async def _processes(report: Report, config: Config) -> None:
    """Whole processes vs a plain script's (:mod:`numatui.bench.processes`)."""
    _say(f"cli: {config.repeat} pairs of whole processes, numatui show vs a raw-socket script")
    run = await processes.cli_pairs(config.repeat)
    report.add("cli_ratio", f"whole process: numatui show of the 240-vCPU VM / a raw-socket script "
               f"sending the same {run.commands} queries", run.numatui, run.raw, "ms")
    pairs = max(3, config.repeat // 3) if config.repeat > 2 else config.repeat
    _say(f"apply process: {pairs} pairs, numatui apply of the {plan.PLAN_NODES}-node plan vs the script")
    run = await processes.apply_pairs(pairs)
    report.add("apply_process_ratio", f"whole process: numatui apply of the {plan.PLAN_NODES}-node plan / "
               f"a raw-socket script sending the same {run.commands} commands (fresh QEMU each)",
               run.numatui, run.raw, "ms")


async def _relaunch(report: Report, config: Config) -> None:
    _say(f"relaunch: {config.repeat} pairs, a move by relaunch-and-replay vs QEMU started with the "
         "final options")
    run = await relaunch.relaunch_pairs(config.repeat)
    report.add("relaunch_ratio", "move socket 0 of the 240-vCPU VM by relaunch-and-replay (Keeper.move) / "
               "starting QEMU with the final -numa cpu options until it answers",
               run.numatui, run.floor, "ms")


async def _pin(report: Report, config: Config) -> None:
    _say(f"pin: {config.repeat} pairs on one booted 240-vCPU QEMU (memory bound to host node 0)")
    run = await pinning.pin_run(config.repeat)
    report.add("pin_ratio", "pin --policy node, 240 vCPUs: numatui Vm.pin (query-cpus-fast, plan, "
               "setaffinity, read back) / raw query-cpus-fast + sched_setaffinity loop",
               run.numatui, run.floor, "ms")


async def _keypress(report: Report, config: Config) -> None:
    _say(f"keypress: {config.keypress_pairs} set(s) of 3 VMs, {config.sockets} sockets each")
    runs = [await keypress.keypress_pair(range(config.sockets)) for _ in range(config.keypress_pairs)]
    ours, floor, minimal, qmp, idle = ([x for run in runs for x in getattr(run, side)]
                                       for side in ("numatui", "floor", "textual", "qmp", "idle"))
    paint = [run.connect_to_first_paint for run in runs]
    report.add("keypress_ratio", "digit key -> QEMU has the socket + grid repainted: TUI / raw floor",
               ours, floor, "ms")
    report.absolute["keypress_ms"] = report.rows[-1].top.median * 1000
    report.add("keypress_idle_ratio", "context: the same key until the app is idle again (the nodes, "
               "command-line and overview panels redrawn after the grid's frame) / raw floor",
               idle, floor, "ms")
    report.add("keypress_textual_floor",
               "context: a minimal Textual app on qemu.qmp, same key, commands, one repaint / raw floor",
               minimal, floor, "ms")
    report.add("keypress_over_textual_floor", "context: numatui's key press / the minimal Textual app's",
               ours, minimal, "ms")
    report.notes.append(
        f"keypress: of numatui's {report.rows[-1].top.median * 1000:.1f} ms, its QMP exchange (first command "
        f"sent to last reply, set-numa-node + query-hotpluggable-cpus) took "
        f"{Stat(qmp).text('ms')}; the rest is the app handling the key and repainting."
    )
    report.absolute["connect_to_first_paint_ms"] = sorted(paint)[len(paint) // 2] * 1000


def _version_of(spec: VmSpec) -> str:
    version = qemu_version(spec.qemu)
    return ".".join(map(str, version)) if version else "?"


async def _real_topologies(sockets: dict[int, str] | None) -> dict[int, Topology]:
    """Slots -> the topology the real QEMU reports (read once; the monitor is then free)."""
    out: dict[int, Topology] = {}
    for slots, path in (sockets or {}).items():
        session = await Session.connect(path)
        try:
            out[slots] = session.topology
        finally:
            await session.close()
    return out


async def _render(report: Report, config: Config, sockets: dict[int, str] | None = None) -> None:
    _say(f"render: {config.repeat} rounds x {config.moves} moves/assignments, {BIG} vs {SMALL} slots")
    real = await _real_topologies(sockets)
    runs: dict[int, render.RenderRun] = {BIG: render.RenderRun(), SMALL: render.RenderRun()}
    for _ in range(config.repeat):
        for slots in (BIG, SMALL):
            one = await render.render_round(slots, config.moves, real.get(slots))
            for name in fields(render.RenderRun):
                getattr(runs[slots], name.name).extend(getattr(one, name.name))
    big, small = runs[BIG], runs[SMALL]
    report.add("render_scaling_cursor", "cursor move -> repaint, grid alone, CPU time: 4096 / 16 slots",
               big.cursor_cpu, small.cursor_cpu, "ms")
    report.add("render_scaling_assign",
               "assign the cursor's core -> repaint, grid alone, CPU time: 4096 / 16 slots",
               big.assign_cpu, small.assign_cpu, "ms")
    report.add("render_scaling_socket",
               "context: assign socket 0 (256 vs 8 slots, screenful vs 2 rows) -> repaint, CPU: 4096 / 16",
               big.socket_cpu, small.socket_cpu, "ms")
    report.notes.append(
        f"render wall time (includes waiting for Textual's 60 Hz frame): cursor "
        f"{Stat(big.cursor_wall).text('ms')} vs {Stat(small.cursor_wall).text('ms')}; core assignment "
        f"{Stat(big.assign_wall).text('ms')} vs {Stat(small.assign_wall).text('ms')}."
    )


def _children(report: Report, config: Config, sockets: dict[int, str] | None = None) -> None:
    _say(f"first paint + memory: {config.repeat} child processes per size")
    runs: dict[int, list[render.ChildRun]] = {BIG: [], SMALL: []}
    for _ in range(config.repeat):
        for slots in (BIG, SMALL):
            runs[slots].append(render.child_run(slots, (sockets or {}).get(slots)))
    big, small = runs[BIG], runs[SMALL]
    report.add("first_paint_scaling",
               "NumaApp constructed -> first full paint (on what: see the notes): 4096 / 16",
               [r.first_paint for r in big], [r.first_paint for r in small], "ms")
    report.add("memory_scaling", "peak RSS (VmHWM) of a child running NumaApp: 4096 / 16",
               [r.peak_rss_kib for r in big], [r.peak_rss_kib for r in small], "MiB")
    cpu = Row("", "", Stat([r.first_paint_cpu for r in big]), Stat([r.first_paint_cpu for r in small]), "")
    report.notes.append(
        f"first paint CPU time: {cpu.top.text('ms')} vs {cpu.bottom.text('ms')} (ratio {cpu.ratio:.2f})."
    )
    rss = [Stat([r.max_rss_kib for r in side]).text("MiB") for side in (big, small)]
    report.notes.append(
        f"ru_maxrss of the same children: {rss[0]} vs {rss[1]}: "
        f"Linux carries the forking benchmark's own RSS over exec into it, so the ratio uses VmHWM."
    )
