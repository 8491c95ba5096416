"""A libvirt domain's XML: read it (as data), and write numatui's part back into its text.

Reading: :func:`read_domain` parses with ElementTree, bounded (a domain is a
few KiB; more than :data:`MAX_DOMAIN_BYTES` is refused), and checks the root
is ``<domain>``.  :func:`conversion_xml` is the same domain with no devices,
for ``virsh domxml-to-native``: numatui's scratch QEMU opens no disk, NIC or
host resource, and libvirt need not resolve networks or pools to convert it.
:func:`scratch_args` keeps from libvirt's argv only what numatui needs:
machine type, CPU model, ``-smp``, ``-m``, the cells' memory backends (as
plain RAM or memfd: no host file or binding) and ``-numa`` without the
legacy ``cpus=``, and runs it under TCG whatever the domain's accelerator
(the scratch QEMU never runs the guest; ``-cpu host`` becomes ``max``).
The cells' vCPU indexes and the HMAT come back separately, to be sent over
QMP, so that moves relaunch and replay like any plan.

Writing: :func:`splice` never round-trips the document through a parser.
It finds the character ranges of the elements numatui owns
(``<cpu><numa>``, ``<numatune>``, ``<cputune>``, and ``<cpu><topology>`` /
``<vcpu>`` when they changed) with a small scanner of the well-formed text,
and replaces only those, or inserts new ones with the file's indentation;
devices, metadata, comments, order and attribute quoting stay byte for byte.
The new elements come from :mod:`numatui.model.libvirt` (the one writer).
"""

from __future__ import annotations

import copy
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from numatui.model.argv import iter_options, object_props, parse_qemu_args, split_program
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.smp import escape_opt, split_opts

#: The largest domain XML numatui reads.
MAX_DOMAIN_BYTES = 1 << 20

#: The architectures numatui starts a ``qemu-system-ARCH`` for.
_ARCHES = frozenset({"x86_64", "i686", "aarch64", "ppc64", "ppc64le", "riscv64", "s390x"})
#: ``-machine`` keys the scratch QEMU keeps (the board and its NUMA; not usb=, vmport=, accel=).
_MACHINE_KEYS = frozenset({"type", "hmat"})
#: CPU models only KVM runs: the scratch QEMU (always TCG) takes ``max``.
_HOST_MODELS = frozenset({"host"})
#: Cell attributes numatui does not write but keeps from the user's cell of the same id.
_KEPT_CELL_ATTRS = ("memAccess", "discard")


@dataclass(frozen=True)
class Domain:
    """A domain's XML text and what numatui reads in it."""

    text: str
    root: ET.Element
    where: str

    @property
    def name(self) -> str:
        return (self.root.findtext("name") or "").strip()

    @property
    def arch(self) -> str:
        """``<os><type arch=...>`` (x86_64 when not said, as libvirt on an x86 host)."""
        el = self.root.find("os/type")
        arch = (el.get("arch") if el is not None else None) or "x86_64"
        if arch not in _ARCHES:
            raise NumaError(f"{self.where}: <os><type arch='{arch[:40]}'> is not an architecture "
                            f"numatui knows ({', '.join(sorted(_ARCHES))})")
        return arch

    @property
    def qemu(self) -> str:
        """The QEMU numatui runs for it: ``qemu-system-ARCH`` by name, never the
        file's ``<emulator>`` (a file does not choose what program numatui starts)."""
        arch = {"i686": "i386", "ppc64le": "ppc64"}.get(self.arch, self.arch)
        return f"qemu-system-{arch}"


def read_domain(text: str, where: str) -> Domain:
    """Parse a domain's XML; NumaError (one line, naming ``where``) when it is not one."""
    if len(text) > MAX_DOMAIN_BYTES:
        raise NumaError(f"{where}: {len(text)} bytes is more than a domain's XML "
                        f"({MAX_DOMAIN_BYTES} at most)")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise NumaError(f"{where}: a DOCTYPE or ENTITY declaration is not a libvirt domain")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise NumaError(f"{where}: not well-formed XML ({exc})") from None
    if root.tag != "domain":
        raise NumaError(f"{where}: not a libvirt domain (its root element is <{root.tag[:60]}>, "
                        "not <domain>)")
    if not (root.findtext("name") or "").strip():
        raise NumaError(f"{where}: the domain has no <name>")
    return Domain(text, root, where)


def conversion_xml(domain: Domain) -> str:
    """The domain with an empty ``<devices>`` (only its ``<emulator>``), for domxml-to-native."""
    root = ET.fromstring(domain.text)
    for devices in root.findall("devices"):
        for child in list(devices):
            if child.tag != "emulator":
                devices.remove(child)
    return ET.tostring(root, encoding="unicode")


def split_native(text: str) -> list[str]:
    """virsh domxml-to-native's output (``VAR=val ... /usr/bin/qemu ... \\`` lines) as an argv."""
    words = shlex.split(text.replace("\\\n", " "))
    while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):  # the environment first
        words.pop(0)
    if not words:
        raise NumaError("libvirt's domxml-to-native gave no QEMU command line")
    return words


@dataclass(frozen=True)
class Scratch:
    """What the scratch QEMU is started with, the vCPU indexes of each cell, and
    the HMAT (``-numa hmat-lb``/``hmat-cache`` values): QEMU checks an hmat-lb's
    initiator has CPUs as it reads the option, so these are sent over QMP after
    the CPUs (:attr:`Plan.hmat_lb`)."""

    args: list[str]
    cell_cpus: dict[int, tuple[int, ...]]
    hmat: Plan = field(default_factory=Plan)


def scratch_args(native: Sequence[str]) -> Scratch:
    """From libvirt's argv: ``-machine`` (board, hmat), ``-accel tcg``,
    ``-cpu``, ``-smp``, ``-m``, the ``-object memory-backend-*`` the cells use
    and ``-numa`` with ``cpus=`` taken out (returned as ``cell_cpus``)."""
    from numatui.model.argv import _cpu_indexes

    _, options = split_program(native)
    out: list[str] = []
    objects: dict[str, list[str]] = {}
    used: set[str] = set()
    cells: dict[int, tuple[int, ...]] = {}
    hmat: list[str] = []
    for opt in iter_options(options):
        value = opt.value or ""
        if opt.name in ("machine", "M"):
            keep = [(k, v) for k, v in split_opts(value, "type", opt.text) if k in _MACHINE_KEYS]
            out += ["-machine", ",".join(v if k == "type" else f"{k}={v}" for k, v in keep)]
        elif opt.name == "cpu" and opt.value is not None:  # host models need KVM: TCG's max
            out += ["-cpu", "max" if value.split(",")[0] in _HOST_MODELS else value]
        elif opt.name in ("smp", "m") and opt.value is not None:
            out += [f"-{opt.name}", value]
        elif opt.name == "object" and "memory-backend-" in value:
            props = object_props(value, opt.text)
            objects[str(props.get("id"))] = ["-object", _scratch_backend(props)]
        elif opt.name == "numa":
            pairs = split_opts(value, "type", opt.text)
            kind = dict(pairs).get("type")
            if kind in ("hmat-lb", "hmat-cache"):
                hmat += ["-numa", value]
                continue
            if kind == "node":
                ranges = [v for k, v in pairs if k == "cpus"]
                node = int(dict(pairs).get("nodeid", len(cells)))  # numbers: libvirt writes it
                cells[node] = _cpu_indexes(ranges, opt.text) if ranges else ()
                used.update(v for k, v in pairs if k == "memdev")
                value = ",".join(v if k == "type" else f"{k}={escape_opt(v)}"
                                 for k, v in pairs if k != "cpus")
            out += ["-numa", value]
    backends = [tok for oid, tokens in objects.items() if oid in used for tok in tokens]
    parsed = parse_qemu_args(hmat, strict=False)
    return Scratch(args=[*backends, "-accel", "tcg", *out], cell_cpus=cells,
                   hmat=Plan(hmat_lb=tuple(parsed.hmat_lb), hmat_cache=tuple(parsed.hmat_cache)))


def scratch_can_boot(machine_type: str, smp: Mapping[str, int]) -> bool:
    """Whether the scratch QEMU (TCG) can leave preconfig with this board:
    TCG refuses pseries with threads > 1 ("TCG cannot support more than 1
    thread/core on a pseries machine"), which a KVM host runs; there numatui's
    preflight (QEMU's own checks, modelled) judges the layout instead."""
    return not (machine_type.startswith("pseries") and int(smp.get("threads", 1) or 1) > 1)


def _scratch_backend(props: Mapping[str, object]) -> str:
    """A cell's backend for the scratch QEMU: its id and size, memfd kept as
    memfd (no host resource), anything else as RAM; no binding to host nodes
    (they are this host's, maybe not the domain's host's)."""
    qom = "memory-backend-memfd" if props.get("qom-type") == "memory-backend-memfd" else \
        "memory-backend-ram"
    size = props.get("size")
    if not isinstance(size, (int, str)) or isinstance(size, bool):
        raise NumaError(f"libvirt's backend {props.get('id')!s:.60} has no size numatui can read")
    return f"{qom},id={props.get('id')},size={size}"


# -- the text scanner ------------------------------------------------------------------
_TOKEN = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"
    r"|<(/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>",
    re.S)


@dataclass(frozen=True)
class Span:
    """One element in the text: ``start`` at its ``<``, ``end`` after its ``>``;
    ``inner`` where its content begins (None when it is ``<x/>``), ``close``
    where its end tag begins."""

    path: tuple[str, ...]
    start: int
    end: int
    inner: int | None
    close: int


def scan(text: str) -> list[Span]:
    """Every element of a well-formed document (already parsed once) with its range."""
    stack: list[tuple[str, int, int]] = []
    spans: list[Span] = []
    for m in _TOKEN.finditer(text):
        closing, name, _, empty = m.groups()
        if name is None:
            continue  # comment, CDATA, processing instruction
        if closing:
            if not stack or stack[-1][0] != name:
                raise NumaError(f"unbalanced </{name[:40]}> at character {m.start()}")
            _, start, inner = stack.pop()
            spans.append(Span((*(s[0] for s in stack), name), start, m.end(), inner, m.start()))
        elif empty:
            spans.append(Span((*(s[0] for s in stack), name), m.start(), m.end(), None, m.end()))
        else:
            stack.append((name, m.start(), m.end()))
    return sorted(spans, key=lambda s: s.start)


def _find(spans: Sequence[Span], *path: str) -> Span | None:
    return next((s for s in spans if s.path == path), None)


def _indent_of(text: str, pos: int) -> str:
    """The whitespace between the line start and ``pos`` ("" if text is there)."""
    line = text.rfind("\n", 0, pos) + 1
    lead = text[line:pos]
    return lead if not lead.strip() else ""


def _unit(text: str, spans: Sequence[Span]) -> str:
    """The file's indentation step: the indent of ``<domain>``'s first child."""
    child = next((s for s in spans if len(s.path) == 2), None)
    unit = _indent_of(text, child.start) if child is not None else ""
    return unit or "  "


def _render(el: ET.Element, unit: str, level: int) -> str:
    """``el`` as text indented for ``level`` (its first line has no indent)."""
    ET.indent(el, space=unit, level=level)
    el.tail = None
    return ET.tostring(el, encoding="unicode")


# -- the splice ------------------------------------------------------------------------
@dataclass(frozen=True)
class Owned:
    """numatui's elements for a domain: each replaces the user's, None leaves it as it is."""

    numa: ET.Element | None
    topology: ET.Element | None = None
    vcpu: ET.Element | None = None
    numatune: ET.Element | None = None
    cputune: ET.Element | None = None


def splice(domain: Domain, owned: Owned) -> str:
    """The domain's text with the owned elements replaced or inserted (see the module)."""
    text = domain.text
    spans = scan(text)
    unit = _unit(text, spans)
    edits: list[tuple[int, int, str]] = []  # (start, end, new text), applied from the end
    cpu = _find(spans, "domain", "cpu")
    old_numa = domain.root.find("cpu/numa")
    if owned.numa is not None and old_numa is not None:
        _keep_cell_attrs(old_numa, owned.numa)
    children = [(n, el) for n, el in (("topology", owned.topology), ("numa", owned.numa))
                if el is not None]
    if cpu is None:
        if children:
            made = ET.Element("cpu")
            made.extend(el for _, el in children)
            edits.append(_insert_before_devices(text, spans, _render(made, unit, 1), unit))
    else:
        level = 2
        missing = []
        for name, el in children:
            span = _find(spans, "domain", "cpu", name)
            if span is not None:
                edits.append((span.start, span.end, _render(el, unit, level)))
            else:
                missing.append(el)
        if missing:
            indent = _indent_of(text, cpu.start)
            body = "".join(f"\n{indent}{unit}{_render(el, unit, level)}" for el in missing)
            if cpu.inner is None:  # <cpu .../>: open it
                head = text[cpu.start:cpu.end].rstrip("/>").rstrip()
                edits.append((cpu.start, cpu.end, f"{head}>{body}\n{indent}</cpu>"))
            else:
                at = len(text[:cpu.close].rstrip())
                edits.append((at, at, body))
    for name, sibling in (("vcpu", owned.vcpu), ("numatune", owned.numatune),
                          ("cputune", owned.cputune)):
        if sibling is None:
            continue
        before = domain.root.find(name)
        if name == "cputune" and before is not None:  # numatui's is <vcpupin>; <shares>, ... stay
            kept = [copy.deepcopy(child) for child in before if child.tag != "vcpupin"]
            sibling = ET.Element("cputune", before.attrib)
            sibling.extend([*kept, *(owned.cputune or ())])
        span = _find(spans, "domain", name)
        if span is not None:
            edits.append((span.start, span.end, _render(sibling, unit, 1)))
        else:
            after = cpu or _find(spans, "domain", "vcpu") or _find(spans, "domain", "name")
            assert after is not None  # read_domain checked <name>
            edits.append((after.end, after.end, f"\n{_indent_of(text, after.start) or unit}"
                                                f"{_render(sibling, unit, 1)}"))
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _insert_before_devices(text: str, spans: Sequence[Span], new: str,
                           unit: str) -> tuple[int, int, str]:
    """Where a new ``<cpu>`` goes: before ``<devices>``, else before ``</domain>``."""
    devices = _find(spans, "domain", "devices")
    if devices is not None:
        indent = _indent_of(text, devices.start)
        return devices.start, devices.start, f"{new}\n{indent}"
    root = _find(spans, "domain")
    assert root is not None
    at = len(text[:root.close].rstrip())
    return at, at, f"\n{unit}{new}"


def _keep_cell_attrs(old: ET.Element, new: ET.Element) -> None:
    """memAccess/discard of the user's cells stay on the cells of the same id."""
    kept = {c.get("id"): c for c in old.findall("cell")}
    for cell in new.findall("cell"):
        before = kept.get(cell.get("id"))
        if before is not None:
            for attr in _KEPT_CELL_ATTRS:
                if attr in before.attrib and attr not in cell.attrib:
                    cell.set(attr, before.attrib[attr])


def vcpu_counts(domain: Domain) -> tuple[int | None, int | None]:
    """``<vcpu current=C>M</vcpu>``: (C or M, M) as the domain says them."""
    el = domain.root.find("vcpu")
    if el is None or not (el.text or "").strip().isdigit():
        return None, None
    maximum = int((el.text or "").strip())  # numbers: digits checked
    current = el.get("current")
    return (int(current) if current and current.isdigit() else maximum), maximum
