"""HMAT through numatui (``apply``, the record, the exports) on real QEMU.

QEMU's own HMAT test cases (numa-test.c pc_hmat_build_cfg, pc_hmat_off_cfg,
pc_hmat_erange_cfg) are replayed one command per ``numatui apply``: what
QEMU accepts is sent and the VM boots; each command QEMU's test expects
refused is refused by numatui's own check (exit 2, nothing sent).  Each
``apply`` is a new numatui process, so what was sent before comes from the
record of what QEMU was told.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import hmat_cases as cases
import pytest
from conftest import SYSTEM_QEMU, Qemu, info_numa

from numatui import cli

SENT = re.compile(r'"execute": ?"(set-numa-node|object-add)"')


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _plan_of(args: dict[str, Any]) -> dict[str, Any]:
    item = {k: v for k, v in args.items() if k != "type"}
    if args["type"] == "node":
        return {"version": 1, "nodes": [{"id": item.pop("nodeid"), **item}]}
    return {"version": 1, args["type"]: [item]}


def _status(q: Qemu) -> str:
    return str(asyncio.run(q.qmp("query-status"))["status"])


def _info_numa(q: Qemu) -> dict[int, tuple[str, int]]:
    text = asyncio.run(q.qmp("human-monitor-command", {"command-line": "info numa"}))
    return info_numa(str(text))


@pytest.mark.parametrize("name", ["BUILD", "OFF", "ERANGE"])
def test_qemus_hmat_cases_through_apply_then_the_export(
    qemu_factory: Any, tmp_path: Path, name: str,
) -> None:
    args = getattr(cases, f"{name}_ARGS")
    q = qemu_factory(args)
    log = tmp_path / "qmp.log"
    for i, (step, refused) in enumerate(getattr(cases, name)):
        plan = tmp_path / f"step{i}.json"
        plan.write_text(json.dumps(_plan_of(step)))
        before = log.read_text() if log.exists() else ""
        code, out, err = run("apply", q.sock, str(plan), "--log", str(log))
        if refused:  # numatui's own check, nothing sent; or the very same command again:
            # QEMU already holds it (the record says), so apply has nothing to send
            assert code == 2 or (code == 0 and "nothing to send" in out), (i, step, out, err)
            if code == 2:
                assert err.startswith("numatui: ") and len(err.splitlines()) == 1
            assert not SENT.search(log.read_text()[len(before):])
        else:
            assert code == 0, (i, step, err)
    exported = run("export", q.sock)[1]
    again = tmp_path / "export.numa"  # an export re-applies as a plan: nothing to send, then boot
    again.write_text(exported)
    code, _, err = run("apply", q.sock, str(again), "--exit-preconfig")
    assert code == 0, err
    assert _status(q) == "running"
    # the exported options on a fresh QEMU with the same command line: it boots
    lines = [w for line in exported.splitlines() for w in shlex.split(line)]
    if name != "OFF":
        assert any(w.startswith("hmat-lb,") for w in lines)
    fresh = qemu_factory([*args, *lines], preconfig=False)
    assert _status(fresh) == "running"
    assert _info_numa(fresh) == _info_numa(q)


def test_tier_plan_applies_boots_and_every_export_reproduces_it(
    qemu_factory: Any, tmp_path: Path,
) -> None:
    """The README's example: DRAM nodes 0 and 1 with CPUs, node 2 memory-only."""
    q = qemu_factory(cases.TIER_ARGS)
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(cases.TIER_PLAN))
    code, out, err = run("apply", q.sock, str(plan))
    assert code == 0, err
    assert out.count("hmat-lb") == 12 and out.count("hmat-cache") == 1
    exported_json = json.loads(run("export", q.sock, "--format", "json")[1])
    assert exported_json["hmat-lb"] == [{k: v for k, v in x.items()} for x in cases.TIER_PLAN["hmat-lb"]]
    assert exported_json["hmat-cache"] == cases.TIER_PLAN["hmat-cache"]
    assert [n.get("initiator") for n in exported_json["nodes"]] == [None, None, 0]
    exported = run("export", q.sock)[1]
    assert "-numa node,nodeid=2,memdev=m2,initiator=0" in exported
    code, _, err = run("apply", q.sock, str(tmp_path / "tier.json"), "--exit-preconfig")
    assert code == 0, err
    assert _status(q) == "running"
    numa = _info_numa(q)
    assert numa[2] == ("", 1024)
    # the -numa options added to the same command line
    fresh = qemu_factory([*cases.TIER_ARGS, *[w for line in exported.splitlines()
                                               for w in shlex.split(line)]], preconfig=False)
    assert _status(fresh) == "running" and _info_numa(fresh) == numa
    # the JSON plan into a fresh QEMU in preconfig
    again = qemu_factory(cases.TIER_ARGS)
    js = tmp_path / "exported.json"
    js.write_text(json.dumps(exported_json))
    code, _, err = run("apply", again.sock, str(js), "--exit-preconfig")
    assert code == 0, err
    assert _info_numa(again) == numa


def test_hmat_refused_without_hmat_on_before_anything_is_sent(
    qemu_factory: Any, tmp_path: Path,
) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                      "-smp", "4,sockets=2,cores=2", "-m", "3G"])
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(cases.TIER_PLAN))
    log = tmp_path / "qmp.log"
    code, _, err = run("apply", q.sock, str(plan), "--log", str(log))
    assert code == 2
    assert "enable it with -machine hmat=on" in err
    assert not SENT.search(log.read_text())


async def test_launch_hmat_adds_hmat_on_to_the_machine_option() -> None:
    from conftest import DEFAULT_ARGS

    from numatui.session.launcher import Launcher, with_hmat
    from numatui.session.session import Session

    assert with_hmat(["qemu", "-m", "1G"]) == ["qemu", "-m", "1G", "-machine", "hmat=on"]
    launcher = Launcher(extra_args=DEFAULT_ARGS, hmat=True)
    assert "q35,hmat=on" in launcher.user_argv
    await launcher.start()
    try:
        s = await Session.connect(launcher.address, launcher=launcher)
        try:
            assert s.info.hmat is True  # qom-get /machine hmat: QEMU's own answer
            await s.add_node(2, initiator=0)
            assert s.plan().node(2).initiator == 0
        finally:
            await s.close()
    finally:
        await launcher.stop()


def _libvirt_tier() -> dict[str, Any]:
    """The tier plan without the 1 -> 0 entries: libvirt takes one link per pair of nodes."""
    data = json.loads(json.dumps(cases.TIER_PLAN))
    data["hmat-lb"] = [x for x in data["hmat-lb"] if (x["initiator"], x["target"]) != (1, 0)]
    return data


def test_libvirt_export_validates_converts_and_boots_the_same(
    qemu_factory: Any, tmp_path: Path,
) -> None:
    from test_truth_roundtrip import DOMAIN, _libvirt_argv, _numa_options_of, need

    need("virt-xml-validate")
    need("virsh")
    q = qemu_factory(cases.TIER_ARGS)
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(_libvirt_tier()))
    assert run("apply", q.sock, str(plan))[0] == 0
    code, cpu, err = run("export", q.sock, "--format", "libvirt")
    assert code == 0, err
    assert "<interconnects>" in cpu and '<cache level="1" associativity="direct"' in cpu
    xml = tmp_path / "domain.xml"
    xml.write_text(DOMAIN.format(kib=3 << 20, vcpus=4, cpu=cpu.strip(),
                                 emulator=SYSTEM_QEMU))
    valid = subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    options = _numa_options_of(_libvirt_argv(xml))
    assert "node,nodeid=2,initiator=0,memdev=ram-node2" in options, options
    assert sum(1 for o in options if o.startswith("hmat-lb,")) == 10
    # QEMU from libvirt's options boots with the same nodes as the QEMU numatui configured
    fresh = qemu_factory([*cases.TIER_ARGS, *options], preconfig=False)
    assert _status(fresh) == "running"
    assert run("apply", q.sock, str(plan), "--exit-preconfig")[0] == 0
    assert _info_numa(fresh) == _info_numa(q)


def test_libvirt_refuses_links_both_ways_in_one_line(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory(cases.TIER_ARGS)
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(cases.TIER_PLAN))
    assert run("apply", q.sock, str(plan))[0] == 0
    code, out, err = run("export", q.sock, "--format", "libvirt")
    assert code == 2 and out == ""
    assert "libvirt cannot express hmat-lb both from node 0 to node 1 and back" in err


def test_cmdline_export_of_the_tier_plan_boots_the_same(qemu_factory: Any, tmp_path: Path) -> None:
    """``--format cmdline`` is the whole command line: HMAT options after the CPUs."""
    q = qemu_factory(cases.TIER_ARGS)
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(cases.TIER_PLAN))
    assert run("apply", q.sock, str(plan))[0] == 0
    code, text, err = run("export", q.sock, "--format", "cmdline")
    assert code == 0, err
    argv = shlex.split(text.replace("\\\n", " "))
    assert "--preconfig" not in argv and "-numa" in argv
    kinds = [argv[i + 1].split(",")[0] for i, a in enumerate(argv) if a == "-numa"]
    assert kinds.index("hmat-lb") > max(i for i, k in enumerate(kinds) if k == "cpu")
    run("apply", q.sock, str(plan), "--exit-preconfig")
    fresh = qemu_factory(argv[1:], preconfig=False)
    assert _status(fresh) == "running"
    assert _info_numa(fresh) == _info_numa(q)
