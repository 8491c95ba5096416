"""Reading QEMU argvs and writing full command lines."""

from __future__ import annotations

import contextlib
import re
import shlex
from typing import Any

import pytest
from conftest import load_data
from hypothesis import given, settings
from hypothesis import strategies as st

from numatui.model.errors import NumaError
from numatui.model.plan import Distance, Node, Plan
from numatui.model.qemu_args import (
    full_command_line,
    iter_options,
    parse_qemu_args,
    parse_smp,
    shell_join,
)

SMP_CASES = load_data("smp-x86_64-7.2.json")["cases"]
G = 1 << 30


# -- -smp, checked against what qemu-system-x86_64 7.2 itself said ---------------------------
@pytest.mark.parametrize("case", SMP_CASES, ids=[f"{c['machine']}:{c['smp']}" for c in SMP_CASES])
def test_smp_as_qemu_7_2_resolves_it(case: dict[str, Any]) -> None:
    limit = re.search(r"supported by machine '([^']+)'", case.get("error", ""))
    if limit:  # the CPU limit is checked for versioned machine types only
        assert parse_smp(case["smp"], case["machine"]).maxcpus > 255
        case = {**case, "machine": limit.group(1)}
    if "result" in case:
        smp = parse_smp(case["smp"], case["machine"]).to_dict()
        assert {k: smp[k] for k in case["result"]} == case["result"]
    else:
        with pytest.raises(NumaError) as err:
            parse_smp(case["smp"], case["machine"])
        assert str(err.value).startswith(f"-smp {case['smp']}: ")
        assert case["error"] in str(err.value)


def test_smp_arm_virt_clusters_and_newer_levels() -> None:
    assert parse_smp("8,clusters=2", "virt").cores == 4
    with pytest.raises(NumaError, match="dies not supported"):
        parse_smp("8,dies=2", "virt")
    # drawers/books/modules (QEMU 8.2 / 9.1) multiply in like the other levels
    smp = parse_smp("16,drawers=2,books=2,modules=2")
    assert (smp.drawers, smp.books, smp.modules, smp.cores, smp.sockets) == (2, 2, 2, 2, 1)


def test_smp_options_merge_like_qemu() -> None:
    # checked with 7.2: later -smp keys override earlier ones, the rest stays
    cfg = parse_qemu_args(["-M", "q35", "-smp", "8,sockets=2", "-smp", "4"])
    assert cfg.smp is not None and (cfg.smp.cpus, cfg.smp.sockets, cfg.smp.cores) == (4, 2, 2)


# -- -m ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, size",
    [  # all checked with qemu-system-x86_64 7.2 (qom-get /machine memory)
        (["-m", "1G"], G), (["-m", "1024"], G), (["-m", "1.5G"], 3 * G // 2),
        (["-m", "size=2G"], 2 * G), (["-m", "size=512,slots=2,maxmem=4G"], G // 2),
        (["-m", "512k"], 512 * 1024), (["-m", "2g"], 2 * G), (["-m", "1024M", "-m", "512"], G // 2),
        (["-m", "100B"], 8192), (["-m", "0x100"], G // 4), (["-m", "512,size=1G"], G),
        (["-m", "512", "-m", "size=1G"], G), (["-m", "0"], None), (["-m", "maxmem=4G"], None),
        (["--m", "2G"], 2 * G), (["-m=2G"], 2 * G), ([], None),
    ],
)
def test_memory_sizes(args: list[str], size: int | None) -> None:
    assert parse_qemu_args(args).ram_size == size


@pytest.mark.parametrize("value", ["1GiB", "foo", "1e3", "1.5", "-1", ""])
def test_memory_errors_name_the_option(value: str) -> None:
    with pytest.raises(NumaError, match=f"^-m {value}: Parameter 'size'"):
        parse_qemu_args(["-m", value])


# -- -machine --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, machine",
    [(["-machine", "q35"], "q35"), (["-M", "pc,accel=tcg"], "pc"), (["-machine", "type=virt"], "virt"),
     (["--machine", "accel=kvm"], None), (["-machine", "q35", "-machine", "type=pc"], "pc"),
     (["-M=q35"], "q35"), (["qemu-system-x86_64", "-M", "pseries"], "pseries")],
)
def test_machine(args: list[str], machine: str | None) -> None:
    assert parse_qemu_args(args).machine == machine


# -- -numa and -object ---------------------------------------------------------------------------
def test_numa_nodes_memdevs_distances_cpus() -> None:
    argv = ["qemu-system-x86_64", "-machine", "q35", "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G",
            "-object", "memory-backend-ram,id=m0,size=1G",
            "-object", '{"qom-type":"memory-backend-ram","id":"m1","size":1073741824}',
            "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,memdev=m1", "-numa", "node",
            "-numa", "dist,src=0,dst=1,val=20", "-numa", "cpu,node-id=1,socket-id=0x1,core-id=0",
            "-object", "iothread,id=io0", "-display", "none", "-S", "disk.img"]
    cfg = parse_qemu_args(argv)
    assert cfg.program == "qemu-system-x86_64"
    assert cfg.nodes == [Node(0, "m0", G), Node(1, "m1", G), Node(2)]
    assert cfg.memdevs == {"m0": G, "m1": G}
    assert cfg.distances == [Distance(0, 1, 20)]
    assert cfg.cpus == [{"node-id": 1, "socket-id": 1, "core-id": 0}]
    assert cfg.other == ["-object", "iothread,id=io0", "-display", "none", "-S", "disk.img"]


def test_legacy_cpus_are_read_as_cpu_indexes() -> None:
    cfg = parse_qemu_args(["-smp", "8", "-numa", "node,nodeid=0,cpus=0-3,cpus=6",
                           "-numa", "node,nodeid=1,cpus=4-5:7"[:-2]], strict=False)
    assert cfg.legacy_cpus == {0: (0, 1, 2, 3, 6), 1: (4, 5)}
    with pytest.raises(NumaError, match=r"CPU index \(8\) should be smaller than maxcpus \(8\)"):
        parse_qemu_args(["-smp", "8", "-numa", "node,cpus=8"])


@pytest.mark.parametrize(
    "args, message",
    [  # QEMU 7.2's own words where it has them (checked), after the option as written
        (["-numa", "node,node-id=1"], r"^-numa node,node-id=1: Invalid parameter 'node-id' \(-numa node"),
        (["-numa", "nodeid=1"], r"^-numa nodeid=1: Parameter 'type' is missing"),
        (["-numa", "foo"], r"^-numa foo: Parameter 'type' does not accept value 'foo'"),
        (["-numa", "cpu,nodeid=1"], r"^-numa cpu,nodeid=1: Invalid parameter 'nodeid' \(-numa cpu"),
        (["-numa", "cpu,socket-id=0"], "Missing mandatory node-id property"),
        (["-numa", "node", "-numa", "node,nodeid=0"], "Duplicate NUMA nodeid: 0"),
        (["-numa", "node,nodeid=128"], "Max number of NUMA nodes reached: 128"),
        (["-numa", "cpu,node-id=0"], "Invalid node-id=0, NUMA node must be defined with -numa node"),
        (["-numa", "node", "-numa", "dist,src=0,dst=1,val=20"], "Source/Destination NUMA node is missing"),
        (["-numa", "node", "-numa", "node", "-numa", "dist,src=0,dst=1,val=300"],
         "Parameter 'val' expects an integer between 0 and 255"),
        (["-numa", "node", "-numa", "node", "-numa", "dist,src=0,dst=1,val=9"],
         r"NUMA distance \(9\) is invalid, it shouldn't be less than 10."),
        (["-numa", "node", "-numa", "dist,src=0,dst=0,val=20"], "Local distance of node 0 should be 10."),
        (["-numa", "dist,src=0,dst=1"], "Parameter 'val' is missing"),
        (["-numa", "node,memdev=m0"], "memdev=m0 is ambiguous"),
        (["-numa", "node,mem=1G,memdev=m0"], "mixing both is not allowed"),
        (["-object", "memory-backend-ram,id=m0"],
         r"^-object memory-backend-ram,id=m0: Parameter 'size' is missing"),
        (["-object", "memory-backend-ram,size=1G"], "Parameter 'id' is missing"),
        (["-object", "memory-backend-ram,id=a,size=1G"] * 2, "used twice"),
        (["-object", "memory-backend-ram,id=a,size=lots"], "is not a size"),
        (["-object", "{bad json"], "not valid JSON"),
        (["-object", "id=x"], "Parameter 'qom-type' is missing"),
        (["-smp", "8,,"], r"^-smp 8,,: "),
        (["-smp"], "^-smp: requires an argument"),
        (["-numa", "node,,"], r"does not accept value 'node,'"),  # ',,' is an escaped comma
        (["-numa", "node,nodeid=0,,memdev=m"], "Parameter 'nodeid' expects"),
    ],
)
def test_errors_name_the_token_and_why(args: list[str], message: str) -> None:
    with pytest.raises(NumaError, match=message):
        parse_qemu_args(args)


def test_not_strict_leaves_semantics_to_preflight() -> None:
    cfg = parse_qemu_args(["-numa", "cpu,node-id=3", "-numa", "dist,src=0,dst=0,val=20",
                           "-numa", "node,memdev=nowhere"], strict=False)
    assert cfg.cpus == [{"node-id": 3}] and cfg.distances == [Distance(0, 0, 20)]
    assert cfg.nodes == [Node(0, "nowhere", None)]


def test_option_forms() -> None:
    opts = list(iter_options(["--smp", "4", "-m=2G", "-S", "-nodefaults", "-unknown-flag", "-name", "vm",
                              "-display", "none", "disk.img", "-trailing"]))
    assert [(o.name, o.value) for o in opts] == [
        ("smp", "4"), ("m", "2G"), ("S", None), ("nodefaults", None), ("unknown-flag", None),
        ("name", "vm"), ("display", "none"), (None, "disk.img"), ("trailing", None)]


def test_recorded_argvs_parse() -> None:
    for name in ("q35-dies-threads.json", "q35-default.json", "pseries.json", "arm-virt.json"):
        data = load_data(name)
        cfg = parse_qemu_args(data["argv"])
        assert cfg.smp is not None
        assert {k: v for k, v in cfg.smp.to_dict().items() if k in data["smp"]} == data["smp"], name


# -- full command line ---------------------------------------------------------------------------
LAUNCHED = ["qemu-system-x86_64", "-machine", "q35", "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G",
            "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
            "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1",
            "-numa", "cpu,node-id=0,socket-id=1", "-numa", "dist,src=0,dst=1,val=30",
            "--preconfig", "-qmp", "unix:/tmp/numatui-abc/qmp.sock,server=on,wait=off",
            "-qmp", "unix:/run/mine.sock,server=on,wait=off", "-display", "none"]


def test_full_command_line() -> None:
    plan = Plan(nodes=(Node(0, "m0", G), Node(1, "m1", G), Node(2), Node(3, size=G // 2)),
                distances=(Distance(0, 1, 20), Distance(1, 2, 25)),
                cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}))
    argv = full_command_line(LAUNCHED, plan)
    assert argv == [
        "qemu-system-x86_64", "-machine", "q35", "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G",
        "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
        "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1",
        "-qmp", "unix:/run/mine.sock,server=on,wait=off", "-display", "none",
        "-numa", "node,nodeid=2",
        "-object", "memory-backend-ram,id=m3,size=512M", "-numa", "node,nodeid=3,memdev=m3",
        "-numa", "dist,src=0,dst=1,val=20", "-numa", "dist,src=1,dst=2,val=25",
        "-numa", "cpu,node-id=0,socket-id=0", "-numa", "cpu,node-id=1,socket-id=1",
    ]
    # it reads back as the plan (memory of the new node included)
    cfg = parse_qemu_args(argv)
    assert cfg.cpus == list(plan.cpus)
    assert [n.id for n in cfg.nodes] == [0, 1, 2, 3] and cfg.nodes[3].size == G // 2


def test_full_command_line_other_monitors_and_legacy_cpus() -> None:
    argv = ["-smp", "4", "-m", "1G", "-chardev", "socket,id=mon0,path=/x/q.sock,server=on,wait=off",
            "-mon", "chardev=mon0,mode=control", "-preconfig",
            "-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,cpus=0-3,memdev=m0"]
    out = full_command_line(argv, Plan(cpus=({"node-id": 0},)), monitors=["/x/q.sock"])
    assert out == ["-smp", "4", "-m", "1G", "-object", "memory-backend-ram,id=m0,size=1G",
                   "-numa", "node,nodeid=0,memdev=m0", "-numa", "cpu,node-id=0"]


def test_shell_join_quotes_and_wraps() -> None:
    text = shell_join(["qemu-system-x86_64", "-name", "my vm", "-numa", "cpu,node-id=0", "-S"])
    assert text == "qemu-system-x86_64 \\\n  -name 'my vm' \\\n  -numa cpu,node-id=0 \\\n  -S"
    assert shlex.split(text.replace("\\\n", "")) == ["qemu-system-x86_64", "-name", "my vm", "-numa",
                                                     "cpu,node-id=0", "-S"]


# -- never anything but NumaError -------------------------------------------------------------
TOKENS = st.sampled_from(["-smp", "-m", "-M", "-machine", "-numa", "-object", "--numa", "-S", "-m=1G",
                          "8", "0", "sockets=2", "cpus=0-3", "node", "cpu,node-id=0",
                          "dist,src=0,dst=0,val=10",
                          "memory-backend-ram,id=m0,size=1G", "{", "size=", ",", "0x", "=", "nodeid=1"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TOKENS, st.text(max_size=12)), max_size=10), st.booleans())
def test_parser_raises_only_numa_errors(argv: list[str], strict: bool) -> None:
    with contextlib.suppress(NumaError):
        parse_qemu_args(argv, strict=strict)
    with contextlib.suppress(NumaError):
        full_command_line(argv, Plan(nodes=(Node(5, size=G),), cpus=({"node-id": 5},)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.sampled_from([None, "q35", "pc", "virt", "pseries", "pc-q35-6.1"]))
def test_parse_smp_raises_only_numa_errors(text: str, machine: str | None) -> None:
    try:
        smp = parse_smp(text, machine)
    except NumaError:
        return
    assert smp.maxcpus >= smp.cpus > 0
