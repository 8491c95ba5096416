"""The benchmark's table and its final JSON line.

Every ratio is median(numerator samples) / median(denominator samples), the
two sides measured interleaved in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from numatui.bench.qemu_vm import QEMU

#: JSON key -> goal (the ratio must be <= it).
GOALS: dict[str, float] = {
    "apply_ratio": 1.5,
    "commands_ratio": 1.0,
    "commands_ratio_per_core": 1.0,
    "commands_ratio_preset_socket": 1.0,
    "commands_ratio_preset_split": 1.0,
    "keypress_ratio": 3.0,
    "pin_ratio": 1.5,
    "plan_ratio": 1.5,
    "apply_process_ratio": 2.0,
    "cli_ratio": 3.0,
    "relaunch_ratio": 1.5,
    "render_scaling": 1.5,
    "first_paint_scaling": 1.5,
    "memory_scaling": 1.3,
}

#: Goals of rows that need what a machine may lack (a QEMU >= 9.0 for 4096
#: vCPUs): in the table and the JSON line when measured, else a skipped row.
OPTIONAL_GOALS: dict[str, float] = {
    "commands_ratio_preset_socket_4096": 1.0,
    "commands_ratio_preset_split_4096": 1.0,
}

#: Absolute figures in the JSON line (context, no goal).
ABSOLUTE_KEYS: tuple[str, ...] = ("connect_to_first_paint_ms", "keypress_ms")


@dataclass
class Stat:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def text(self, unit: str) -> str:
        if unit == "ms":
            scale, fmt = 1000.0, "{:.2f}"
        elif unit == "MiB":
            scale, fmt = 1 / 1024, "{:.1f}"
        else:
            scale, fmt = 1.0, "{:g}"
        med, low, high = (fmt.format(v * scale) for v in
                          (self.median, min(self.samples), max(self.samples)))
        if low == high:
            return f"{med} {unit}".rstrip()
        return f"{med} ({low}–{high}) {unit}".rstrip()


@dataclass
class Row:
    """One line of the table: numerator vs denominator samples."""

    key: str
    what: str
    top: Stat
    bottom: Stat
    unit: str

    @property
    def ratio(self) -> float:
        return self.top.median / self.bottom.median if self.bottom.median else float("inf")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    absolute: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (what, why)

    def skip(self, key: str, what: str, why: str) -> None:
        """A row that could not be measured here, shown with ``why``."""
        self.skipped[key] = (what, why)

    def add(self, key: str, what: str, top: Sequence[float], bottom: Sequence[float], unit: str) -> None:
        self.rows.append(Row(key, what, Stat(list(top)), Stat(list(bottom)), unit))

    def ratios(self) -> dict[str, float]:
        out = {row.key: row.ratio for row in self.rows}
        cursor, assign = out.get("render_scaling_cursor"), out.get("render_scaling_assign")
        if cursor is not None and assign is not None:
            out["render_scaling"] = max(cursor, assign)
        return out

    def table(self) -> str:
        ratios = self.ratios()
        head = ("ratio", "numerator: median (min–max)", "denominator: median (min–max)", "ratio", "goal", "")
        lines = [head]
        for row in self.rows:
            goal = _goal(row.key)
            lines.append((row.key, row.top.text(row.unit), row.bottom.text(row.unit), f"{row.ratio:.2f}",
                          f"<= {goal:g}" if goal is not None else "", _verdict(row.ratio, goal)))
            lines.append(("  " + row.what, "", "", "", "", ""))
        for key, (what, why) in self.skipped.items():
            goal = _goal(key)
            lines.append((key, "", "", "", f"<= {goal:g}" if goal is not None else "", why))
            lines.append(("  " + what, "", "", "", "", ""))
        if "render_scaling" in ratios:
            r = ratios["render_scaling"]
            lines.append(("render_scaling", "worse of cursor / assign", "", f"{r:.2f}",
                          f"<= {GOALS['render_scaling']:g}", _verdict(r, GOALS["render_scaling"])))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
               for line in lines]
        out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for key in ABSOLUTE_KEYS:
            if key in self.absolute:
                out.append(f"{key}: {self.absolute[key]:.1f}")
        out += self.notes
        return "\n".join(out)

    def json_line(self, machine: dict[str, Any]) -> str:
        ratios = self.ratios()
        data: dict[str, Any] = {k: round(v, 3) for k, v in ratios.items()}
        data.update({k: round(v, 2) for k, v in self.absolute.items()})
        goals = {**GOALS, **OPTIONAL_GOALS}
        data["goals_met"] = {k: ratios[k] <= g + 1e-9 for k, g in goals.items() if k in ratios}
        if self.skipped:
            data["skipped"] = {k: why for k, (_, why) in self.skipped.items()}
        data["bench_seconds"] = round(self.seconds, 1)
        data["machine"] = machine
        return json.dumps(data, sort_keys=False)


def _goal(key: str) -> float | None:
    return GOALS.get(key, OPTIONAL_GOALS.get(key))


def _verdict(ratio: float, goal: float | None) -> str:
    if goal is None:
        return ""
    if ratio <= goal + 1e-9:
        return "met"
    return f"MISSED by {ratio / goal:.1f}x"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        qemu = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=10,
                              check=False).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        qemu = "unknown"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "textual": _version("textual"),
        "qemu.qmp": _version("qemu.qmp"),
        "qemu": qemu,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
