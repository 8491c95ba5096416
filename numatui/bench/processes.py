"""Whole processes, numatui's vs a plain script's (:mod:`numatui.bench.raw_script`),
timed from outside (start to exit, interpreter start-up and imports
included), pairs interleaved:

- ``cli_ratio``: ``numatui show SOCKET`` of the 240-vCPU VM vs the script
  sending the same queries (those numatui sent, read from its transcript);
- ``apply_process_ratio``: ``numatui apply SOCKET PLAN`` of the 32-node plan
  of :mod:`numatui.bench.plan` vs the script sending the commands numatui
  sent, each on a fresh plan VM (started outside the timed span).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numatui.bench import plan as plan_bench
from numatui.bench.paint import BenchError
from numatui.bench.qemu_vm import fresh_vm, socket_path

RAW_SCRIPT = str(Path(__file__).with_name("raw_script.py"))


@dataclass
class ProcessRun:
    numatui: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    commands: int = 0


def numatui_argv() -> list[str]:
    """The installed ``numatui`` console script beside this Python, else ``python -m numatui``."""
    script = Path(sys.executable).with_name("numatui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "numatui"]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:3])}... exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace')[-300:]}")
    return seconds


def _commands(log: Path) -> list[list[Any]]:
    """The commands of a ``--log`` transcript (``qmp_capabilities`` left out:
    the script sends it too)."""
    out: list[list[Any]] = []
    for line in log.read_text().splitlines():
        _, arrow, text = line.partition(" -> ")  # a command sent (replies are "<-")
        if arrow:
            msg = json.loads(text)
            out.append([msg["execute"], msg.get("arguments")])
    return [c for c in out if c[0] != "qmp_capabilities"]


def _env(state: str) -> dict[str, str]:
    """The children's environment: a private state directory, and bytecode
    cached as an installed package has it (pip compiles at install; with
    PYTHONDONTWRITEBYTECODE every start would compile numatui from source, a
    third of a ``numatui show``): in a private PYTHONPYCACHEPREFIX, written by
    the warm-up run, not into the source tree."""
    env = {**os.environ, "XDG_STATE_HOME": state, "NO_COLOR": "1",
           "PYTHONPYCACHEPREFIX": str(Path(state) / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


async def cli_pairs(pairs: int) -> ProcessRun:
    """``numatui show`` vs the script, ``pairs`` samples each (plus a warm-up pair)."""
    run = ProcessRun()
    with tempfile.TemporaryDirectory(prefix="numatui-bench-cli-") as d:
        env = _env(d)
        async with fresh_vm() as vm:
            sock = socket_path(vm)
            log = Path(d) / "show.log"
            _timed([*numatui_argv(), "show", sock, "--log", str(log)], env)
            commands = _commands(log)
            if not commands:
                raise BenchError("numatui show sent no command (its --log is empty)")
            cmds = Path(d) / "commands.json"
            cmds.write_text(json.dumps(commands))
            run.commands = len(commands)
            for i in range(pairs + 1):
                a = _timed([*numatui_argv(), "show", sock], env)
                b = _timed([sys.executable, RAW_SCRIPT, sock, str(cmds)], env)
                if i:
                    run.numatui.append(a)
                    run.raw.append(b)
    return run


async def apply_pairs(pairs: int, nodes: int = plan_bench.PLAN_NODES) -> ProcessRun:
    """``numatui apply`` of the plan vs the script, each on a fresh plan VM."""
    run = ProcessRun()
    with tempfile.TemporaryDirectory(prefix="numatui-bench-apply-") as d:
        env = _env(d)
        plan_file = Path(d) / "plan.json"
        plan_file.write_text(json.dumps(plan_bench.plan_dict(nodes)))
        cmds = Path(d) / "commands.json"
        for i in range(pairs + 1):
            async with plan_bench.bare_vm() as sock:
                log = Path(d) / "apply.log"
                log.unlink(missing_ok=True)
                a = _timed([*numatui_argv(), "apply", sock, str(plan_file), "--log", str(log)], env)
            commands = _commands(log)
            sent = [c for c in commands if not c[0].startswith("query-") and c[0] != "qom-get"]
            cmds.write_text(json.dumps([*sent, ["query-hotpluggable-cpus", None]]))
            run.commands = len(sent)
            async with plan_bench.bare_vm() as sock:
                b = _timed([sys.executable, RAW_SCRIPT, sock, str(cmds)], env)
            shutil.rmtree(Path(d) / "numatui", ignore_errors=True)  # its autosave: a fresh state each time
            if i:
                run.numatui.append(a)
                run.raw.append(b)
    return run
