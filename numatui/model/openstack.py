"""A plan as an OpenStack flavor: ``openstack flavor set NAME --property KEY=VALUE ...``.

nova's libvirt driver turns a flavor's extra specs into each instance's
guest cells: ``hw:numa_nodes``, per cell ``hw:numa_cpus.N`` (vCPU indexes:
the cpu-index QEMU gives each slot, :meth:`Topology.cpu_indexes`, the rule the
libvirt export uses) and ``hw:numa_mem.N`` (MiB), and the CPU topology
``hw:cpu_sockets``/``cores``/``threads``.  nova numbers cells 0..N-1 in
order: numatui's nodes, sorted, become cells 0, 1, ... (a comment says so when
the numbers differ).  nova checks the cells against the flavor's own vCPUs and
RAM, which ``flavor set`` cannot change: a comment gives the ``flavor
create`` they need.  :mod:`numatui.model.flavor` reads the line back.

What a flavor cannot say is never dropped silently:

* refused (:class:`FlavorUnsupported`, one line), because the layout depends
  on it: a node without memory (nova's ``hw:numa_mem.N`` is at least 1 MiB)
  or of unknown size or not a whole MiB, a node without vCPUs present at boot
  (nova refuses an empty ``hw:numa_cpus.N``), and present vCPUs on no node
  (nova puts every vCPU in one cell);
* a ``#`` comment line above the command, because the layout survives
  without it: distances (the guest sees 10 local, 20 remote), HMAT, host
  binding and vCPU pinning (nova places and pins per compute host), the
  hot-pluggable slots beyond the vCPUs present at boot (nova has no CPU
  hot-plug: the flavor's vCPUs are the present ones), and CPU topology levels
  nova lacks (dies, clusters, modules, books, drawers: folded into sockets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from numatui.model.errors import NumaError
from numatui.model.flavor import MIB, nova_shape
from numatui.model.libvirt import topology_counts
from numatui.model.plan import Plan
from numatui.model.preflight import present_at_boot
from numatui.model.qemu_args import shell_join
from numatui.model.ranges import format_ranges
from numatui.model.topology import SlotKey, Topology

#: What ``numatui export --format openstack`` names the flavor without ``--flavor``.
PLACEHOLDER = "FLAVOR"
_FOLDED = ("drawers", "books", "dies", "clusters", "modules")


class FlavorUnsupported(NumaError):
    """The layout depends on something a flavor cannot say."""


@dataclass(frozen=True)
class FlavorSpecs:
    """The extra specs, the flavor's vCPUs and RAM (MiB, None: unknown) and the comment lines."""

    specs: tuple[tuple[str, str], ...]
    vcpus: int
    ram: int | None
    comments: tuple[str, ...]


def flavor_specs(topology: Topology, plan: Plan, *, boot_cpus: int | None = None,
                 smp: Mapping[str, int] | None = None, ram_size: int | None = None,
                 name: str = PLACEHOLDER) -> FlavorSpecs:
    """The flavor that reproduces the plan on this machine (``boot_cpus``: ``-smp
    cpus`` below ``maxcpus``; ``ram_size``: ``-m`` in bytes, for a VM without
    nodes).  FlavorUnsupported for what nova cannot express (module docstring)."""
    mapping = plan.resolve(topology) if plan.cpus else {
        s.key: s.node_id for s in topology.slots if s.node_id is not None}
    indexes = topology.cpu_indexes()
    present = present_at_boot(topology, boot_cpus)
    vcpus = sum(len(indexes[k]) for k in present)
    comments: list[str] = []
    cpus: dict[int, list[int]] = {}
    for key in present:
        if key in mapping:
            cpus.setdefault(mapping[key], []).extend(indexes[key])
    ids = sorted({n.id for n in plan.nodes} | set(mapping.values()))
    specs: list[tuple[str, str]] = []
    memory = 0
    if ids:
        loose = sorted(i for k in present if k not in mapping for i in indexes[k])
        if loose:
            raise FlavorUnsupported(f"vCPUs {format_ranges(loose)} are on no node: nova puts every vCPU in "
                                    "one cell; assign them, or use --format numa or cmdline")
        specs.append(("hw:numa_nodes", str(len(ids))))
        for cell, node_id in enumerate(ids):
            mib = _cell_mib(plan, node_id)
            specs += [(f"hw:numa_cpus.{cell}", format_ranges(_cell_cpus(node_id, cpus, mapping))),
                      (f"hw:numa_mem.{cell}", str(mib))]
            memory += mib
        if ids != list(range(len(ids))):
            comments.append("nova numbers cells 0.." + f"{len(ids) - 1}: " + ", ".join(
                f"node {n} is cell {c}" for c, n in enumerate(ids) if n != c))
    ram = memory if ids else (None if ram_size is None else ram_size // MIB)
    comments.insert(0, f"nova checks the cells against the flavor's own vCPUs and RAM: openstack flavor "
                       f"create {shell_join([name])} --vcpus {vcpus}" + (f" --ram {ram}" if ram else ""))
    shape = nova_shape(topology, smp, vcpus)
    if shape is None:
        comments.append(f"left out: the CPU topology ({vcpus} vCPUs are no whole number of QEMU's "
                        "sockets): nova picks sockets, cores and threads itself")
    else:
        specs += list(zip(("hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads"), map(str, shape), strict=True))
        comments += _folded(topology, smp, shape)
    comments += _left_out(topology, plan, mapping, present, boot_cpus)
    return FlavorSpecs(tuple(specs), vcpus, ram, tuple(comments))


def flavor_command(topology: Topology, plan: Plan, *, name: str | None = None, boot_cpus: int | None = None,
                   smp: Mapping[str, int] | None = None, ram_size: int | None = None) -> str:
    """``# ...`` comment lines, then ``openstack flavor set NAME --property K=V ...``
    (shell-quoted, one ``--property`` a line)."""
    name = name or PLACEHOLDER
    f = flavor_specs(topology, plan, boot_cpus=boot_cpus, smp=smp, ram_size=ram_size, name=name)
    argv = ["openstack", "flavor", "set", name]
    for key, value in f.specs:
        argv += ["--property", f"{key}={value}"]
    return "".join(f"# {c}\n" for c in f.comments) + shell_join(argv) + "\n"


def _cell_cpus(node_id: int, cpus: Mapping[int, list[int]], mapping: Mapping[SlotKey, int]) -> list[int]:
    """The node's present vCPUs; FlavorUnsupported when it has none."""
    if cpus.get(node_id):
        return cpus[node_id]
    why = ("its vCPUs are all hot-pluggable (beyond -smp cpus), and nova has no CPU hot-plug"
           if node_id in mapping.values() else "it has no vCPUs")
    raise FlavorUnsupported(f"node {node_id}: {why}; nova refuses a cell without vCPUs (an empty "
                            "hw:numa_cpus.N): give it vCPUs, or use --format numa or cmdline")


def _cell_mib(plan: Plan, node_id: int) -> int:
    """The node's memory in MiB; FlavorUnsupported when it has none, or it is unknown or not whole MiB."""
    declared = plan.node(node_id)
    size = declared.size if declared is not None else None
    if not size:
        if size == 0 or (declared is not None and declared.memdev is None):
            why = "has no memory: nova needs at least 1 MiB in every cell (hw:numa_mem.N)"
        else:
            why = "has memory of unknown size: a flavor's cell needs its size (hw:numa_mem.N)"
        raise FlavorUnsupported(f"node {node_id} {why}; give it memory, or use --format numa or cmdline")
    if size % MIB:
        raise FlavorUnsupported(f"node {node_id} has {size} bytes, not a whole number of MiB "
                                "(hw:numa_mem.N is in MiB): use --format numa or cmdline")
    return size // MIB


def _folded(topology: Topology, smp: Mapping[str, int] | None, shape: tuple[int, int, int]) -> list[str]:
    """A comment when nova's sockets x cores x threads is not QEMU's own shape."""
    counts = topology_counts(topology, smp) | {
        k: int(smp.get(k, 1) or 1) for k in ("drawers", "books", "modules") if smp}
    qemu = [(k, counts.get(k, 1)) for k in ("sockets", *_FOLDED, "cores", "threads")]
    if [v for k, v in qemu if k in ("sockets", "cores", "threads")] == list(shape) \
            and all(v == 1 for k, v in qemu if k in _FOLDED):
        return []
    said = " x ".join(f"{v} {k}" for k, v in qemu if v > 1 or k in ("sockets", "cores", "threads"))
    return [f"nova has only sockets, cores and threads: the guest gets {shape[0]} sockets x {shape[1]} "
            f"cores x {shape[2]} threads, where QEMU has {said}"]


def _left_out(topology: Topology, plan: Plan, mapping: Mapping[SlotKey, int], present: set[SlotKey],
              boot_cpus: int | None) -> list[str]:
    """One ``left out: ...`` comment per thing the flavor cannot carry that the layout survives without."""
    out = []
    if any(d.val != (10 if d.src == d.dst else 20) for d in plan.distances):
        out.append("left out: the distances (a flavor has no key for them: the guest sees 10 local, "
                   "20 remote)")
    if plan.has_hmat:
        out.append("left out: HMAT (initiators, hmat-lb, hmat-cache): a flavor has no key for them")
    bound = [n.id for n in plan.nodes if n.host_nodes]
    if bound:
        out.append(f"left out: the host binding of node(s) {format_ranges(bound)}: nova places each cell "
                   "on a host node of the compute host it picks")
    if plan.pinning is not None:
        out.append(f"left out: vCPU pinning (policy {plan.pinning}): nova pins per compute host, and only "
                   "with hw:cpu_policy=dedicated")
    spare = [s for s in topology.slots if s.key not in present]
    if spare:
        on = sum(1 for s in spare if s.key in mapping)
        out.append(f"left out: the {len(spare)} hot-pluggable slot(s) beyond -smp cpus={boot_cpus} "
                   f"({on} of them on a node): nova has no CPU hot-plug")
    return out
