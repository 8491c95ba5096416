"""`python -m numatui.bench --quick` runs end to end and ends with its JSON line.

A smoke run only: no timing is asserted (shared machines drift); the numbers
themselves come from a full run (`python -m numatui.bench`).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pytest

from numatui.bench.qemu_vm import QEMU
from numatui.bench.report import ABSOLUTE_KEYS, GOALS, OPTIONAL_GOALS

pytestmark = pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed")

#: Every ratio the JSON line always carries: the goals plus their parts and context.
RATIO_KEYS: tuple[str, ...] = (
    *GOALS,
    "commands_ratio_per_core_prefix",
    "keypress_idle_ratio",
    "keypress_textual_floor",
    "keypress_over_textual_floor",
    "render_scaling_cursor",
    "render_scaling_assign",
    "render_scaling_socket",
)


def test_quick_bench_prints_every_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "numatui.bench", "--quick"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    data = json.loads(lines[-1])
    for key in (*RATIO_KEYS, *ABSOLUTE_KEYS):
        assert key in data, key
        value = data[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, value)
    assert set(GOALS) <= set(data["goals_met"]) <= set(GOALS) | set(OPTIONAL_GOALS)
    for key in OPTIONAL_GOALS:  # measured (QEMU >= 9.0 found) or said why not
        assert key in data["goals_met"] or data["skipped"][key].startswith("skipped: needs QEMU >= 9.0"), key
    assert "| apply_ratio" in proc.stdout  # the table came before the JSON line
