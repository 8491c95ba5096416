"""A live QMP session with one QEMU: read its CPU slots, map them to NUMA
nodes in preconfig, leave preconfig, hot-plug after boot.

Async, on the caller's event loop, through qemu.qmp's ``QMPClient`` only.
``topology`` is always what QEMU last reported: every change is followed by a
re-read, errors included (a failing set-numa-node can be half-applied).
Errors are :class:`~numatui.session.errors.SessionError` with one-line
messages; losing QEMU is a state (``DISCONNECTED``) plus a synthetic
``NUMATUI_DISCONNECTED`` event, never a traceback from a background task.
Beside it: the record book (record_book), the command shapes (commands), a batch folded (batch).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from numatui.model.backend import Backend
from numatui.model.errors import NumaError
from numatui.model.history import describe_mapping
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.plan import Distance, Node, Plan
from numatui.model.preflight import Finding, Severity, boot_timeout, check
from numatui.model.topology import SlotKey, Topology
from numatui.session import batch, commands, derived, discovery
from numatui.session import record as records
from numatui.session.address import Address
from numatui.session.commands import Step
from numatui.session.connection import Connection, LauncherLike
from numatui.session.errors import (
    ConnectFailed,
    Disconnected,
    PreflightBlocked,
    QemuRefused,
    SessionError,
)
from numatui.session.listeners import Listeners
from numatui.session.machine import MachineInfo, RunState, read_info
from numatui.session.record import Record, RecordNotWritten
from numatui.session.record_book import RecordBook
from numatui.session.transcript import Transcript
from numatui.session.unplugs import UNPLUG_SETTLED, Unplugs


class Session(Connection):
    """A QMP session with one QEMU.  Create it with :meth:`connect`."""

    info: MachineInfo
    topology: Topology  # always what QEMU last reported
    nodes: list[Node]  # sorted by id
    nodes_source: str  # in plain words: "launch arguments", "command line of pid 1234", ...
    distances: list[Distance]
    qemu_argv: list[str] | None  # QEMU's full argv when known (launched, given, or /proc)
    book: RecordBook  # what numatui told this QEMU, kept across processes (record_book)
    #: facts QMP cannot read and the record does not cover, one short sentence each
    unknowns: list[str]

    def __init__(self, address: Address, *, timeout: float = 3.0, nodes: int | None = None,
                 launcher: LauncherLike | None = None, qemu_argv: Sequence[str] | None = None,
                 transcript: Transcript | None = None, record_file: str | Path | None = None) -> None:
        super().__init__(address, timeout=timeout, launcher=launcher, transcript=transcript)
        self._record_file = Path(record_file) if record_file is not None else None
        self._given_nodes = nodes
        self._given_argv = list(qemu_argv) if qemu_argv is not None else None
        self._derived_mapping: dict[SlotKey, int] = {}
        self._change_listeners: Listeners[str] = Listeners()
        self._retiring: set[asyncio.Task[None]] = set()  # replaced QEMUs being stopped (retire)
        #: re-read the slots on DEVICE_DELETED (a TUI turns it off to re-read under its own lock)
        self.refresh_on_delete = True
        #: the plan's vCPU pinning after boot ("node", "cpu" or None); kept across relaunches
        self.pinning: str | None = None
        self._reset()

    def _reset(self) -> None:
        """Forget everything learnt from a QEMU (before connecting again)."""
        self._refresh_queued = False
        self._booting = False
        self.info = MachineInfo()
        self.topology = Topology(slots=(), levels=())
        self.nodes = []
        self.nodes_source = "unknown"
        self.distances = []
        self.hmat_lb: list[HmatLb] = []
        self.hmat_cache: list[HmatCache] = []
        self.qemu_argv = None
        self.unplugs = Unplugs(self._refresh_quietly, lambda: self.topology, self._on_event, self._spawn)
        self.book = RecordBook(self._record_file, self.transcript.note)
        self.unknowns = []
        self._plan_cache: tuple[tuple[Any, ...], Plan] | None = None  # (what it is made of, plan): see plan()

    @property
    def record(self) -> Record | None:
        """What numatui told this QEMU (:mod:`numatui.session.record`)."""
        return self.book.record

    @property
    def booted(self) -> bool:
        """:attr:`RunState.booted`; once disconnected, what QEMU last reported
        (no CPU is present before the machine is built)."""
        if self.state is RunState.DISCONNECTED:
            return any(s.present for s in self.topology.slots)
        return self.state.booted

    @property
    def pending_unplug(self) -> set[SlotKey]:
        """Slots whose device_del was sent, DEVICE_DELETED not seen yet."""
        return self.unplugs.pending

    # -- connecting -------------------------------------------------------------
    @classmethod
    async def connect(cls, address: Address | str, *, timeout: float = 3.0, nodes: int | None = None,
                      launcher: LauncherLike | None = None, qemu_argv: Sequence[str] | None = None,
                      transcript: Transcript | None = None, record_file: str | Path | None = None) -> Session:
        """Connect, read everything, learn the nodes (the options: the
        constructor's).  Raises ConnectFailed (BadAddress when the address
        does not parse).  ``record_file``: keep the record of what numatui
        tells this QEMU there (``--record``; needed for a TCP peer, see
        :mod:`numatui.session.record`)."""
        addr = address if isinstance(address, Address) else Address.parse(address)
        if record_file is not None:
            records.check_named(Path(record_file))  # a device, FIFO or 16 MiB+: BadRequest, exit 2
        session = cls(addr, timeout=timeout, nodes=nodes, launcher=launcher, qemu_argv=qemu_argv,
                      transcript=transcript, record_file=record_file)
        await session._start()
        return session

    async def _start(self) -> None:
        previous_pid = self.peer.pid if self.peer else None
        self._reset()
        await self._open()
        if self.peer is None or self.peer.pid != previous_pid:
            self._derived_mapping = {}  # another QEMU: what numatui sent is gone
        try:
            # one round trip (QEMU answers pipelined commands in order): the facts, the run state, the slots
            results: tuple[Any, ...] = await asyncio.gather(read_info(self.execute), self._read_status(),
                                                            self._list_slots(), return_exceptions=True)
            info, _, listed = results  # a refusal from _list_slots is the board's answer, not a failure
            for failed in (*results[:2], None if isinstance(listed, QemuRefused) else listed):
                if isinstance(failed, BaseException):
                    raise failed
            self.info = info
            self.book.open(self.info, self.peer.pid if self.peer else None, self.status)
            await self._read_slots(listed)
            await self._learn_nodes()
        except (SessionError, NumaError) as exc:  # NumaError: a malformed query-hotpluggable-cpus
            await self._drop_client()
            self._set_state(RunState.DISCONNECTED)
            raise ConnectFailed(f"{self.address}: connected, but reading the machine failed: {exc}") from None

    async def reconnect(self, address: Address | str | None = None) -> None:
        """Drop the connection (if any) and connect again, to ``address`` when
        given (e.g. a new QEMU), reading everything afresh.  Raises ConnectFailed."""
        await self._drop_client()
        if address is not None:
            self.address = address if isinstance(address, Address) else Address.parse(address)
            self._given_argv = None
        if self.launcher is not None and not self.launcher.alive():
            self.launcher = None  # its argv no longer describes the QEMU there
        await self._start()

    async def close(self) -> None:
        """Disconnect; stop QEMU if numatui launched it without --keep-running."""
        self._closing = True
        self.book.flush(quiet=True)
        await self._drop_client()
        self._set_state(RunState.DISCONNECTED)
        self.transcript.note("session closed")
        await asyncio.gather(*self._retiring, return_exceptions=True)
        if self.launcher is not None and not getattr(self.launcher, "keep_running", False):
            try:
                await self.launcher.stop()
            except Exception as exc:
                self.transcript.note(f"stopping QEMU failed: {exc}")

    def retire(self, launcher: LauncherLike) -> None:
        """Stop a QEMU this session has left (a relaunch replaced it) in the
        background: :meth:`close` waits for it."""
        task = asyncio.ensure_future(launcher.stop())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # -- reading ----------------------------------------------------------------
    async def _read_status(self) -> None:
        self.status = str((await self.execute("query-status")).get("status", ""))
        self._set_state(RunState.from_status(self.status))

    async def _list_slots(self) -> Any:
        """query-hotpluggable-cpus's reply, or QEMU's refusal of it (a board that cannot list its slots)."""
        try:
            return await self.execute("query-hotpluggable-cpus")
        except QemuRefused as exc:
            return exc

    async def _read_slots(self, got: Any = None) -> Topology:
        """The slots (and the nodes' CPUs) but not the run state: for when
        QEMU just proved it, e.g. by accepting a set-numa-node, which it does
        in preconfig only.  ``got``: :meth:`_list_slots` done already (None: ask QEMU now)."""
        reply: Any = self.info.hotpluggable_cpus and (got if got is not None else await self._list_slots())
        if isinstance(reply, QemuRefused):
            self.info.hotpluggable_cpus = False
            self.transcript.note("the board does not list its CPU slots; "
                                 "deriving them from qom-get /machine smp")
        if self.info.hotpluggable_cpus:
            self.topology = Topology.from_hotpluggable(reply, self.topology)
        else:
            recorded = self.record.derived_mapping if self.record is not None else []
            self.topology = await derived.read_slots(self.info, self.state, self._derived_mapping, recorded,
                                                     self._try)
        self.nodes = discovery.with_slot_nodes(self.nodes, self.topology)
        return self.topology

    async def refresh(self, listed: Any = None) -> Topology:
        """Re-read the run state and the slots (QEMU's word, not numatui's);
        ``listed``: the slots' :meth:`_list_slots` asked already (None: ask now)."""
        await self._read_status()
        return await self._read_slots(listed)

    async def _refresh_quietly(self, listed: Any = None) -> None:
        with contextlib.suppress(SessionError, NumaError):
            await self.refresh(listed)

    # -- nodes ------------------------------------------------------------------
    async def _learn_nodes(self) -> None:
        facts = await discovery.learn(self.launcher, self._given_argv, self._given_nodes,
                                      self.peer.pid if self.peer else None, self.state, self.topology,
                                      self.execute, self.transcript.note)
        sized = discovery.with_slot_nodes(discovery.fill_sizes(facts.nodes, self.info.memdevs), self.topology)
        self.nodes_source, self.qemu_argv = facts.source, facts.argv
        self.topology = derived.from_options(self._derived_mapping, self.topology, facts.cpus)
        self.nodes, self.distances, strangers = self.book.merge(
            facts.argv, sized, sorted(facts.distances, key=lambda d: (d.src, d.dst)), self.info.memdev_size)
        rec = self.book.record
        if rec is not None:
            self.hmat_lb, self.hmat_cache = list(rec.hmat_lb), list(rec.hmat_cache)
            if rec.pinning is not None and self.pinning is None:
                self.pinning = rec.pinning
        launched = self.launcher is not None and self.launcher.alive()
        self.unknowns = self.book.unknowns(strangers, launched=launched, booted=self.state.booted,
                                           argv=self.qemu_argv, derived=self.topology.derived)
        self.nodes = discovery.with_bindings(self.nodes, self.info.memdevs)
        self.transcript.note(f"NUMA nodes {[n.id for n in self.nodes]} from {self.nodes_source}")

    # -- change listeners (autosave, undo history) -----------------------------
    def add_change_listener(self, cb: Callable[[str], None]) -> Callable[[], None]:
        """Call ``cb(description)`` once per user action that changed the plan
        (one :meth:`send`: a whole plan is one call; a refused one too when
        QEMU accepted some of it), e.g. ``"socket 1 -> node 1"``.  Returns a remover."""
        return self._change_listeners.add(cb)

    def _changed(self, description: str) -> None:
        self._change_listeners.call(description,
                                    lambda _, exc: self.transcript.note(f"a change listener failed: {exc!r}"))

    # -- commands: built and checked first, then sent as one batch ----------------
    async def send(self, steps: Sequence[Step], description: str,
                   mapping: Mapping[SlotKey, int] | None = None,
                   sent: Callable[[dict[str, Any]], object] = lambda args: None) -> int:
        """One user action's commands (:meth:`execute_all`), then one round of
        bookkeeping: what QEMU accepted folded into the mirror in order (its
        replies say which; ``sent`` hears each accepted command's arguments),
        one record write, one query-memdev when a bound backend was made, one
        re-read of the slots when CPUs were mapped (``mapping``: what the grid
        shows when that re-read is malformed), and one change announced,
        ``description`` (``(in part)`` after a refusal).  Returns how many
        QEMU accepted; raises the first refusal (or lost, timed out command)."""
        # the re-read of the slots goes with the commands (QEMU answers in order, after them all)
        listing = self.info.hotpluggable_cpus and any(s.args.get("type") == "cpu" for s in steps)
        tail: list[tuple[str, dict[str, Any]]] = [("query-hotpluggable-cpus", {})] if listing else []
        replies = await self.execute_all([*((s.command, s.args) for s in steps), *tail], tail=len(tail))
        slots_listed = replies.pop() if listing else None
        done = batch.fold(steps, replies, self.nodes, self.distances,
                          lambda held, refused: derived.follow(self._derived_mapping, self.topology, held,
                                                               refused), sent)
        self.info.memdevs = [*self.info.memdevs, *done.memdevs]
        if done.bound and isinstance(listed := await self._try("query-memdev"), list):
            by_id = {m.get("id"): m for m in listed if isinstance(m, dict)}  # QEMU's word on the binding
            self.info.memdevs = [by_id.get(m.get("id"), m) for m in self.info.memdevs]
        self.nodes = discovery.with_bindings([done.nodes[i] for i in sorted(done.nodes)], self.info.memdevs)
        self.distances = [done.distances[k] for k in sorted(done.distances)]
        self.hmat_lb, self.hmat_cache = [*self.hmat_lb, *done.lbs], [*self.hmat_cache, *done.caches]
        unwritten: RecordNotWritten | None = None  # raised after the change is announced
        if done.recorded:
            try:
                self.book.change(lambda r: done.record(r, self.nodes))
            except RecordNotWritten as exc:
                unwritten = exc
        if done.cpus:
            # on every board: the record says numatui mapped it in preconfig
            self.book.keep_mapping(self._derived_mapping, self.topology.derived)
            try:
                await self._reread_after(done.first is not None, mapping or {}, description, slots_listed)
            except RecordNotWritten as exc:
                unwritten = unwritten or exc
        if done.accepted:
            self._changed(description + (" (in part)" if done.first is not None else ""))
        if done.first is not None:
            raise done.first  # QEMU's refusal is the one to see
        if unwritten is not None:
            raise unwritten
        return done.accepted

    async def _reread_after(self, refused: bool, mapping: Mapping[SlotKey, int], description: str,
                            listed: Any = None) -> None:
        """The one re-read after set-numa-node type cpu (a refused one may be
        half-applied, and proves no run state: query-status too).  ``listed``:
        the query-hotpluggable-cpus sent with the commands (None: ask now)."""
        got = None if isinstance(listed, BaseException) else listed
        try:
            if refused:
                await self._refresh_quietly(got)
            else:
                await self._read_slots(got)
        except NumaError as exc:  # a malformed re-read: keep what QEMU accepted, say so
            self.topology = self.topology.with_mapping(mapping)
            self._changed(description)
            raise SessionError(f"QEMU accepted set-numa-node, but its query-hotpluggable-cpus reply "
                               f"is malformed ({exc}); the grid shows what was sent") from None
        finally:
            if self.topology.derived:  # QEMU cannot list it: keep it now
                self.book.flush(quiet=refused)  # after a refusal, QEMU's error is the one to see

    async def assign(self, keys: Collection[SlotKey], node: int) -> list[dict[str, Any]]:
        """Put the slots ``keys`` on ``node``: :meth:`apply_mapping` of one node,
        announced as ``socket 1 -> node 1``.  Returns the arguments sent."""
        return await self.apply_mapping(dict.fromkeys(keys, node))

    async def apply_mapping(self, mapping: Mapping[SlotKey, int],
                            description: str | None = None) -> list[dict[str, Any]]:
        """Put every slot of ``mapping`` on its node (:func:`commands.mapping_steps`,
        :meth:`send`): one change, ``description`` (default:
        :func:`~numatui.model.history.describe_mapping`).  Returns the
        arguments sent; raises BadRequest before sending, QemuRefused."""
        steps = commands.mapping_steps(self.topology, mapping)
        if not steps:
            await self.refresh()  # nothing proved the run state
            return []
        await self.send(steps, description or describe_mapping(self.topology, dict(mapping)), mapping)
        return [s.args for s in steps]

    def node_steps(self, nodes: Sequence[Node]) -> list[Step]:
        return commands.node_steps(nodes, self.nodes, self.memdev_ids(), self.info.memdev_size)

    async def add_node(self, node_id: int | None = None, size: int | None = None,
                       memdev: str | None = None, host_nodes: Sequence[int] = (),
                       policy: str | None = None, initiator: int | None = None,
                       backend: Backend = ()) -> Node:
        """Declare one node live (default id: the next free one): :meth:`add_nodes`.
        ``backend``: a new backend's type and options (:mod:`numatui.model.backend`; () = RAM)."""
        node_id = max((n.id for n in self.nodes), default=-1) + 1 if node_id is None else node_id
        return (await self.add_nodes([Node(id=node_id, memdev=memdev, size=size, host_nodes=tuple(host_nodes),
                                           policy=policy, initiator=initiator, backend=backend)]))[0]

    async def add_nodes(self, nodes: Sequence[Node]) -> list[Node]:
        """Declare ``nodes`` live as one batch (:meth:`node_steps`); the
        binding is read back with ``query-memdev``.  Returns them as QEMU has them."""
        steps = self.node_steps(nodes)
        made = [s.holds for s in steps if isinstance(s.holds, Node)]
        await self.send(steps, ", ".join(f"add node {n.id}" + (f" ({n.size} bytes)" if n.size else "")
                                         for n in made))
        ids = {n.id for n in made}
        return [n for n in self.nodes if n.id in ids]

    def memdev_ids(self) -> set[str]:
        """Every memdev id taken: QEMU's, the nodes', the record's, the command line's."""
        parsed = discovery.parse_argv(self.qemu_argv)
        named = [*self.nodes, *(parsed.nodes if parsed is not None else ())]
        return ({str(m.get("id")) for m in self.info.memdevs if m.get("id") is not None}
                | {n.memdev for n in named if n.memdev} | set(self.record.memdevs if self.record else ()))

    async def set_distance(self, src: int, dst: int, val: int) -> None:
        await self.send([commands.distance_step(src, dst, val)], f"distance {src} -> {dst} = {val}")

    # -- HMAT (set-numa-node types hmat-lb, hmat-cache; see numatui.model.hmat) ------
    async def set_hmat_lb(self, lb: HmatLb) -> None:
        await self.send([commands.hmat_step(lb)],
                        f"hmat-lb {lb.data_type} {lb.initiator} -> {lb.target} ({lb.hierarchy})")

    async def set_hmat_cache(self, cache: HmatCache) -> None:
        await self.send([commands.hmat_step(cache)], f"hmat-cache node {cache.node_id} level {cache.level}")

    def plan(self) -> Plan:
        """The current mapping as a plan (compact cpus, nodes, distances, HMAT).

        Kept until the topology, nodes or distances change: after one key press
        the undo history, the command-line panel and the autosave all ask."""
        key = (self.topology, tuple(self.nodes), tuple(self.distances), tuple(self.hmat_lb),
               tuple(self.hmat_cache), self.pinning)  # a tuple compares its items by identity first
        if self._plan_cache is None or self._plan_cache[0] != key:
            plan = Plan.from_topology(*key[:5])
            self._plan_cache = (key, plan if self.pinning is None else replace(plan, pinning=self.pinning))
        return self._plan_cache[1]

    def set_pinning(self, policy: str | None) -> None:
        """The plan's vCPU pinning after boot; recorded (another numatui process sees it)."""
        self.pinning = policy
        self.book.change(lambda r: setattr(r, "pinning", policy))

    def boot_cpus(self) -> int | None:
        """``-smp cpus`` when below ``maxcpus`` (only the first ones are present at boot)."""
        return self.info.boot_cpus

    def preflight(self) -> list[Finding]:
        """The model's checks of the current plan (blocking first)."""
        # Node sizes are known only from a command line; probed or counted nodes
        # would look memoryless and fail the RAM total check falsely.
        sized = self.nodes_source == "launch arguments" or "command line" in self.nodes_source
        ram = self.info.ram_size if sized else None
        return check(self.topology, self.plan(), ram, self.boot_cpus(), hmat=self.info.hmat,
                     qemu_version=self.info.qemu_version, machine_type=self.info.machine_type)

    async def exit_preconfig(self, force: bool = False, findings: Sequence[Finding] | None = None) -> None:
        """Preflight (``findings``: the caller's, e.g. the application layer's
        with the host's capacity; default :meth:`preflight`), then build and
        start the machine.  Raises PreflightBlocked (unless ``force``),
        Disconnected (QEMU exited; its stderr tail when numatui launched it),
        QemuRefused."""
        command = commands.exit_command(self.state, self.status, self.info)
        findings = self.preflight() if findings is None else list(findings)
        if not force and any(f.severity is Severity.BLOCKING for f in findings):
            raise PreflightBlocked(findings)
        self._booting = True  # its RESUME is ours: the refresh below re-reads
        try:
            self.book.flush(quiet=True)  # what numatui sent in preconfig outlives this process
            vcpus = sum(s.vcpus_count for s in self.topology.slots)  # a default growing with them
            await self.execute(command, timeout=max(self.timeout, boot_timeout(vcpus)))
        except Disconnected as exc:
            raise Disconnected(f"QEMU exited at {command}", exc.stderr_tail) from None
        finally:
            self._booting = False
        await self.refresh()
        if not self.nodes and self.nodes_source == "unknown":
            facts = await discovery.from_qemu(self.state, self.topology, self.execute, self.transcript.note)
            if facts is not None:
                self.nodes, self.nodes_source = facts.nodes, facts.source

    # -- after boot ---------------------------------------------------------------
    async def query_cpus_fast(self) -> list[dict[str, Any]]:
        """Present CPUs: cpu-index, props (with node-id), qom-path, ..."""
        return list(await self.execute("query-cpus-fast"))

    async def hotplug(self, key: SlotKey) -> str:
        """device_add a CPU into an empty slot; returns its device id."""
        step = commands.plug_step(self.topology, key)
        try:
            await self.execute(step.command, step.args)
        except QemuRefused:
            await self._refresh_quietly()
            raise
        await self.refresh()
        return str(step.holds)

    async def unplug(self, key: SlotKey) -> None:
        """device_del a present CPU; the slot stays in ``pending_unplug`` until
        QEMU sends DEVICE_DELETED (the guest must agree)."""
        step = commands.unplug_step(self.topology, key)
        self.unplugs.asked(key, step.holds)
        try:
            await self.execute(step.command, step.args)
        except SessionError:
            self.unplugs.failed(key, step.holds)
            raise

    def _handle_event(self, event: dict[str, Any]) -> None:
        if self.unplugs.on_event(event):
            return
        name = event.get("event")
        if name == "DEVICE_DELETED" and UNPLUG_SETTLED not in event:
            if self.refresh_on_delete and self.state.booted:
                self._refresh_soon()
        elif name == "RESUME" and not self._booting and not any(s.present for s in self.topology.slots):
            # another client booted the VM: the slots QEMU reports change (present CPUs)
            self._refresh_soon()

    def _refresh_soon(self) -> None:
        """One background re-read at a time (a flood of events is one re-read),
        then the state listeners redraw from it."""
        if self._refresh_queued:
            return
        self._refresh_queued = True

        async def run() -> None:
            self._refresh_queued = False  # an event during the re-read queues one more
            await self._refresh_quietly()
            self._set_state(self.state, force=True)

        self._spawn(run())
