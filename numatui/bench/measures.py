"""QMP-side measurements: applying a plan with numatui's session vs the raw floor.

Each sample gets an identical fresh QEMU (set-numa-node has no undo).
Connecting is outside the timed span on both sides: the clock runs from the
first set-numa-node until the slots have been re-read.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numatui.bench.fewest import fewest_patterns, fewest_prefix
from numatui.bench.paint import BenchError
from numatui.bench.qemu_vm import VM_240, VmSpec, fresh_vm, socket_path
from numatui.bench.raw_qmp import RawQmp
from numatui.model.topology import SlotKey
from numatui.session.session import Session

Plan = Mapping[SlotKey, int]


@dataclass
class ApplyRun:
    seconds: float
    mapping_commands: int  # set-numa-node sent
    all_commands: int  # every QMP command sent in the timed span (re-reads included)


def mapping_of_reply(reply: Sequence[Mapping[str, Any]]) -> dict[SlotKey, int | None]:
    """slot key -> node-id from a raw query-hotpluggable-cpus reply (no numatui model)."""
    out: dict[SlotKey, int | None] = {}
    for entry in reply:
        props = entry["props"]
        key = tuple((p, int(props[p])) for p in ("socket-id", "core-id", "thread-id") if p in props)
        out[key] = props.get("node-id")
    return out


async def numatui_apply(plan: Plan) -> ApplyRun:
    """numatui's session maps ``plan`` (``Session.apply_mapping``: the fewest
    set-numa-node for every node, then one re-read) on a fresh QEMU."""
    async with fresh_vm() as vm:
        session = await Session.connect(vm.address, launcher=vm)
        try:
            mark = session.transcript.count()
            start = time.perf_counter()
            await session.apply_mapping(plan)
            seconds = time.perf_counter() - start
            sent = [e for e in session.transcript.since(mark) if e.kind == "cmd"]
            if session.topology.mapping() != dict(plan):
                raise BenchError("numatui's session did not end with the plan's mapping")
        finally:
            await session.close()
    mapping = sum(1 for e in sent if '"execute":"set-numa-node"' in e.text)
    return ApplyRun(seconds, mapping, len(sent))


async def floor_apply(plan: Plan, commands: Sequence[Mapping[str, Any]], spec: VmSpec = VM_240) -> ApplyRun:
    """The raw client sends ``commands`` then one query-hotpluggable-cpus."""
    async with fresh_vm(spec) as vm:
        client = await RawQmp.connect(socket_path(vm))
        try:
            start = time.perf_counter()
            for args in commands:
                await client.execute("set-numa-node", dict(args))
            reply = await client.execute("query-hotpluggable-cpus")
            seconds = time.perf_counter() - start
            sent = client.sent
        finally:
            await client.close()
    if mapping_of_reply(reply) != dict(plan):
        raise BenchError("the floor's commands did not produce the plan's mapping")
    return ApplyRun(seconds, len(commands), sent)


@dataclass
class CommandCounts:
    numatui: int  # set-numa-node numatui sent
    numatui_all: int  # all QMP commands numatui sent while applying (re-reads included)
    fewest: int  # fewest found (any prop pattern), verified on QEMU
    fewest_prefix: int  # fewest when every command names a prefix (socket / socket+core / ...)


async def count_commands(plan: Plan) -> CommandCounts:
    """numatui's commands for ``plan`` against the fewest, each checked on its own fresh QEMU."""
    fewest = fewest_patterns(plan)
    ours = await numatui_apply(plan)
    await floor_apply(plan, fewest)  # proves the fewest list really maps the plan
    return CommandCounts(ours.mapping_commands, ours.all_commands, len(fewest), fewest_prefix(plan))


@dataclass
class PresetCounts:
    numatui: int  # set-numa-node type cpu that `numatui apply --preset` sent (its printed lines)
    fewest: int  # fewest any client can send for the same mapping, verified on QEMU


async def preset_commands(spec: VmSpec, argv: Sequence[str], expected: Plan) -> PresetCounts:
    """``python -m numatui apply ADDRESS <argv>`` (e.g. ``--preset socket``) on
    a fresh QEMU of ``spec``: the set-numa-node lines it printed, checked
    against QEMU's mapping read afterwards by the raw client (which must be
    ``expected``), and the fewest commands for ``expected``, sent to a second
    fresh QEMU to prove they map it."""
    async with fresh_vm(spec) as vm:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "numatui", "apply", str(vm.address), *argv, "--timeout", "30",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise BenchError(f"numatui apply {' '.join(argv)} failed: {err.decode(errors='replace').strip()}")
        client = await RawQmp.connect(socket_path(vm))
        try:
            reply = await client.execute("query-hotpluggable-cpus")
        finally:
            await client.close()
    if mapping_of_reply(reply) != dict(expected):
        raise BenchError(f"numatui apply {' '.join(argv)} did not leave QEMU with the expected mapping")
    sent = 0
    for line in out.decode().splitlines():
        if line.startswith("set-numa-node "):
            sent += json.loads(line.split(" ", 1)[1]).get("type") == "cpu"
    fewest = fewest_patterns(expected)
    await floor_apply(expected, fewest, spec)
    return PresetCounts(sent, len(fewest))
