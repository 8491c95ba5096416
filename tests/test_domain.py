"""``numatui domain``: a libvirt domain laid out on a scratch QEMU and written back.

The oracles are libvirt's own (``virt-xml-validate``, ``domxml-to-native``,
``define``/``dumpxml``/``start`` on a real libvirtd, see
:mod:`libvirt_fixtures`) and QEMU's (a QEMU started from libvirt's argv
reports each slot's node-id; the domain libvirt starts answers ``info numa``).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, info_numa
from libvirt_fixtures import (
    PREFIX,
    URI,
    libvirtd,  # noqa: F401 (the fixture, used by name)
    undefine,
    virsh,
)
from test_truth_roundtrip import numatui, write_plan

from numatui.model.argv import iter_options, object_props
from numatui.model.domain_xml import split_native

REALISTIC = DATA / "domain-realistic.xml"
G = 1 << 30
#: socket 0 on node 1, socket 1 on node 0 (the domain had them the other way), distance 21
PLAN = {"nodes": [{"id": 0, "size": G}, {"id": 1, "size": G}],
        "distances": [{"src": 0, "dst": 1, "val": 21}],
        "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}
#: what QEMU must report for PLAN (x86 q35, 2 sockets x 2 cores x 2 threads)
WANT = {(s, c, t): 1 - s for s in (0, 1) for c in (0, 1) for t in (0, 1)}
OWNED = ("cpu/numa", "numatune", "cputune")


def _need(*binaries: str) -> None:
    for b in binaries:
        if shutil.which(b) is None:
            pytest.skip(f"needs {b}")


def _without_owned(text: str) -> str:
    """Canonical XML (comments kept) of the domain without numatui's elements."""
    root = ET.fromstring(text, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    for path in OWNED:
        parent_path, _, tag = path.rpartition("/")
        parent = root.find(parent_path) if parent_path else root
        for el in [] if parent is None else parent.findall(tag):
            parent.remove(el)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True, with_comments=True)


def _native(uri: str, path: Path) -> list[str]:
    out = virsh("domxml-to-native", "qemu-argv", "--xml", str(path)).stdout
    return split_native(out)


def _oracle_args(native: list[str]) -> list[str]:
    """libvirt's board, CPUs, memory and NUMA options as it wrote them (``cpus=``
    included), its file backends as RAM (their host paths exist only for a started domain)."""
    out: list[str] = []
    for opt in iter_options(native[1:]):
        if opt.name == "machine":
            out += ["-machine", (opt.value or "").split(",")[0]]
        elif opt.name in ("accel", "cpu", "smp", "m", "numa"):
            out += list(opt.tokens)
        elif opt.name == "object" and "memory-backend" in (opt.value or ""):
            props = object_props(opt.value or "", "-object")
            out += ["-object", f"memory-backend-ram,id={props['id']},size={props['size']}"]
    return out


async def _slot_nodes(qemu_factory: Any, args: list[str]) -> dict[tuple[int, ...], int | None]:
    q = qemu_factory(args)
    slots = await q.qmp("query-hotpluggable-cpus")
    return {(s["props"]["socket-id"], s["props"]["core-id"], s["props"]["thread-id"]):
            s["props"].get("node-id") for s in slots}


# -- (a) a file: validated, untouched outside numatui's part, and QEMU agrees ---------------
@pytest.mark.usefixtures("libvirtd")
async def test_domain_file_apply_output(qemu_factory: Any, tmp_path: Path) -> None:
    _need("virt-xml-validate", "xmllint")
    out = tmp_path / "out.xml"
    code, stdout, err = numatui("domain", str(REALISTIC), "--connect", URI,
                                "--apply", write_plan(tmp_path, PLAN), "--output", str(out))
    assert code == 0, err
    assert stdout == "" and err.strip() == f"numatui: wrote {out}"
    before, after = REALISTIC.read_text(), out.read_text()
    valid = subprocess.run(["virt-xml-validate", str(out), "domain"], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert _without_owned(after) == _without_owned(before)
    # byte for byte outside <numa>: comments, quoting, the namespace, the order
    head, tail = before.split("    <numa>")[0], before.split("</numa>\n")[1]
    assert after.startswith(head + "    <numa>") and after.endswith("</numa>\n" + tail)
    assert "memAccess=\"private\"" in after  # the user's cell attribute stays on cell 1
    native = _native(URI, out)
    options = [t for opt in iter_options(native[1:]) if opt.name == "numa" for t in opt.tokens]
    assert "dist,src=0,dst=1,val=21" in options and "dist,src=1,dst=0,val=21" in options
    assert await _slot_nodes(qemu_factory, _oracle_args(native)) == WANT


@pytest.mark.usefixtures("libvirtd")
async def test_in_place_rewrites_the_file_and_stdout_by_default(tmp_path: Path) -> None:
    copy = tmp_path / "vm.xml"
    shutil.copy(REALISTIC, copy)
    plan = write_plan(tmp_path, PLAN)
    code, printed, err = numatui("domain", str(copy), "--connect", URI, "--apply", plan)
    assert code == 0, err
    assert copy.read_text() == REALISTIC.read_text()  # stdout only
    code, _, err = numatui("domain", str(copy), "--connect", URI, "--apply", plan, "--in-place")
    assert code == 0, err
    assert copy.read_text() == printed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".numatui-")] == []


# -- bad input: one line, its exit code, nothing written -------------------------------------
@pytest.mark.parametrize(("make", "code", "words"), [
    (lambda d: d.joinpath("x.xml").write_text("<network><name>n</name></network>"), 2,
     "not a libvirt domain"),
    (lambda d: d.joinpath("x.xml").write_text("<domain><name>n</name>"), 2, "not well-formed"),
])
def test_a_file_that_is_not_a_domain(make: Any, code: int, words: str, tmp_path: Path) -> None:
    make(tmp_path)
    out = tmp_path / "out.xml"
    got, stdout, err = numatui("domain", str(tmp_path / "x.xml"), "--apply",
                               write_plan(tmp_path, PLAN), "--output", str(out))
    assert (got, stdout) == (code, "") and not out.exists()
    assert len(err.splitlines()) == 1 and words in err, err


@pytest.mark.usefixtures("libvirtd")
def test_unknown_name_and_unreachable_uri(tmp_path: Path) -> None:
    code, _, err = numatui("domain", f"{PREFIX}no-such-vm", "--connect", URI,
                           "--apply", write_plan(tmp_path, PLAN))
    assert code == 2 and len(err.splitlines()) == 1 and "no such domain" in err, err
    code, _, err = numatui("domain", f"{PREFIX}x", "--connect",
                           f"qemu+unix:///system?socket={tmp_path}/none.sock",
                           "--apply", write_plan(tmp_path, PLAN))
    assert code == 3 and len(err.splitlines()) == 1 and "cannot connect" in err, err


@pytest.mark.usefixtures("libvirtd")
def test_a_domain_libvirt_refuses(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(REALISTIC.read_text().replace('machine="q35"', 'machine="no-such-board"'))
    out = tmp_path / "out.xml"
    code, _, err = numatui("domain", str(bad), "--connect", URI, "--apply",
                           write_plan(tmp_path, PLAN), "--output", str(out))
    assert code == 1 and len(err.splitlines()) == 1 and not out.exists(), err
    assert err.startswith(f"numatui: libvirt at {URI} refused virsh domxml-to-native: ")


@pytest.mark.usefixtures("libvirtd")
def test_what_libvirt_cannot_say_and_what_qemu_refuses(tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    memoryless = {"nodes": [{"id": 2}], "cpus": [{"node-id": 2, "socket-id": 0}]}
    code, _, err = numatui("domain", str(REALISTIC), "--connect", URI,
                           "--apply", write_plan(tmp_path, memoryless), "--output", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and "libvirt cannot express" in err, err
    # three cells, a distance for one pair only: QEMU needs every pair ("... is missing")
    three = tmp_path / "three.xml"
    three.write_text(REALISTIC.read_text().replace(
        "<cell id='1' cpus='4-7' memory='1048576' unit='KiB' memAccess='private'/>",
        "<cell id='1' cpus='4-5' memory='524288' unit='KiB'/>"
        "<cell id='2' cpus='6-7' memory='524288' unit='KiB'/>"))
    plan = {"distances": [{"src": 0, "dst": 1, "val": 21}]}
    code, _, err = numatui("domain", str(three), "--connect", URI,
                           "--apply", write_plan(tmp_path, plan), "--output", str(out))
    assert code == 1 and len(err.splitlines()) == 1 and "distance" in err, err
    assert not out.exists()


# -- (b) a name on a real libvirtd: define, dumpxml, start, info numa -------------------------
DEFINED = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>8</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <cpu>
    <topology sockets='2' cores='2' threads='2'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


@pytest.mark.usefixtures("libvirtd")
def test_define_on_a_real_libvirtd_then_start(tmp_path: Path) -> None:
    name = f"{PREFIX}define"
    src = tmp_path / "d.xml"
    src.write_text(DEFINED.format(name=name))
    undefine(name)
    virsh("define", str(src))
    try:
        code, stdout, err = numatui("domain", name, "--connect", URI,
                                    "--apply", write_plan(tmp_path, PLAN), "--define")
        assert code == 0 and stdout == "", err
        assert err.strip() == f"numatui: defined {name} on {URI}"
        dumped = ET.fromstring(virsh("dumpxml", "--inactive", name).stdout)
        cells = {c.get("id"): (c.get("cpus"), c.get("memory")) for c in dumped.findall("cpu/numa/cell")}
        assert cells == {"0": ("4-7", "1048576"), "1": ("0-3", "1048576")}
        virsh("start", name)
        # a running domain: said, and the layout waits for its next start
        code, _, err = numatui("domain", name, "--connect", URI, "--apply",
                               write_plan(tmp_path, PLAN), "--define")
        assert code == 0 and "applies at its next start" in err, err
        hmp = virsh("qemu-monitor-command", name, "--hmp", "info numa").stdout
        numa = info_numa(hmp)
        assert {n: (cpus, mib) for n, (cpus, mib) in numa.items()} == {
            0: ("4 5 6 7", 1024), 1: ("0 1 2 3", 1024)}, hmp
    finally:
        undefine(name)


@pytest.mark.usefixtures("libvirtd")
def test_preset_instead_of_a_plan(tmp_path: Path) -> None:
    """--preset interleave: the cores alternate over the domain's two cells."""
    code, stdout, err = numatui("domain", str(REALISTIC), "--connect", URI,
                                "--preset", "interleave")
    assert code == 0, err
    cells = {c.get("id"): c.get("cpus") for c in ET.fromstring(stdout).findall("cpu/numa/cell")}
    assert set(cells) == {"0", "1"} and cells["0"] != "0-3" and all(cells.values()), stdout


GUEST_DOMAIN = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>8</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{dir}/vmlinuz</kernel>
    <initrd>{dir}/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'>
    <model fallback='allow'>qemu64</model>
    <topology sockets='2' cores='2' threads='2'/>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{dir}/serial.log'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


@pytest.mark.guest
@pytest.mark.usefixtures("libvirtd")
def test_a_real_guest_in_the_defined_domain_sees_the_plan(tmp_path: Path) -> None:
    """The guest kernel libvirt boots from the domain numatui defined: its nodes,
    CPUs and distances are the plan's (Linux numbers nodes in SRAT order: cpu 0 first)."""
    import tempfile

    import guest

    guest.require()
    name = f"{PREFIX}guest"
    public = Path(tempfile.mkdtemp(prefix="numatui-guest-"))  # libvirt-qemu must read and write here
    try:
        public.chmod(0o777)
        shutil.copy(guest.KERNEL, public / "vmlinuz")
        shutil.copy(guest.build_initramfs(tmp_path, guest.INIT_REPORT), public / "initrd.gz")
        src = tmp_path / "g.xml"
        src.write_text(GUEST_DOMAIN.format(name=name, dir=public))
        undefine(name)
        virsh("define", str(src))
        code, _, err = numatui("domain", name, "--connect", URI, "--apply",
                               write_plan(tmp_path, PLAN), "--define")
        assert code == 0, err
        virsh("start", name)
        serial = public / "serial.log"

        def alive() -> bool:
            return virsh("domstate", name, check=False).stdout.strip() == "running"

        report = guest.wait_report(serial, alive)
        # QEMU node 1 holds cpu 0 (socket 0): the guest calls it node 0
        assert report.cpus() == {0: frozenset(range(4)), 1: frozenset(range(4, 8))}
        assert [n.distances for n in report.nodes.values()] == [(10, 21), (21, 10)]
    finally:
        undefine(name)
        shutil.rmtree(public, ignore_errors=True)


@pytest.mark.usefixtures("libvirtd")
def test_hmat_of_the_domain_is_kept(tmp_path: Path) -> None:
    """A domain with caches and <interconnects>: the scratch QEMU gets its HMAT
    over QMP (after the CPUs, which its initiators need), and libvirt converts
    the written domain into the same hmat-lb/hmat-cache options as the original."""
    src = DATA / "domain-hmat.xml"
    out = tmp_path / "out.xml"
    plan = write_plan(tmp_path, {"cpus": [{"node-id": 0, "socket-id": 0}]})
    code, _, err = numatui("domain", str(src), "--connect", URI, "--apply", plan, "--output", str(out))
    assert code == 0, err

    def hmat(path: Path) -> list[str]:
        return sorted(opt.value or "" for opt in iter_options(_native(URI, path)[1:])
                      if opt.name == "numa" and "hmat" in (opt.value or ""))

    assert hmat(out) == hmat(src) and len(hmat(src)) == 4


@pytest.mark.usefixtures("libvirtd")
def test_a_kvm_domain_is_laid_out_under_tcg(tmp_path: Path) -> None:
    """<domain type='kvm'> with host-passthrough: the scratch QEMU runs TCG and
    -cpu max (it never runs the guest), and the domain keeps its own CPU mode."""
    src = tmp_path / "kvm.xml"
    src.write_text(REALISTIC.read_text().replace('<domain type="qemu"', '<domain type="kvm"').replace(
        "<cpu mode='custom' match='exact' check='none'>\n    <model fallback='forbid'>qemu64</model>",
        "<cpu mode='host-passthrough'>"))
    code, stdout, err = numatui("domain", str(src), "--connect", URI,
                                "--apply", write_plan(tmp_path, PLAN))
    assert code == 0, err
    assert _without_owned(stdout) == _without_owned(src.read_text()) and "host-passthrough" in stdout
    cells = {c.get("id"): c.get("cpus") for c in ET.fromstring(stdout).findall("cpu/numa/cell")}
    assert cells == {"0": "4-7", "1": "0-3"}


@pytest.mark.parametrize(("args", "words"), [
    (["vm.xml", "--define", "--apply", "p.json"], "--define redefines a domain by name"),
    (["myvm", "--in-place", "--apply", "p.json"], "--in-place rewrites a file"),
    (["vm.xml", "--apply", "p.json", "--preset", "socket"], "--apply PLAN or --preset NAME"),
    (["vm.xml", "--output", "o.xml", "--in-place"], "not allowed with argument"),
])
def test_usage_errors_are_one_line(args: list[str], words: str) -> None:
    code, out, err = numatui("domain", *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err, err


@pytest.mark.parametrize(("source", "binary", "plan", "want"), [
    # arm virt: 2 sockets x 4 cores; QEMU reports the nodes of present CPUs after -S
    ("domain-arm.xml", "qemu-system-aarch64", PLAN["cpus"],
     {(s, c): 1 - s for s in (0, 1) for c in range(4)}),
    # pseries: a slot is a core of 2 threads (core-id 0, 2, 4, 6); TCG cannot boot
    # threads > 1 there, so preflight judges the layout instead of x-exit-preconfig
    ("domain-pseries.xml", "qemu-system-ppc64",
     [{"node-id": 1, "core-id": 0}, {"node-id": 0, "core-id": 2}, {"node-id": 1, "core-id": 4},
      {"node-id": 0, "core-id": 6}], {0: 1, 2: 0, 4: 1, 6: 0}),
], ids=["arm-virt", "pseries"])
@pytest.mark.usefixtures("libvirtd")
async def test_other_boards_round_trip(qemu_factory: Any, tmp_path: Path, source: str, binary: str,
                                       plan: list[dict[str, int]], want: dict[Any, int]) -> None:
    out = tmp_path / "out.xml"
    code, _, err = numatui("domain", str(DATA / source), "--connect", URI,
                           "--apply", write_plan(tmp_path, {"cpus": plan}), "--output", str(out))
    assert code == 0, err
    args = _oracle_args(_native(URI, out))
    if binary.endswith("aarch64"):
        q = qemu_factory([*args, "-S"], binary=binary, preconfig=False)
        got = {(c["props"]["socket-id"], c["props"]["core-id"]): c["props"]["node-id"]
               for c in await q.qmp("query-cpus-fast")}
    else:
        q = qemu_factory(args, binary=binary)
        got = {s["props"]["core-id"]: s["props"]["node-id"] for s in await q.qmp("query-hotpluggable-cpus")}
    assert got == want
