"""A live QMP session with one QEMU: read its CPU slots, map them to NUMA
nodes in preconfig, leave preconfig, hot-plug after boot.

Async, on the caller's event loop, through qemu.qmp's ``QMPClient`` only.
``topology`` is always what QEMU last reported: every change is followed by a
re-read, errors included (a failing set-numa-node can be half-applied).
Errors are :class:`~numatui.session.errors.SessionError` with one-line
messages; losing QEMU is a state (``DISCONNECTED``) plus a synthetic
``NUMATUI_DISCONNECTED`` event, never a traceback from a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from numatui.model.backend import Backend
from numatui.model.devices import cpu_device_id
from numatui.model.errors import NumaError
from numatui.model.history import describe_mapping
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.plan import LIVE, Distance, Node, Plan
from numatui.model.preflight import Finding, Severity, boot_timeout, check
from numatui.model.topology import SlotKey, Topology, format_key
from numatui.session import commands, derived, discovery
from numatui.session import record as records
from numatui.session.address import Address
from numatui.session.commands import Step
from numatui.session.connection import Connection, LauncherLike
from numatui.session.errors import (
    BadRequest,
    ConnectFailed,
    Disconnected,
    PreflightBlocked,
    QemuRefused,
    SessionError,
)
from numatui.session.listeners import Listeners
from numatui.session.machine import MachineInfo, RunState, read_info
from numatui.session.record import Record, RecordNotWritten
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
    #: what numatui told this QEMU (see numatui.session.record); None: no identity, no --record
    record: Record | None
    #: where ``record`` is kept (None: not kept)
    record_path: Path | None
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
        self.record = None
        self.record_path = None
        self.unknowns = []
        self._record_existed = self._record_saved = self._record_dirty = False
        self._record_refused: str | None = None
        #: (topology, nodes, distances, their plan): see ``plan()``
        self._plan_cache: tuple[Topology, tuple[Node, ...], tuple[Distance, ...], Plan] | None = None

    @property
    def pending_unplug(self) -> set[SlotKey]:
        """Slots whose device_del was sent, DEVICE_DELETED not seen yet."""
        return self.unplugs.pending

    # -- connecting -------------------------------------------------------------
    @classmethod
    async def connect(cls, address: Address | str, *, timeout: float = 3.0, nodes: int | None = None,
                      launcher: LauncherLike | None = None, qemu_argv: Sequence[str] | None = None,
                      transcript: Transcript | None = None, record_file: str | Path | None = None) -> Session:
        """Connect, read everything, learn the nodes.  Raises ConnectFailed
        (BadAddress when the address does not parse).  ``record_file``: keep
        the record of what numatui tells this QEMU there (``--record``; needed
        for a TCP peer, see :mod:`numatui.session.record`)."""
        addr = address if isinstance(address, Address) else Address.parse(address)
        if record_file is not None:
            records.check_named(Path(record_file))  # a device, FIFO or 16 MiB+: BadRequest, exit 2
        session = cls(addr, timeout=timeout, nodes=nodes, launcher=launcher,
                      qemu_argv=qemu_argv, transcript=transcript, record_file=record_file)
        await session._start()
        return session

    async def _start(self) -> None:
        previous_pid = self.peer.pid if self.peer else None
        self._reset()
        await self._open()
        if self.peer is None or self.peer.pid != previous_pid:
            self._derived_mapping = {}  # another QEMU: what numatui sent is gone
        try:
            self.info = await read_info(self.execute)
            await self._read_status()
            self._open_record()
            await self._read_slots()
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
        self._flush_record(quiet=True)
        await self._drop_client()
        self._set_state(RunState.DISCONNECTED)
        self.transcript.note("session closed")
        await asyncio.gather(*self._retiring, return_exceptions=True)
        launcher = self.launcher
        if launcher is not None and not getattr(launcher, "keep_running", False):
            try:
                await launcher.stop()
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
        status = await self.execute("query-status")
        self.status = str(status.get("status", ""))
        self._set_state(RunState.from_status(self.status))

    async def _read_slots(self) -> None:
        if self.info.hotpluggable_cpus:
            try:
                reply = await self.execute("query-hotpluggable-cpus")
            except QemuRefused:
                self.info.hotpluggable_cpus = False
                self.transcript.note(
                    "the board does not list its CPU slots; deriving them from qom-get /machine smp"
                )
            else:
                self.topology = Topology.from_hotpluggable(reply)
                return
        recorded = self.record.derived_mapping if self.record is not None else []
        self.topology = await derived.read_slots(self.info, self.state, self._derived_mapping, recorded,
                                                 self._try)

    async def refresh(self) -> Topology:
        """Re-read the run state and the slots (QEMU's word, not numatui's)."""
        await self._read_status()
        return await self._reread_slots()

    async def _reread_slots(self) -> Topology:
        """Re-read the slots (and the nodes' CPUs) but not the run state: for
        when QEMU just proved it, e.g. by accepting a set-numa-node, which it
        does in preconfig only."""
        await self._read_slots()
        self.nodes = discovery.with_slot_nodes(self.nodes, self.topology)
        return self.topology

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(SessionError, NumaError):
            await self.refresh()

    # -- nodes ------------------------------------------------------------------
    async def _learn_nodes(self) -> None:
        facts = await discovery.learn(self.launcher, self._given_argv, self._given_nodes,
                                      self.peer.pid if self.peer else None, self.state, self.topology,
                                      self.execute, self.transcript.note)
        sized = discovery.fill_sizes(facts.nodes, self.info.memdevs)
        self.nodes = discovery.with_slot_nodes(sized, self.topology)
        self.distances = sorted(facts.distances, key=lambda d: (d.src, d.dst))
        self.nodes_source = facts.source
        if self.qemu_argv is None:
            self.qemu_argv = facts.argv
        self.topology = derived.from_options(self._derived_mapping, self.topology, facts.cpus)
        self._merge_record(facts.argv)
        self.nodes = discovery.with_bindings(self.nodes, self.info.memdevs)
        self.transcript.note(f"NUMA nodes {[n.id for n in self.nodes]} from {self.nodes_source}")

    _parse_argv = staticmethod(discovery.parse_argv)

    # -- the record of what numatui told this QEMU (numatui.session.record) -----
    def _open_record(self) -> None:
        """Find this QEMU's record: by the peer's identity in a trusted state
        directory, or the ``--record`` file."""
        self.unknowns = []
        self._record_refused = None
        guard = records.machine_guard(self.info)
        identity = records.identify(self.peer.pid if self.peer else None)
        path: Path | None = self._record_file
        if path is None and identity is not None:
            problem = records.dir_problem()
            if problem is None:
                path = records.path_for(identity)
            else:  # nothing read from it, nothing written into it
                self._record_refused = (f"records are off ({problem}): what was set over QMP "
                                        "before (distances, nodes added live) is unknown")
        found: Record | None = None
        if path is not None:
            try:
                found = records.load(path, follow=self._record_file is not None)
            except NumaError as exc:
                self.transcript.note(f"record: {exc}")
                self._record_refused = f"record not used: {exc}"
                if self._record_file is not None:  # the user's file: never overwrite it
                    path = None
        if found is not None:
            other = (found.identity is not None and identity is not None and found.identity != identity) \
                or (found.identity is not None and identity is None) \
                or (bool(found.machine) and found.machine != guard)
            if other:
                self._record_refused = (f"the record {path} is of another QEMU "
                                        "(or this one restarted): not used")
                self.transcript.note(self._record_refused)
                found, path = None, None
        self._record_existed = self._record_saved = found is not None
        self.record = found or Record(identity=identity, machine=guard, first_seen=self.status or None)
        self.record_path = path
        if found is not None:
            self.transcript.note(f"record of this QEMU read from {path}")

    def _merge_record(self, argv: Sequence[str] | None) -> None:
        """Nodes and distances: QEMU's command line, then what the record says
        numatui sent (later, so it wins for the same pair); then the unknowns."""
        parsed = self._parse_argv(argv)
        declared = {n.id for n in parsed.nodes} if parsed is not None else None
        by_id = {n.id: n for n in self.nodes}
        rec = self.record
        if rec is not None:
            for node_id, node in rec.nodes.items():
                if declared is not None and node_id in declared:
                    continue  # QEMU would have refused it (Duplicate): not ours
                size = node.size if node.size is not None else self.info.memdev_size(node.memdev)
                by_id[node_id] = Node(id=node_id, memdev=node.memdev, size=size, created=LIVE,
                                      memdev_created=node.memdev_created, host_nodes=node.host_nodes,
                                      policy=node.policy, initiator=node.initiator, backend=node.backend)
            if rec.pinning is not None and self.pinning is None:
                self.pinning = rec.pinning
            self.hmat_lb = list(rec.hmat_lb)
            self.hmat_cache = list(rec.hmat_cache)
            dists = {(d.src, d.dst): d for d in self.distances}
            dists.update({(d.src, d.dst): d for d in rec.distance_list()})
            self.distances = [dists[k] for k in sorted(dists)]
        strangers = []
        if declared is not None:  # a node QEMU has that its command line lacks was added live
            for node_id, node in list(by_id.items()):
                if node_id not in declared and not node.live:
                    by_id[node_id] = Node(id=node_id, memdev=node.memdev, size=node.size, created=LIVE)
                    strangers.append(node_id)
        self.nodes = [by_id[i] for i in sorted(by_id)]
        self.unknowns = self._find_unknowns(strangers)

    def _find_unknowns(self, strangers: Sequence[int]) -> list[str]:
        """What numatui cannot know about this QEMU, one short sentence each."""
        out: list[str] = []
        if self._record_refused:
            out.append(self._record_refused)
        if self.launcher is not None and self.launcher.alive():
            return out  # numatui started it: nobody else told it anything
        booted = self.state in (RunState.RUNNING, RunState.PAUSED)
        argv = self.qemu_argv or []
        if booted and argv and not any(a in ("--preconfig", "-preconfig") for a in argv[1:]):
            return out  # never in preconfig: nothing can have been set over QMP
        # an identity but no record file: the state directory is untrusted, said above
        records_off = self._record_file is None and self.record_path is None \
            and self.record is not None and self.record.identity is not None
        if not self._record_existed and not records_off:
            if self.record is not None and self.record.identity is None and self._record_file is None:
                out.append("QMP cannot read distances or nodes added live, and this QEMU is not a "
                           "local unix-socket peer numatui can identify, so it keeps no record of it: "
                           "they are unknown (name a record file with --record FILE)")
            elif booted:
                out.append("numatui did not talk to this QEMU before it booted: distances set over "
                           "QMP are unknown (QMP cannot read them)")
            else:
                out.append("numatui has no record of this QEMU: distances or nodes another QMP client "
                           "set are unknown (QMP cannot read them)")
        if not self._record_existed and self.topology.derived and not booted:
            out.append("this board cannot list its CPU slots before boot: a mapping another "
                       "client set is unknown")
        for node_id in strangers:
            out.append(f"node {node_id} is not in QEMU's command line and numatui did not add it: "
                       "its memory is unknown")
        return out

    def _note_record(self, change: Callable[[Record], object]) -> None:
        """Apply ``change`` to the record and merge it into the file under its
        lock (:func:`records.update`); RecordNotWritten when the file cannot be
        written (the change stays in memory)."""
        if self.record is None:
            self.record = Record()
        pending = self.record.derived_mapping if self._record_dirty else None
        self._record_dirty = False

        def apply(record: Record) -> None:
            change(record)
            if pending is not None:
                record.derived_mapping = pending

        before = copy.deepcopy(self.record)
        apply(self.record)
        if self.record_path is None:
            return
        self.record = records.update(self.record_path, apply, before,
                                     follow=self._record_file is not None)
        self._record_saved = True

    def _record_derived(self) -> None:
        """After a set-numa-node type cpu: the mapping QEMU cannot list (derived
        boards); on other boards only that numatui was here (QMP reads the rest).
        Kept in memory; :meth:`_flush_record` writes it (after an apply on
        derived boards, before x-exit-preconfig, at close), so mapping costs no
        file write per command."""
        mapping = [(dict(k), v) for k, v in self._derived_mapping.items()] if self.topology.derived else []
        if self.record is None:
            self.record = Record()
        if self.record.derived_mapping != mapping or not self._record_saved:
            self.record.derived_mapping = mapping
            self._record_dirty = True

    def _flush_record(self, quiet: bool = False) -> None:
        """Write what :meth:`_record_derived` kept; ``quiet``: a failure is
        noted, not raised (closing, booting: the change was made earlier)."""
        if not self._record_dirty:
            return
        try:
            self._note_record(lambda r: None)
        except records.RecordNotWritten as exc:
            if not quiet:
                raise
            self.transcript.note(str(exc))

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
    async def execute_all(self, commands: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Send ``commands`` back to back and return each reply, or the error
        it raised, in order.  qemu.qmp keeps several commands in flight (tasks
        created in order enqueue in order) and QEMU runs them in the order
        received, so a batch costs about one round trip, not one per command.
        QEMU runs the commands after a refused one all the same."""
        tasks = [asyncio.ensure_future(self.execute(cmd, args)) for cmd, args in commands]
        return await asyncio.gather(*tasks, return_exceptions=True)

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
        replies = await self.execute_all([(s.command, s.args) for s in steps])
        nodes = {n.id: n for n in self.nodes}
        dists = {(d.src, d.dst): d for d in self.distances}
        memdevs: dict[str, int] = {}
        new_nodes: dict[int, Node] = {}
        new_dists: dict[tuple[int, int], int] = {}
        lbs: list[HmatLb] = []
        caches: list[HmatCache] = []
        first: BaseException | None = None
        accepted, cpus, bound = 0, False, False
        for step, reply in zip(steps, replies, strict=True):
            refused = reply if isinstance(reply, QemuRefused) else None
            if isinstance(reply, BaseException):
                first = first or reply
                if refused is None:
                    continue
            held = step.holds
            if step.args.get("type") == "cpu":  # derived boards follow a refused one too
                cpus = True
                derived.follow(self._derived_mapping, self.topology, held, refused)
            elif refused is not None:
                if isinstance(held, Node) and "Duplicate" in refused.qemu_message and held.id not in nodes:
                    nodes[held.id] = Node(id=held.id)  # QEMU has it: not ours
            elif step.command == "object-add":
                self.info.memdevs = [*self.info.memdevs, held]
                bound = bound or bool(held.get("host-nodes"))
                memdevs[held["id"]] = held["size"]
            elif isinstance(held, Node):
                nodes[held.id] = new_nodes[held.id] = held
            elif isinstance(held, Distance):
                dists[held.src, held.dst] = held
                new_dists[held.src, held.dst] = held.val
            elif isinstance(held, HmatLb):
                lbs.append(held)
            elif isinstance(held, HmatCache):
                caches.append(held)
            if refused is None:
                accepted += 1
                sent(step.args)
        if bound and isinstance(listed := await self._try("query-memdev"), list):
            by_id = {m.get("id"): m for m in listed if isinstance(m, dict)}  # QEMU's word on the binding
            self.info.memdevs = [by_id.get(m.get("id"), m) for m in self.info.memdevs]
        self.nodes = discovery.with_bindings([nodes[i] for i in sorted(nodes)], self.info.memdevs)
        self.distances = [dists[k] for k in sorted(dists)]
        self.hmat_lb, self.hmat_cache = [*self.hmat_lb, *lbs], [*self.hmat_cache, *caches]

        def note(r: Record) -> None:
            r.memdevs.update(memdevs)
            r.nodes.update((n.id, n) for n in self.nodes if n.id in new_nodes)  # with QEMU's binding
            r.distances.update(new_dists)
            r.hmat_lb += lbs
            r.hmat_cache += caches

        unwritten: RecordNotWritten | None = None  # raised after the change is announced
        if memdevs or new_nodes or new_dists or lbs or caches:
            try:
                self._note_record(note)
            except RecordNotWritten as exc:
                unwritten = exc
        if cpus:
            self._record_derived()  # on every board: the record says numatui mapped it in preconfig
            try:
                await self._reread_after(first is not None, mapping or {}, description)
            except RecordNotWritten as exc:
                unwritten = unwritten or exc
        if accepted:
            self._changed(description + (" (in part)" if first is not None else ""))
        if first is not None:
            raise first  # QEMU's refusal is the one to see
        if unwritten is not None:
            raise unwritten
        return accepted

    async def _reread_after(self, refused: bool, mapping: Mapping[SlotKey, int], description: str) -> None:
        """The one re-read after set-numa-node type cpu (a refused one may be half-applied)."""
        try:
            if refused:
                await self._refresh_quietly()
            else:
                await self._reread_slots()  # QEMU accepted set-numa-node: it is in preconfig
        except NumaError as exc:  # a malformed re-read: keep what QEMU accepted, say so
            self.topology = self.topology.with_mapping(mapping)
            self._changed(description)
            raise SessionError(f"QEMU accepted set-numa-node, but its query-hotpluggable-cpus reply "
                               f"is malformed ({exc}); the grid shows what was sent") from None
        finally:
            if self.topology.derived:  # QEMU cannot list it: keep it now
                self._flush_record(quiet=refused)  # after a refusal, QEMU's error is the one to see

    def mapping_steps(self, mapping: Mapping[SlotKey, int]) -> list[Step]:
        return commands.mapping_steps(self.topology, mapping)

    async def assign(self, keys: Collection[SlotKey], node: int) -> list[dict[str, Any]]:
        """Put the slots ``keys`` on ``node``: :meth:`apply_mapping` of one node,
        announced as ``socket 1 -> node 1``.  Returns the arguments sent."""
        return await self.apply_mapping(dict.fromkeys(keys, node))

    async def apply_mapping(self, mapping: Mapping[SlotKey, int],
                            description: str | None = None) -> list[dict[str, Any]]:
        """Put every slot of ``mapping`` on its node (:meth:`mapping_steps`,
        :meth:`send`): one change, ``description`` (default:
        :func:`~numatui.model.history.describe_mapping`).  Returns the
        arguments sent; raises BadRequest before sending, QemuRefused."""
        steps = self.mapping_steps(mapping)
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
        if node_id is None:
            node_id = max((n.id for n in self.nodes), default=-1) + 1
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
        ids = {str(m.get("id")) for m in self.info.memdevs if m.get("id") is not None}
        ids |= {n.memdev for n in self.nodes if n.memdev}
        if self.record is not None:
            ids |= set(self.record.memdevs)
        parsed = self._parse_argv(self.qemu_argv)
        if parsed is not None:
            ids |= {n.memdev for n in parsed.nodes if n.memdev}
        return ids

    async def set_distance(self, src: int, dst: int, val: int) -> None:
        await self.send([commands.distance_step(src, dst, val)], f"distance {src} -> {dst} = {val}")

    # -- HMAT (set-numa-node types hmat-lb, hmat-cache; see numatui.model.hmat) ------
    async def set_hmat_lb(self, lb: HmatLb) -> None:
        await self.send([commands.hmat_step(lb)],
                        f"hmat-lb {lb.data_type} {lb.initiator} -> {lb.target} ({lb.hierarchy})")

    async def set_hmat_cache(self, cache: HmatCache) -> None:
        """A memory-side cache of a node."""
        await self.send([commands.hmat_step(cache)], f"hmat-cache node {cache.node_id} level {cache.level}")

    def plan(self) -> Plan:
        """The current mapping as a plan (compact cpus, nodes, distances, HMAT).

        Kept until the topology, nodes or distances change: after one key press
        the undo history, the command-line panel and the autosave all ask."""
        key = (self.topology, tuple(self.nodes), tuple(self.distances))
        hmat = (tuple(self.hmat_lb), tuple(self.hmat_cache))
        cached = self._plan_cache
        if cached is None or cached[0] is not key[0] or cached[1:3] != key[1:] \
                or cached[3].pinning != self.pinning \
                or (cached[3].hmat_lb, cached[3].hmat_cache) != hmat:
            plan = Plan.from_topology(*key, *hmat)
            if self.pinning is not None:
                plan = replace(plan, pinning=self.pinning)
            cached = self._plan_cache = (*key, plan)
        return cached[3]

    def set_pinning(self, policy: str | None) -> None:
        """The plan's vCPU pinning after boot; recorded (another numatui process sees it)."""
        self.pinning = policy
        self._note_record(lambda r: setattr(r, "pinning", policy))

    def boot_cpus(self) -> int | None:
        """``-smp cpus`` when below ``maxcpus`` (only the first ones are present at boot)."""
        smp = self.info.smp or {}
        cpus, most = smp.get("cpus"), smp.get("maxcpus")
        if isinstance(cpus, int) and isinstance(most, int) and cpus < most:
            return cpus
        return None

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
        if self.state is not RunState.PRECONFIG:
            raise BadRequest(f"QEMU is not in preconfig (it is {self.status or self.state.value})")
        command = self.info.exit_command
        if command is None:
            raise BadRequest("this QEMU lists no x-exit-preconfig in query-commands")
        findings = self.preflight() if findings is None else list(findings)
        if not force and any(f.severity is Severity.BLOCKING for f in findings):
            raise PreflightBlocked(findings)
        self._booting = True  # its RESUME is ours: the refresh below re-reads
        try:
            self._flush_record(quiet=True)  # what numatui sent in preconfig outlives this process
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
        reply = await self.execute("query-cpus-fast")
        return list(reply)

    async def hotplug(self, key: SlotKey) -> str:
        """device_add a CPU into an empty slot; returns its device id."""
        slot = commands.slot_of(self.topology, key)
        if slot.present:
            raise BadRequest(f"slot {format_key(key)} already holds a CPU ({slot.qom_path})")
        if not slot.type:
            raise BadRequest(f"slot {format_key(key)}: the board names no CPU type to plug")
        dev_id = cpu_device_id(key)
        try:
            await self.execute("device_add", {"driver": slot.type, **slot.props, "id": dev_id})
        except QemuRefused:
            await self._refresh_quietly()
            raise
        await self.refresh()
        return dev_id

    async def unplug(self, key: SlotKey) -> None:
        """device_del a present CPU; the slot stays in ``pending_unplug`` until
        QEMU sends DEVICE_DELETED (the guest must agree)."""
        slot = commands.slot_of(self.topology, key)
        if slot.qom_path is None:
            raise BadRequest(f"slot {format_key(key)} holds no CPU")
        self.unplugs.asked(key, slot.qom_path)
        try:
            await self.execute("device_del", {"id": slot.qom_path})
        except SessionError:
            self.unplugs.failed(key, slot.qom_path)
            raise

    def _handle_event(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if self.unplugs.on_event(event):
            return
        if name == "DEVICE_DELETED" and UNPLUG_SETTLED not in event:
            if self.refresh_on_delete and self.state in (RunState.RUNNING, RunState.PAUSED):
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
