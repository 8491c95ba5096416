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

import contextlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from numatui.model.compact import fewest_commands, names_no_prop
from numatui.model.devices import cpu_device_id
from numatui.model.errors import NumaError
from numatui.model.history import describe_mapping
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.plan import LIVE, MAX_NODES, Distance, Node, Plan
from numatui.model.preflight import Finding, Severity, boot_timeout, check
from numatui.model.topology import Slot, SlotKey, Topology, format_key
from numatui.session import discovery
from numatui.session import record as records
from numatui.session.address import Address
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
from numatui.session.machine import MachineInfo, RunState, derived_props, mark_present, read_info
from numatui.session.peer import looks_like_qemu, read_cmdline
from numatui.session.record import Record
from numatui.session.transcript import Transcript


class Session(Connection):
    """A QMP session with one QEMU.  Create it with :meth:`connect`."""

    info: MachineInfo
    topology: Topology  # always what QEMU last reported
    nodes: list[Node]  # sorted by id
    nodes_source: str  # in plain words: "launch arguments", "command line of pid 1234", ...
    distances: list[Distance]
    qemu_argv: list[str] | None  # QEMU's full argv when known (launched, given, or /proc)
    pending_unplug: set[SlotKey]  # device_del sent, DEVICE_DELETED not seen yet
    #: what numatui told this QEMU (see numatui.session.record); None: no identity, no --record
    record: Record | None
    #: where ``record`` is kept (None: not kept)
    record_path: Path | None
    #: facts QMP cannot read and the record does not cover, one short sentence each
    unknowns: list[str]

    def __init__(
        self,
        address: Address,
        *,
        timeout: float = 3.0,
        nodes: int | None = None,
        launcher: LauncherLike | None = None,
        qemu_argv: Sequence[str] | None = None,
        transcript: Transcript | None = None,
        record_file: str | Path | None = None,
    ) -> None:
        super().__init__(address, timeout=timeout, launcher=launcher, transcript=transcript)
        self._record_file = Path(record_file) if record_file is not None else None
        self._given_nodes = nodes
        self._given_argv = list(qemu_argv) if qemu_argv is not None else None
        self._derived_mapping: dict[SlotKey, int] = {}
        self._change_listeners: Listeners[str] = Listeners()
        self._batch_depth = 0
        self._batch_changes: list[str] = []
        #: re-read the slots on DEVICE_DELETED (a TUI turns it off to re-read under its own lock)
        self.refresh_on_delete = True
        #: the plan's vCPU pinning after boot ("node", "cpu" or None); kept across relaunches
        self.pinning: str | None = None
        #: more preflight checks (the application layer's: the host's capacity)
        self.extra_checks: Callable[[], list[Finding]] | None = None
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
        self.pending_unplug = set()
        self.record = None
        self.record_path = None
        self.unknowns = []
        self._record_existed = self._record_saved = self._record_dirty = False
        self._record_refused: str | None = None
        self._unplug_paths: dict[str, SlotKey] = {}
        #: (topology, nodes, distances, their plan): see ``plan()``
        self._plan_cache: tuple[Topology, tuple[Node, ...], tuple[Distance, ...], Plan] | None = None

    # -- connecting -------------------------------------------------------------
    @classmethod
    async def connect(
        cls,
        address: Address | str,
        *,
        timeout: float = 3.0,
        nodes: int | None = None,
        launcher: LauncherLike | None = None,
        qemu_argv: Sequence[str] | None = None,
        transcript: Transcript | None = None,
        record_file: str | Path | None = None,
    ) -> Session:
        """Connect, read everything, learn the nodes.  Raises ConnectFailed
        (BadAddress when the address does not parse).  ``record_file``: keep
        the record of what numatui tells this QEMU there (``--record``; needed
        for a TCP peer, see :mod:`numatui.session.record`)."""
        addr = address if isinstance(address, Address) else Address.parse(address)
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
        self._flush_record()
        await self._drop_client()
        self._set_state(RunState.DISCONNECTED)
        self.transcript.note("session closed")
        launcher = self.launcher
        if launcher is not None and not getattr(launcher, "keep_running", False):
            try:
                await launcher.stop()
            except Exception as exc:
                self.transcript.note(f"stopping QEMU failed: {exc}")

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
        topo = Topology.from_smp(self.info.smp, derived_props(self.info.machine_type))
        if self.record is not None and self.record.derived_mapping and not self._derived_mapping:
            self._derived_mapping = _record_mapping(topo, self.record.derived_mapping)
        topo = topo.with_mapping(self._derived_mapping)
        if self.state in (RunState.RUNNING, RunState.PAUSED) and "query-cpus-fast" in self.info.commands:
            topo = mark_present(topo, await self._try("query-cpus-fast") or [])
        self.topology = topo

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
        facts = self._nodes_from_command_line()
        if facts is None and self._given_nodes is not None:
            facts = discovery.from_count(self._given_nodes)
        if facts is None:
            facts = await self._nodes_from_qemu()
        if facts is None:
            facts = discovery.NodeFacts(nodes=[], source="unknown")
        self.nodes = discovery.with_slot_nodes(
            discovery.fill_sizes(facts.nodes, self.info.memdevs), self.topology
        )
        self.distances = sorted(facts.distances, key=lambda d: (d.src, d.dst))
        self.nodes_source = facts.source
        if self.qemu_argv is None:
            self.qemu_argv = facts.argv
        if self.topology.derived and facts.cpus and not self._derived_mapping:
            # QEMU cannot tell; its command line's -numa cpu options can
            for option in facts.cpus:
                with contextlib.suppress(NumaError):
                    self._derived_apply(option, option["node-id"], None)
            self.topology = self.topology.with_mapping(self._derived_mapping)
        self._merge_record(facts.argv)
        self.nodes = discovery.with_bindings(self.nodes, self.info.memdevs)
        self.transcript.note(
            f"NUMA nodes {[n.id for n in self.nodes]} from {self.nodes_source}"
        )

    def _nodes_from_command_line(self) -> discovery.NodeFacts | None:
        if self.launcher is not None:
            with contextlib.suppress(Exception):
                self.qemu_argv = list(self.launcher.argv)
            parsed = self._parse_argv(self.qemu_argv)
            return discovery.NodeFacts(
                nodes=list(self.launcher.nodes), source="launch arguments",
                distances=parsed.distances if parsed else [], argv=self.qemu_argv,
                cpus=parsed.cpus if parsed else [],
            )
        candidates: list[tuple[list[str], str]] = []
        if self._given_argv:
            candidates.append((self._given_argv, "the given QEMU command line"))
        if self.peer is not None:
            argv = read_cmdline(self.peer.pid)
            if argv is None:
                self.transcript.note(f"cannot read /proc/{self.peer.pid}/cmdline")
            elif not looks_like_qemu(argv):
                self.transcript.note(
                    f"pid {self.peer.pid} ({argv[0]}) is not QEMU: its command line is not used"
                )
            else:
                candidates.append((argv, f"command line of pid {self.peer.pid}"))
        for argv, source in candidates:
            try:
                return discovery.from_argv(argv, source)
            except NumaError as exc:
                self.transcript.note(f"cannot read the nodes from the {source}: {exc}")
        return None

    @staticmethod
    def _parse_argv(argv: Sequence[str] | None) -> discovery.NodeFacts | None:
        if not argv:
            return None
        try:
            return discovery.from_argv(argv, "")
        except NumaError:
            return None

    async def _nodes_from_qemu(self) -> discovery.NodeFacts | None:
        if self.state in (RunState.RUNNING, RunState.PAUSED):
            return await discovery.from_qemu_info_numa(self.execute)
        if self.state is RunState.PRECONFIG:
            self.transcript.note("probing node ids with set-numa-node matching no slot")
            return await discovery.probe_nodes(self.execute, self.topology)
        return None

    # -- the record of what numatui told this QEMU (numatui.session.record) -----
    def _open_record(self) -> None:
        """Find this QEMU's record: by the peer's identity, or the ``--record`` file."""
        self.unknowns = []
        self._record_refused = None
        guard = records.machine_guard(self.info)
        identity = records.identify(self.peer.pid if self.peer else None)
        path: Path | None = self._record_file
        if path is None and identity is not None:
            path = records.path_for(identity)
        found: Record | None = None
        if path is not None:
            try:
                found = records.load(path)
            except NumaError as exc:
                self.transcript.note(f"record: {exc}")
                if self._record_file is not None:  # the user's file: never overwrite it
                    self._record_refused = f"the record {path} cannot be used ({exc})"
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
                                      policy=node.policy, initiator=node.initiator)
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
        if not self._record_existed:
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
            if self.topology.derived and not booted:
                out.append("this board cannot list its CPU slots before boot: a mapping another "
                           "client set is unknown")
        for node_id in strangers:
            out.append(f"node {node_id} is not in QEMU's command line and numatui did not add it: "
                       "its memory is unknown")
        return out

    def _note_record(self, change: Callable[[Record], object]) -> None:
        """Apply ``change`` to the record and keep it (a failed write is noted, not raised)."""
        if self.record is None:
            self.record = Record()
        change(self.record)
        if self.record_path is None:
            return
        try:
            records.save(self.record_path, self.record)
            self._record_saved = True
        except OSError as exc:
            self.transcript.note(f"cannot write the record {self.record_path}: {exc}")

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

    def _flush_record(self) -> None:
        if self._record_dirty:
            self._record_dirty = False
            self._note_record(lambda r: None)

    # -- change listeners (autosave, undo history) -----------------------------
    def add_change_listener(self, cb: Callable[[str], None]) -> Callable[[], None]:
        """Call ``cb(description)`` after every change of the plan numatui made
        (assign, add_node, set_distance; a refused assign too, as it may be
        half-applied), e.g. ``"socket 1 -> node 1"``.  Returns a remover."""
        return self._change_listeners.add(cb)

    @contextlib.contextmanager
    def batch_changes(self, description: str) -> Iterator[None]:
        """Changes inside are announced once, as ``description``, at the end
        (e.g. replaying a whole plan: listeners never see a half-replayed plan)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                changed, self._batch_changes = bool(self._batch_changes), []
                if changed:
                    self._changed(description)

    def _changed(self, description: str) -> None:
        if self._batch_depth:
            self._batch_changes.append(description)
            return
        self._change_listeners.call(description,
                                    lambda _, exc: self.transcript.note(f"a change listener failed: {exc!r}"))

    # -- preconfig: mapping -----------------------------------------------------
    def _check_node_id(self, node: int) -> None:
        if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < MAX_NODES:
            raise BadRequest(
                f"node-id {node!r} is out of range: QEMU has at most {MAX_NODES} nodes "
                f"(0..{MAX_NODES - 1})"
            )

    async def assign(self, keys: Collection[SlotKey], node: int) -> list[dict[str, Any]]:
        """Put the slots ``keys`` on ``node``: :meth:`apply_mapping` of one node,
        announced as ``socket 1 -> node 1``.  Returns the arguments sent."""
        return await self.apply_mapping(dict.fromkeys(keys, node))

    async def apply_mapping(self, mapping: Mapping[SlotKey, int],
                            description: str | None = None) -> list[dict[str, Any]]:
        """Put every slot of ``mapping`` on its node with the fewest
        set-numa-node commands (:func:`~numatui.model.compact.fewest_commands`),
        then re-read the slots once.  Returns the arguments sent.

        Node ids and slots are checked before anything is sent (BadRequest).
        Listeners hear one change, ``description`` (default:
        :func:`~numatui.model.history.describe_mapping`).  On QEMU's refusal:
        re-read (a refused call may be half-applied), announce the change
        ``(in part)`` when commands went through before it, raise QemuRefused.
        """
        wanted = dict(mapping)
        for node in sorted(set(wanted.values())):
            self._check_node_id(node)
        for key in wanted:
            self._slot(key)
        if description is None:
            description = describe_mapping(self.topology, wanted)
        options = fewest_commands(self.topology, wanted)
        if len(wanted) != len(self.topology.slots) and any(names_no_prop(o) for o in options):
            raise BadRequest("numatui refuses to send a set-numa-node naming no CPU prop (it would "
                             "map every CPU) for a mapping that does not cover every slot")
        sent: list[dict[str, Any]] = []
        for option in options:
            try:
                sent.append(await self._set_cpu_node(option))
            except QemuRefused:
                await self._refresh_quietly()
                if self.topology.derived:  # QEMU cannot list it: keep it now
                    self._flush_record()
                if sent:
                    self._changed(description + " (in part)")
                raise
        if not sent:
            await self.refresh()  # nothing proved the run state
            return sent
        try:
            await self._reread_slots()  # QEMU accepted set-numa-node: it is in preconfig
        except NumaError as exc:  # a malformed re-read: keep what QEMU accepted, say so
            self.topology = self.topology.with_mapping(wanted)
            self._changed(description)
            raise SessionError(f"QEMU accepted set-numa-node, but its query-hotpluggable-cpus reply "
                               f"is malformed ({exc}); the grid shows what was sent") from None
        if self.topology.derived:
            self._flush_record()
        self._changed(description)
        return sent

    async def _set_cpu_node(self, option: dict[str, int]) -> dict[str, Any]:
        """Send one set-numa-node type cpu; returns its arguments.  Derived
        boards follow it locally (see :meth:`_derived_apply`), refused or not."""
        args: dict[str, Any] = {"type": "cpu", **option}
        node = option["node-id"]
        try:
            await self.execute("set-numa-node", args)
        except QemuRefused as exc:
            self._derived_apply(option, node, exc.qemu_message)
            self._record_derived()
            raise
        self._derived_apply(option, node, None)
        self._record_derived()  # on every board: the record says numatui mapped it in preconfig
        return args

    def _derived_apply(self, option: dict[str, int], node: int, error: str | None) -> None:
        """Boards that cannot list slots: replay QEMU's matching loop locally
        (in slot order, stopping at the first slot on another node)."""
        if not self.topology.derived:
            return
        if error is not None and "already assigned" not in error:
            return
        for slot in self.topology.matching(option):
            current = self._derived_mapping.get(slot.key)
            if current is not None and current != node:
                break
            self._derived_mapping[slot.key] = node

    async def add_node(self, node_id: int | None = None, size: int | None = None,
                       memdev: str | None = None, host_nodes: Sequence[int] = (),
                       policy: str | None = None, initiator: int | None = None) -> Node:
        """Declare a node live (default id: the next free one).

        Memoryless without ``size`` and ``memdev``.  With ``size`` (bytes), a
        new ``memory-backend-ram`` is made first by ``object-add`` (id
        ``memdev``, default ``m<N>`` unless taken) and the node gets it; with
        ``memdev`` alone, an existing backend (``query-memdev``) is used.
        ``host_nodes``/``policy`` bind a new backend's memory to host nodes
        (``object-add`` with ``host-nodes`` and ``policy``); an existing
        backend keeps the binding QEMU reports (rebinding it needs a new QEMU).
        ``initiator`` (HMAT, needs ``-machine hmat=on``): the node whose CPUs
        are closest to this one, for a memory-only node.
        Each command QEMU accepts is recorded (:mod:`numatui.session.record`);
        the binding is read back with ``query-memdev``, QEMU's word.
        """
        if node_id is None:
            node_id = max((n.id for n in self.nodes), default=-1) + 1
        self._check_node_id(node_id)
        if initiator is not None:
            # QEMU 7.2 reports an initiator >= 128 on stderr only and answers success
            # without creating the node: refuse it here
            self._check_node_id(initiator)
        if size is not None and any(n.id == node_id for n in self.nodes):  # before object-add
            raise BadRequest(f"node {node_id} exists already (nodes: {[n.id for n in self.nodes]})")
        args: dict[str, Any] = {"type": "node", "nodeid": node_id}
        created: str | None = None
        if memdev is not None and memdev in self.memdev_ids():
            have = self.info.memdev_size(memdev)
            if size is not None and have is not None and have != size:
                raise BadRequest(f"node {node_id}: memory backend {memdev!r} has {have} bytes, "
                                 f"not {size}")
            size = have if have is not None else size
        elif size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise BadRequest(f"node {node_id}: memory size {size!r} must be a positive number of bytes")
            new_id: str = memdev or self._free_memdev_id(node_id)
            new_size: int = size
            backend: dict[str, Any] = {"qom-type": "memory-backend-ram", "id": new_id, "size": new_size}
            if host_nodes:
                backend["host-nodes"] = sorted(set(host_nodes))
                backend["policy"] = policy or "bind"
            await self.execute("object-add", backend)
            self.info.memdevs = [*self.info.memdevs, await self._memdev_info(new_id, backend)]
            self._note_record(lambda r: r.memdevs.__setitem__(new_id, new_size))
            memdev, created = new_id, LIVE
        elif memdev is not None:
            raise BadRequest(f"node {node_id}: QEMU has no memory backend {memdev!r} "
                             f"(it has {', '.join(sorted(self.memdev_ids())) or 'none'})")
        if memdev is not None:
            args["memdev"] = memdev
        if initiator is not None:
            args["initiator"] = initiator
        try:
            await self.execute("set-numa-node", args)
        except QemuRefused as exc:
            if "Duplicate" in exc.qemu_message and all(n.id != node_id for n in self.nodes):
                self.nodes = sorted([*self.nodes, Node(id=node_id)], key=lambda n: n.id)
            raise
        node = Node(id=node_id, memdev=memdev, size=size, created=LIVE, memdev_created=created,
                    initiator=initiator)
        node = discovery.with_bindings([node], self.info.memdevs)[0]
        self.nodes = sorted([*(n for n in self.nodes if n.id != node_id), node], key=lambda n: n.id)
        self._note_record(lambda r: r.nodes.__setitem__(node_id, node))
        self._changed(f"add node {node_id}" + (f" ({size} bytes)" if size else ""))
        return node

    async def _memdev_info(self, memdev: str, sent: dict[str, Any]) -> dict[str, Any]:
        """query-memdev's entry for a backend just made (what was sent when it lists none)."""
        if sent.get("host-nodes"):
            for m in await self._try("query-memdev") or []:
                if isinstance(m, dict) and m.get("id") == memdev:
                    return m
        return {k: v for k, v in sent.items() if k != "qom-type"}

    def memdev_ids(self) -> set[str]:
        ids = {str(m.get("id")) for m in self.info.memdevs if m.get("id") is not None}
        ids |= {n.memdev for n in self.nodes if n.memdev}
        if self.record is not None:
            ids |= set(self.record.memdevs)
        parsed = self._parse_argv(self.qemu_argv)
        if parsed is not None:
            ids |= {n.memdev for n in parsed.nodes if n.memdev}
        return ids

    def _free_memdev_id(self, node_id: int) -> str:
        taken = self.memdev_ids()
        name = f"m{node_id}"
        while name in taken:
            name = f"numatui-{name}"
        return name

    async def set_distance(self, src: int, dst: int, val: int) -> None:
        """``set-numa-node type dist``; QEMU checks the values."""
        self._check_node_id(src)
        self._check_node_id(dst)
        await self.execute("set-numa-node", {"type": "dist", "src": src, "dst": dst, "val": val})
        self._note_record(lambda r: r.distances.__setitem__((src, dst), val))
        kept = [d for d in self.distances if (d.src, d.dst) != (src, dst)]
        self.distances = sorted([*kept, Distance(src, dst, val)], key=lambda d: (d.src, d.dst))
        self._changed(f"distance {src} -> {dst} = {val}")

    # -- HMAT (set-numa-node types hmat-lb, hmat-cache) ------------------------------
    async def set_hmat_lb(self, lb: HmatLb) -> None:
        """``set-numa-node type hmat-lb``; QEMU checks it (see numatui.model.hmat)."""
        await self.execute("set-numa-node", {"type": "hmat-lb", **lb.to_args()})
        self.hmat_lb = [*self.hmat_lb, lb]
        self._note_record(lambda r: r.hmat_lb.append(lb))
        self._changed(f"hmat-lb {lb.data_type} {lb.initiator} -> {lb.target} ({lb.hierarchy})")

    async def set_hmat_cache(self, cache: HmatCache) -> None:
        """``set-numa-node type hmat-cache``: a memory-side cache of a node."""
        await self.execute("set-numa-node", {"type": "hmat-cache", **cache.to_args()})
        self.hmat_cache = [*self.hmat_cache, cache]
        self._note_record(lambda r: r.hmat_cache.append(cache))
        self._changed(f"hmat-cache node {cache.node_id} level {cache.level}")

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
        findings: list[Finding] = check(self.topology, self.plan(), ram, self.boot_cpus(),
                                        hmat=self.info.hmat, qemu_version=self.info.qemu_version,
                                        machine_type=self.info.machine_type)
        if self.extra_checks is not None:
            findings += self.extra_checks()
            findings.sort(key=lambda f: f.severity is not Severity.BLOCKING)
        return findings

    async def exit_preconfig(self, force: bool = False) -> None:
        """Preflight, then build and start the machine.  Raises PreflightBlocked
        (unless ``force``), Disconnected (QEMU exited; its stderr tail when
        numatui launched it), QemuRefused."""
        if self.state is not RunState.PRECONFIG:
            raise BadRequest(f"QEMU is not in preconfig (it is {self.status or self.state.value})")
        command = self.info.exit_command
        if command is None:
            raise BadRequest("this QEMU lists no x-exit-preconfig in query-commands")
        findings = self.preflight()
        if not force and any(f.severity is Severity.BLOCKING for f in findings):
            raise PreflightBlocked(findings)
        self._booting = True  # its RESUME is ours: the refresh below re-reads
        try:
            self._flush_record()  # what numatui sent in preconfig outlives this process
            vcpus = sum(s.vcpus_count for s in self.topology.slots)  # a default growing with them
            await self.execute(command, timeout=max(self.timeout, boot_timeout(vcpus)))
        except Disconnected as exc:
            raise Disconnected(f"QEMU exited at {command}", exc.stderr_tail) from None
        finally:
            self._booting = False
        await self.refresh()
        if not self.nodes and self.nodes_source == "unknown":
            facts = await self._nodes_from_qemu()
            if facts is not None:
                self.nodes, self.nodes_source = facts.nodes, facts.source

    # -- after boot ---------------------------------------------------------------
    async def query_cpus_fast(self) -> list[dict[str, Any]]:
        """Present CPUs: cpu-index, props (with node-id), qom-path, ..."""
        reply = await self.execute("query-cpus-fast")
        return list(reply)

    async def hotplug(self, key: SlotKey) -> str:
        """device_add a CPU into an empty slot; returns its device id."""
        slot = self._slot(key)
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
        slot = self._slot(key)
        if slot.qom_path is None:
            raise BadRequest(f"slot {format_key(key)} holds no CPU")
        self.pending_unplug.add(key)
        self._unplug_paths[slot.qom_path] = key
        try:
            await self.execute("device_del", {"id": slot.qom_path})
        except SessionError:
            self.pending_unplug.discard(key)
            self._unplug_paths.pop(slot.qom_path, None)
            raise

    def _slot(self, key: SlotKey) -> Slot:
        try:
            return self.topology.slot(key)
        except NumaError:
            raise BadRequest(f"no CPU slot {format_key(key)} on this machine") from None

    def _handle_event(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "DEVICE_DELETED" and UNPLUG_SETTLED not in event:
            data = event.get("data") or {}
            key = self._unplug_paths.pop(str(data.get("path", "")), None)
            if key is not None:
                self.pending_unplug.discard(key)
            if self.pending_unplug:
                self._spawn(self._settle_unplugs())
            elif self.refresh_on_delete and self.state in (RunState.RUNNING, RunState.PAUSED):
                self._refresh_soon()
        elif name == "ACPI_DEVICE_OST" and self.pending_unplug:
            self._spawn(self._settle_unplugs())
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

    async def _settle_unplugs(self) -> None:
        """Decide pending unplugs from what QEMU reports about the slots.

        QEMU 7.2 sends DEVICE_DELETED for ``/machine/peripheral/<id>/lapic``
        only, never for the CPU device itself, when a guest ejects a CPU
        (ACPI_DEVICE_OST comes too): so after either event the slots are
        re-read, and a pending slot that is now empty is unplugged.  Each is
        then announced to the listeners as a DEVICE_DELETED of the CPU device
        marked ``UNPLUG_SETTLED`` (numatui's word, not an event QEMU sent), so
        every face that waits for DEVICE_DELETED sees it.
        """
        await self._refresh_quietly()
        for key in list(self.pending_unplug):
            try:
                slot = self.topology.slot(key)
            except NumaError:
                continue
            if slot.present:
                continue
            self.pending_unplug.discard(key)
            path = next((p for p, k in self._unplug_paths.items() if k == key), None)
            if path is not None:
                del self._unplug_paths[path]
            device = path.rsplit("/", 1)[-1] if path and path.startswith("/machine/peripheral/") \
                else cpu_device_id(key)
            self._on_event({
                "event": "DEVICE_DELETED",
                "data": {"device": device, "path": path or ""},
                UNPLUG_SETTLED: "the slot is empty in query-hotpluggable-cpus",
            })


#: Key of the DEVICE_DELETED numatui announces itself once a pending unplug's
#: slot is empty in QEMU's query-hotpluggable-cpus (see Session._settle_unplugs).
UNPLUG_SETTLED = "numatui-settled"


def _record_mapping(topo: Topology, items: Sequence[tuple[dict[str, int], int]]) -> dict[SlotKey, int]:
    """The recorded derived mapping as slot keys of ``topo`` (entries that fit)."""
    out: dict[SlotKey, int] = {}
    for props, node in items:
        hits = topo.matching(props) if set(props) <= set(topo.levels) else []
        if len(hits) == 1:
            out[hits[0].key] = node
    return out

