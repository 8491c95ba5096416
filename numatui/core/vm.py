"""The running QEMU and every action a user can ask of it, once.

:class:`Vm` owns the session (and through it the launcher numatui started),
its :class:`~numatui.core.keeper.Keeper` (undo history, autosave) and the
unplug requests in flight.  Each user action is one method with one set of
checks, run by the action itself: a check that fails raises
:class:`~numatui.core.errors.ActionRefused` (nothing was sent; callers do
not pre-check), QEMU's refusals stay
:class:`~numatui.session.errors.QemuRefused`.  What a face shows while an
action runs (a relaunch) it hears through a callback argument.  The CLI
formats the results as lines, the TUI as widgets.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from numatui.core import export
from numatui.core.errors import ActionRefused, NothingToDo
from numatui.core.host import HostView, capacity_findings
from numatui.core.keeper import Keeper
from numatui.core.unplug import UNPLUG_TIMEOUT, Answer, UnplugTracker
from numatui.model import hmat
from numatui.model.backend import Backend
from numatui.model.devices import is_plugged_device
from numatui.model.distances import check_distance
from numatui.model.errors import NumaError
from numatui.model.flavor import FlavorPlan
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.host import format_cpulist
from numatui.model.pinning import PinPolicy
from numatui.model.plan import Distance, Node, Plan
from numatui.model.preflight import Finding, Severity
from numatui.model.qemu_args import (
    argv_with_topology,
    free_memdev_id,
    iter_options,
    object_id,
    ram_backend,
    rebind_object,
    topology_options,
)
from numatui.model.topology import SlotKey
from numatui.model.units import human_size
from numatui.session import memory
from numatui.session.commands import distance_step
from numatui.session.errors import BadRequest, QemuRefused, SessionError
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.replay import ATTACHED_EXPLANATION, can_relaunch, launched, moved_plan, send_plan

if TYPE_CHECKING:
    from numatui.session.pinning import PinResult
    from numatui.session.session import Session


class MoveRefused(QemuRefused):
    """QEMU refused to move an assigned CPU and numatui cannot relaunch it
    (attached): ``plan`` is what a restarted QEMU would need."""

    def __init__(self, refused: QemuRefused, plan: Plan | None) -> None:
        super().__init__(refused.command, refused.qemu_message, refused.error_class)
        self.plan = plan


def run_state(session: Session) -> str:
    """"preconfig", "running", "paused", "other" or "disconnected"."""
    return session.state.value


def is_booted(session: Session) -> bool:
    """True once the machine is built (:attr:`Session.booted`)."""
    return session.booted


#: Why a slot cannot be plugged / unplugged: "present" (holds a CPU), "empty"
#: (holds none), "pending" (unplug already asked), "boot" (a -smp CPU).
Why = Literal["present", "empty", "pending", "boot"]


@dataclass
class Targets:
    """The slots an action can take, and the others with why not."""

    ok: list[SlotKey] = field(default_factory=list)
    refused: list[tuple[SlotKey, Why]] = field(default_factory=list)


class Vm:
    """One QEMU (launched or attached) and the actions on it."""

    def __init__(self, session: Session, keeper: Keeper | None = None, *,
                 unplug_timeout: float = UNPLUG_TIMEOUT,
                 on_unplug_answer: Callable[[Answer], None] | None = None,
                 host_root: str = "/") -> None:
        self.session = session
        self.keeper = keeper if keeper is not None else Keeper(session)
        self.unplugs = UnplugTracker(session, unplug_timeout, on_unplug_answer)
        #: the host numatui runs on (``host_root``: a recorded /sys + /proc tree instead)
        self.host = HostView(host_root)
        #: cpu-index -> host CPUs its thread runs on, as read back after the last pinning
        self.pinned: dict[int, tuple[int, ...]] = {}
        #: vCPUs the last pinning left alone (cpu-index -> why)
        self.unpinned: dict[int, str] = {}
        #: why the plan's pinning after boot or a hot-plug failed (None: it did not)
        self.pin_error: str | None = None
        #: that failure itself (the CLI fails with it: a refused pin is an error)
        self.pin_failure: SessionError | NumaError | ActionRefused | None = None

    # -- state ------------------------------------------------------------------------
    @property
    def launcher(self) -> Launcher | None:
        """The QEMU numatui started (None: attached)."""
        return launched(self.session)

    @property
    def booted(self) -> bool:
        return self.session.booted

    @property
    def can_relaunch(self) -> bool:
        return can_relaunch(self.session)

    # -- assign ------------------------------------------------------------------------
    def _refuse_assign(self, node: int) -> None:
        """ActionRefused when no assignment to ``node`` can be sent now."""
        s = self.session
        if self.booted:
            raise ActionRefused("The VM is running: QEMU fixed every CPU's node at boot.")
        known = {n.id for n in s.nodes}
        if known and node not in known:
            raise ActionRefused(f"Node {node} does not exist (nodes: "
                                f"{', '.join(map(str, sorted(known)))}). Press n to add a node.")
        if not s.connected:
            what = "relaunch it with the plan" if self.can_relaunch else "reconnect"
            raise ActionRefused(f"QEMU is disconnected: press R to {what}.")

    def needs_move(self, keys: Collection[SlotKey], node: int) -> bool:
        """True when some of ``keys`` are already on another node (QEMU cannot move them)."""
        return any(self.session.topology.slot(k).node_id not in (None, node) for k in keys)

    async def assign(self, keys: Collection[SlotKey], node: int,
                     relaunching: Callable[[], object] | None = None) -> None:
        """Put ``keys`` on ``node``: live, or by relaunch when some are assigned
        elsewhere and numatui started QEMU (``relaunching`` hears it first).
        Raises ActionRefused, MoveRefused (attached: QEMU's words and the plan
        it would need), QemuRefused."""
        self._refuse_assign(node)
        moving = self.needs_move(keys, node)
        if moving and self.can_relaunch:
            if relaunching is not None:
                relaunching()
            await self.keeper.move(keys, node)
            return
        try:
            await self.session.assign(keys, node)
        except QemuRefused as exc:
            if not moving:
                raise
            try:
                plan: Plan | None = moved_plan(self.session, keys, node)
            except Exception:
                plan = None
            raise MoveRefused(exc, plan) from None

    async def add_node(self) -> Node:
        """A new memoryless node, live."""
        return await self.session.add_node()

    async def set_distance(self, src: int, dst: int, val: int) -> None:
        await self.session.set_distance(src, dst, val)

    async def set_distances(self, distances: Sequence[Distance], description: str) -> int:
        """An editor's distances as one batch (one change, one undo step);
        returns how many QEMU accepted, raises its first refusal."""
        s = self.session
        return await s.send([distance_step(d.src, d.dst, d.val) for d in distances], description)

    # -- HMAT -------------------------------------------------------------------
    def check_hmat(self, lbs: Sequence[HmatLb] = (), caches: Sequence[HmatCache] = ()) -> None:
        """ActionRefused (QEMU's own words) when QEMU would refuse these new
        hmat-lb / hmat-cache commands after what it holds already."""
        problem = hmat_problem(self.session, lbs, caches)
        if problem:
            raise ActionRefused(problem)

    async def set_hmat_lb(self, lb: HmatLb) -> None:
        """One latency or bandwidth value, live (``set-numa-node`` type hmat-lb)."""
        self.check_hmat([lb])
        await self.session.set_hmat_lb(lb)

    async def set_hmat_cache(self, cache: HmatCache) -> None:
        """One memory-side cache level of a node, live (type hmat-cache)."""
        self.check_hmat(caches=[cache])
        await self.session.set_hmat_cache(cache)

    async def set_memory(self, sizes: dict[int, int],
                         backends: Mapping[int, Backend] | None = None,
                         initiators: Mapping[int, int] | None = None) -> Launcher | None:
        """Nodes with ``sizes`` (bytes): nodes QEMU lacks are added live with a
        new backend in preconfig (None: no relaunch, see
        :meth:`numatui.core.keeper.Keeper.set_memory`); a changed size is a new
        QEMU with the plan replayed (its launcher).  ``backends``: a new
        node's backend type and options (:mod:`numatui.model.backend`);
        ``initiators``: a new node's HMAT initiator (QEMU takes it only when
        the node is declared)."""
        if initiators:
            problem = hmat_problem(self.session, (), (), nodes=[Node(i, initiator=n)
                                                                 for i, n in initiators.items()])
            if problem:
                raise ActionRefused(problem)
        return await self.keeper.set_memory(sizes, backends, initiators)

    # -- topology (-smp, -cpu) -----------------------------------------------------------
    def topology_options(self) -> tuple[str, str]:
        """The ``-smp`` and ``-cpu`` QEMU runs with ("" when its argv has none)."""
        return topology_options(self.session.qemu_argv or ())

    async def set_topology(self, smp: str, cpu: str) -> list[SlotKey]:
        """A new QEMU with ``-smp smp`` and ``-cpu cpu`` ("" = QEMU's default
        model), the mapping carried over where the slots still exist (same
        props); returns the slots that had a node and are gone.  ActionRefused
        when numatui did not start this QEMU or the VM has booted (nothing
        changed), or for an -smp QEMU would not take; ReplayFailed when the new
        QEMU fails (back on the old one)."""
        launcher = self.launcher
        if launcher is None or not self.can_relaunch:
            raise ActionRefused(self._why_not_relaunch("-smp and -cpu are fixed when QEMU starts"))
        try:
            argv = argv_with_topology(launcher.user_argv, smp, cpu)
        except NumaError as exc:
            raise ActionRefused(str(exc)) from None
        if argv == launcher.user_argv:
            raise ActionRefused("QEMU runs with this -smp and -cpu already.")
        return await self.keeper.set_topology(argv, f"-smp {smp}" + (f" -cpu {cpu}" if cpu else ""))

    # -- undo, redo, relaunch ------------------------------------------------------------
    def _why_not_relaunch(self, what: str) -> str:
        if self.launcher is None:
            return f"{what}: {ATTACHED_EXPLANATION}."
        return f"{what}: the VM has booted; QEMU fixed every CPU's node at boot."

    async def undo(self, redo: bool = False, relaunching: Callable[[str], object] | None = None) -> str:
        """Go back (forward) one change by relaunch (``relaunching`` hears what,
        first); returns what it was.  NothingToDo on an empty history,
        ActionRefused when QEMU cannot be relaunched."""
        word = "redo" if redo else "undo"
        history = self.keeper.history
        what = history.redo_description() if redo else history.undo_description()
        if what is None:
            raise NothingToDo(f"Nothing to {word}.")
        if not self.can_relaunch:
            raise ActionRefused(self._why_not_relaunch(f"{word} {what}"))
        if relaunching is not None:
            relaunching(what)
        return await self.keeper.undo(redo)

    async def relaunch_or_reconnect(self) -> Literal["relaunch", "reconnect"]:
        """After QEMU went away: a new QEMU with the plan (numatui started it), or
        connect again; ActionRefused while connected."""
        if self.session.state is not RunState.DISCONNECTED:
            raise ActionRefused("QEMU is connected.")
        how: Literal["relaunch", "reconnect"] = "relaunch" if self.can_relaunch else "reconnect"
        if how == "relaunch":
            await self.keeper.relaunch()
        else:
            await self.session.reconnect()
        return how

    # -- boot ----------------------------------------------------------------------------
    def preflight(self) -> list[Finding]:
        """The model's checks of the plan and the host's capacity for it, blocking first."""
        if self.booted:
            raise ActionRefused("The VM is already running.")
        findings = self.session.preflight() + capacity_findings(self.session, self.host.get())
        return sorted(findings, key=lambda f: f.severity is not Severity.BLOCKING)

    async def boot(self, force: bool = False, findings: Sequence[Finding] | None = None) -> PinResult | None:
        """x-exit-preconfig after :meth:`preflight` (PreflightBlocked unless ``force``),
        then the plan's pinning (``session.pinning``), if any: its result.
        ``findings``: the preflight the caller already showed (run once)."""
        checked = self.preflight() if findings is None else list(findings)
        await self.session.exit_preconfig(force=force, findings=checked)
        return await self.pin_planned()

    # -- host: pinning ---------------------------------------------------------------------
    async def pin(self, policy: str | None = None, dry_run: bool = False) -> PinResult:
        """Pin every present vCPU thread (``numatui pin``, after boot and after a
        hot-plug when the plan asks): ``policy`` "node" (each vCPU on the CPUs of
        the host node its guest node's memory is bound to) or "cpu" (1:1);
        default the plan's, else "node".  Raises ActionRefused in preconfig,
        NumaError (the pinning cannot be planned), PinRefused (the kernel's
        refusal, one line)."""
        from numatui.session.pinning import pin_vcpus

        if not self.booted:
            raise ActionRefused("QEMU is in preconfig: its vCPU threads do not exist yet and it "
                                "refuses query-cpus-fast; boot it first (x-exit-preconfig, "
                                "numatui apply --exit-preconfig)")
        host = self.host.get()
        if host is None:
            raise ActionRefused(f"numatui cannot read the host: {self.host.error}")
        chosen = PinPolicy(policy or self.session.pinning or "node")
        result = await pin_vcpus(self.session, host, chosen, dry_run=dry_run)
        if not dry_run:
            self.pinned = dict(result.applied)
            self.unpinned = {v.cpu_index: why for v, why in result.plan.left}
        return result

    async def pin_planned(self) -> PinResult | None:
        """:meth:`pin` by the plan's policy when the plan has one (None otherwise,
        or when it failed: ``pin_error`` says why in one line; the VM runs on)."""
        self.pin_error, self.pin_failure = None, None
        if self.session.pinning is None or not self.booted:
            return None
        try:
            return await self.pin(self.session.pinning)
        except (NumaError, SessionError, ActionRefused) as exc:
            self.pin_error, self.pin_failure = str(exc), exc
            return None

    def pin_text(self, key: SlotKey) -> str | None:
        """The slot's pinning for the line under the grid, short: "pin 0-1" (its
        host CPUs), "unpinned" (its node is bound to no host node); None: numatui
        did not pin it."""
        idx = self.session.topology.cpu_indexes().get(key)
        if not idx:
            return None
        cpus = sorted({c for i in idx for c in self.pinned.get(i, ())})
        if cpus:
            return f"pin {format_cpulist(cpus)}"
        if any(i in self.unpinned for i in idx):
            return "unpinned"
        return None

    # -- plug, unplug --------------------------------------------------------------------
    def check_running(self, verb: str) -> None:
        if not self.booted:
            raise ActionRefused(f"CPUs can be {verb} once the VM runs: press X to boot it first "
                                "(QEMU refuses device_add and device_del in preconfig).")

    def plug_targets(self, keys: Sequence[SlotKey]) -> Targets:
        """The empty slots among ``keys``; the others hold a CPU."""
        out = Targets()
        for key in keys:
            if self.session.topology.slot(key).present:
                out.refused.append((key, "present"))
            else:
                out.ok.append(key)
        return out

    async def plug(self, key: SlotKey) -> str:
        """device_add a CPU into an empty slot; returns its device id.  With a
        planned pinning, the new vCPU's thread is pinned as it appears."""
        dev = await self.session.hotplug(key)
        await self.pin_planned()
        return dev

    def unplug_targets(self, keys: Sequence[SlotKey]) -> Targets:
        """The hot-plugged CPUs among ``keys``; the others, and why not."""
        out = Targets()
        for key in keys:
            slot = self.session.topology.slot(key)
            if not slot.present:
                out.refused.append((key, "empty"))
            elif key in self.session.pending_unplug:
                out.refused.append((key, "pending"))
            elif not is_plugged_device(slot.qom_path):
                out.refused.append((key, "boot"))
            else:
                out.ok.append(key)
        return out

    async def unplug(self, key: SlotKey) -> None:
        """device_del: ask the guest to eject; the tracker waits for its answer."""
        await self.session.unplug(key)
        self.unplugs.track(key)

    # -- export, apply -------------------------------------------------------------------
    def export(self, fmt: str, flavor: str | None = None) -> str:
        """``numatui export --format fmt [--flavor NAME]``."""
        return export.export_text(self.session, fmt, self.host.get() if self.session.pinning else None,
                                  flavor)

    def quit_text(self) -> str:
        """What quitting prints on stdout: :func:`~numatui.core.export.compact_text`
        alone, so ``numatui connect ADDR > numa.args`` keeps only options (the
        warnings go to stderr, see :func:`numatui.core.export.quit_notes`)."""
        return export.compact_text(self.session)

    async def apply_plan(self, plan: Plan, sent: Callable[[dict[str, Any]], object],
                         description: str = "apply plan") -> Applied:
        """Apply ``plan`` live: validate all of it first, then send the fewest
        commands as one batch (one re-read, record write, autosave and undo
        step, ``description``; ``sent`` hears each command QEMU accepted:
        ``set-numa-node``'s, or ``object-add``'s for a new node's memory
        backend, with ``qom-type``).

        Raised before anything is sent: NumaError for entries that do not fit
        the board (props it lacks, no matching slot, a slot on two nodes),
        BadRequest for nodes QEMU lacks that the plan does not declare, and bad
        distances.  Nodes QEMU lacks are added live, with a new memory backend
        (``object-add``) when the plan gives them a size, or the plan's
        ``memdev`` when QEMU has that backend already.  A slot QEMU already has on another
        node (QEMU has no undo) is then sent alone, for that one slot: QEMU
        refuses it in its own words (QemuRefused) and nothing changes.
        """
        s = self.session
        if isinstance(plan, FlavorPlan):  # nova's cells laid onto this machine's slots (FlavorError)
            plan = plan.laid_out(s.topology, boot_cpus=s.boot_cpus(), ram_size=s.info.ram_size,
                                 nodes=s.nodes, smp=s.info.smp)
        # a plan of -numa options (a numa export) declares only the nodes it adds: QEMU's own are there
        if plan.nodes:
            plan = plan.with_nodes([*plan.nodes, *(n for n in s.nodes if plan.node(n.id) is None)])
        mapping = plan.resolve(s.topology)
        _check_memdevs(s, plan)
        rebind = memory.bindings_differ(s, plan)
        if rebind:  # backends QEMU has: their binding is fixed until a new QEMU
            if not self.can_relaunch:
                node_id = min(rebind)
                raise BadRequest(
                    f"node {node_id}'s memory backend exists already and numatui did not start this "
                    "QEMU: its binding (host-nodes=, policy=) is fixed by QEMU's command line; "
                    f"restart QEMU with -object {_rebound_backend(s, node_id, *rebind[node_id])}")
            target = s.plan().with_nodes(n.with_binding(*rebind[n.id]) if n.id in rebind else n
                                         for n in s.nodes)
            await self.keeper.rebind(target, "bind " + ", ".join(
                f"node {i} to host node(s) {','.join(map(str, h)) or 'none'}" for i, (h, _) in
                sorted(rebind.items())))
            for node_id in sorted(rebind):
                hosts, policy = rebind[node_id]
                sent({"rebind": node_id, "host-nodes": list(hosts), "policy": policy})
        new_nodes = _nodes_to_add(s, plan)
        new_lb = [lb for lb in plan.hmat_lb if lb not in s.hmat_lb]
        new_cache = [c for c in plan.hmat_cache if c not in s.hmat_cache]
        problem = hmat_problem(s, new_lb, new_cache, nodes=new_nodes,
                               cpu_nodes=set(mapping.values()), needs=plan.has_hmat)
        if problem:
            raise BadRequest(problem)
        for d in plan.distances:  # numatui.model.distances' rules, before anything is sent
            try:
                check_distance(d.src, d.dst, d.val)
            except NumaError as exc:
                raise BadRequest(f"distance {d.src} to {d.dst}: {exc}") from None
        for key, node in mapping.items():
            current = s.topology.slot(key).node_id
            if current is not None and current != node:
                await s.assign([key], node)  # QemuRefused: "CPU is already assigned ..."
        count = await send_plan(s, plan, mapping, new_nodes, description, sent)
        vcpus = sum(s.topology.slot(k).vcpus_count for k in mapping)
        return Applied(slots=len(mapping), vcpus=vcpus, nodes=len(set(mapping.values())), commands=count)

    def preset_plan(self, name: str, into: int | None = None, add_nodes: bool = False) -> Plan:
        """The plan preset ``name`` makes of this machine (PresetError, NotEnoughNodes)."""
        from numatui.core.presets import plan_for_session

        return plan_for_session(self.session, name, self.host.get(), into=into, add_nodes=add_nodes)

    async def apply_preset(self, name: str, into: int | None = None, add_nodes: bool = False,
                           sent: Callable[[dict[str, Any]], object] | None = None) -> Applied:
        """Map the whole machine with preset ``name`` (``into``: over nodes
        0..into-1; ``add_nodes``: add the nodes it needs, memoryless, live),
        sent as :meth:`apply_plan` sends a plan: the fewest commands.  Both
        ``numatui apply --preset`` and the TUI's ``P`` come here."""
        if self.booted:
            raise ActionRefused("The VM is running: QEMU fixed every CPU's node at boot.")
        plan = self.preset_plan(name, into, add_nodes)
        return await self.apply_plan(plan, sent or (lambda args: None), f"preset {name}")


def _rebound_backend(session: Session, node_id: int, hosts: tuple[int, ...], policy: str | None) -> str:
    """The ``-object`` value node ``node_id``'s backend needs for this binding
    (QEMU's own option rewritten when its command line is known)."""
    node = next(n for n in session.nodes if n.id == node_id)
    memdev = node.memdev or free_memdev_id(node_id, session.memdev_ids())
    for opt in iter_options(session.qemu_argv[1:] if session.qemu_argv else []):
        if opt.name == "object" and opt.value is not None and object_id(opt.value)[1] == memdev:
            return rebind_object(opt.value, hosts, policy)
    return ram_backend(node.with_binding(hosts, policy), memdev)


@dataclass
class Applied:
    """What :meth:`Vm.apply_plan` did."""

    slots: int
    vcpus: int
    nodes: int
    commands: int


def hmat_problem(session: Session, lbs: Sequence[HmatLb], caches: Sequence[HmatCache], *,
                 nodes: Sequence[Node] = (), cpu_nodes: Collection[int] = (),
                 needs: bool = False) -> str | None:
    """:func:`numatui.model.hmat.live_problem` over what the session holds
    (sent after ``nodes`` are added and ``cpu_nodes`` get CPUs)."""
    known = bool(session.nodes) or session.nodes_source != "unknown"
    with_cpus = {sl.node_id for sl in session.topology.slots if sl.node_id is not None} | set(cpu_nodes)
    return hmat.live_problem(lbs, caches, hmat_on=session.info.hmat,
                             present={n.id for n in [*session.nodes, *nodes]} if known else None,
                             cpu_nodes=with_cpus, have_lb=session.hmat_lb, have_cache=session.hmat_cache,
                             initiators={n.id: n.initiator for n in nodes if n.initiator is not None},
                             needs=needs)


def _check_memdevs(session: Session, plan: Plan) -> None:
    """A plan node naming another memdev than QEMU's node of that id describes
    another machine: refused, not skipped as done (a node that names no memdev
    only maps CPUs)."""
    have = {n.id: n.memdev for n in session.nodes}
    for n in plan.nodes:
        memdev = have.get(n.id)
        if n.memdev is not None and memdev is not None and n.memdev != memdev:
            raise BadRequest(f"the plan gives node {n.id} memdev {n.memdev!r}, but QEMU's node {n.id} "
                             f"has memdev {memdev!r}, which cannot change live: name {memdev!r} or "
                             "leave memdev= out (then the node line only maps CPUs)")


def _nodes_to_add(session: Session, plan: Plan) -> list[Node]:
    """Nodes the plan names that QEMU lacks: each must be declared in the plan
    (memoryless, with a size for a new backend, or with a memdev QEMU has)."""
    known = {n.id for n in session.nodes}
    if not known and session.nodes_source == "unknown":
        return []  # numatui cannot tell: QEMU will say
    out = []
    for node_id in plan.node_ids():
        if node_id in known:
            continue
        declared = plan.node(node_id)
        have = (f"QEMU has {'node' if len(known) == 1 else 'nodes'} {', '.join(map(str, sorted(known)))} "
                f"({session.nodes_source})") if known \
            else f"QEMU has no NUMA node ({session.nodes_source})"
        if declared is None:
            raise BadRequest(f"the plan uses node {node_id}, but {have}: declare it in the plan's "
                             f"nodes to add it live, or start QEMU with it")
        if declared.memdev is not None and declared.size is None \
                and declared.memdev not in session.memdev_ids():
            raise BadRequest(f"node {node_id} uses memdev {declared.memdev!r}, which QEMU does not "
                             "have: give the node a \"size\" to create it live")
        out.append(declared)
    _check_ram(session, [n for n in out if n.size and n.memdev not in session.memdev_ids()])
    return out


def _check_ram(session: Session, new: Sequence[Node]) -> None:
    """Memory given to nodes cannot be taken back: refuse a plan whose new
    backends would make node memory exceed -m (QEMU would not boot)."""
    ram = session.info.ram_size
    added = sum(n.size or 0 for n in new)
    if ram is None or not added:
        return
    total = sum(n.size or 0 for n in session.nodes) + added
    if total > ram:
        raise BadRequest(f"the plan's new nodes would bring node memory to {human_size(total)}, more "
                         f"than QEMU's RAM ({human_size(ram)}): QEMU could never boot, and node "
                         "memory cannot be taken back; start QEMU with more -m or give the nodes less")
