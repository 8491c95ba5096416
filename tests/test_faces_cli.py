"""The CLI fits its conventions (#25 item 10): ``show --format json``, shell
completion generated from the parser, "did you mean", a slot error that
lists a slot's props, ``hotplug`` in preconfig, plurals."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, numa_node_args
from test_cli import fails, ok, run

from numatui.cli.completion import script
from numatui.cli.parser import build_parser
from numatui.model.topology import Topology


def test_show_json_is_one_object_of_what_qemu_reports(qemu_factory: Any, tmp_path: Any) -> None:
    q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"cpus": [{"node-id": 1, "socket-id": 0}],
                                "distances": [{"src": 0, "dst": 1, "val": 21}]}))
    assert "on 1 node with 2 commands\n" in ok("apply", q.sock, str(plan))  # plurals right
    data = json.loads(ok("show", q.sock, "--format", "json"))
    assert set(data) == {"state", "slots", "nodes", "distances"} and data["state"] == "preconfig"
    qemu_says = Topology.from_hotpluggable(asyncio.run(q.qmp("query-hotpluggable-cpus"))).mapping()
    assert {tuple(s["props"].items()): s["node-id"] for s in data["slots"]} == qemu_says
    assert all("node-id" not in s["props"] for s in data["slots"])
    assert [s["node-id"] for s in data["slots"]] == [1, 1, 1, 1, None, None, None, None]
    assert [(n["id"], n["memdev"], n["size"], n["vcpus"]) for n in data["nodes"]] == \
        [(0, "m0", 1 << 30, 0), (1, "m1", 1 << 30, 4)]
    assert data["distances"] == [{"src": 0, "dst": 1, "val": 21}]


def _bash_complete(line: str) -> list[str]:
    """What bash offers for ``line`` (the last word being completed) with the generated script."""
    words = line.split(" ")
    program = (f"{script(build_parser(), 'bash')}\n"
               f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
               '_numatui; printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.split()


def test_bash_completion_from_the_parser() -> None:
    assert _bash_complete("numatui ex") == ["export"]
    assert "completion" in _bash_complete("numatui ")
    assert _bash_complete("numatui export /tmp/x.sock --for") == ["--format"]
    assert _bash_complete("numatui export /tmp/x.sock --format ") == [
        "numa", "cmdline", "json", "libvirt", "openstack"]
    assert _bash_complete("numatui show /tmp/x.sock --format j") == ["json"]
    assert _bash_complete("numatui completion ") == ["bash", "zsh"]
    assert "--exit-preconfig" in _bash_complete("numatui apply x --")


def test_zsh_completion_from_the_parser() -> None:
    text = ok("completion", "zsh")
    assert text.startswith("#compdef numatui\n")
    assert "'--format[-numa options (default), full command line, JSON plan, libvirt XML, openstack " \
           "flavor set line]:format:(numa cmdline json libvirt openstack)'" in text
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: its syntax check is skipped")
    subprocess.run(["zsh", "-n", "-c", text], check=True, timeout=30)


def test_did_you_mean_a_command_an_option_value_and_a_prop(qemu: Any) -> None:
    said = fails(2, "exprt", qemu.sock)
    assert "unknown command exprt (did you mean export?); choose from launch, connect" in said
    assert "[" not in said and "'" not in said  # no Python list syntax
    assert "(did you mean json?)" in fails(2, "export", qemu.sock, "--format", "jsn")
    assert "(did you mean socket-id?)" in fails(2, "hotplug", qemu.sock, "sockt-id=1,core-id=0")


def test_a_slot_error_lists_the_props_a_slot_has(qemu: Any) -> None:
    said = fails(2, "hotplug", qemu.sock, "socket-id=1")
    assert "no CPU slot socket-id=1: a slot of this board is named by socket-id, core-id, thread-id " \
           "(e.g. socket-id=0,core-id=0,thread-id=0;" in said


def test_hotplug_in_preconfig_says_to_boot_first(qemu: Any) -> None:
    said = fails(2, "hotplug", qemu.sock, "socket-id=1,core-id=0,thread-id=0")
    assert "QEMU is in preconfig: CPUs are plugged after boot; boot first" in said
    assert asyncio.run(qemu.qmp("query-status"))["status"] == "prelaunch"


def test_bare_numatui_prints_the_usage_with_the_commands() -> None:
    code, out, err = run()
    assert code == 2 and out == ""
    for command in ("launch", "connect", "show", "apply", "export", "hotplug", "unplug", "completion"):
        assert f"    {command}" in err
    done = subprocess.run([sys.executable, "-m", "numatui"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage: numatui" in done.stderr
