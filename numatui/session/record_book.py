"""The record book: this QEMU's record (:mod:`numatui.session.record`) as one
session keeps it.  Which record to trust (the peer's identity in a trusted
state directory, or ``--record FILE``), what it adds to QEMU's command line
(nodes added live, distances, HMAT, the pinning), what stays unknown, and
when it is written: each change once, under the file's lock; the mapping of
a board that cannot list its slots kept in memory and written at the next
flush (after an apply, before x-exit-preconfig, at close).

A :class:`RecordBook` is owned by the session and given every fact it needs
explicitly: it never reads the session.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from numatui.model.errors import NumaError
from numatui.model.plan import LIVE, Distance, Node
from numatui.model.topology import SlotKey
from numatui.session import record as records
from numatui.session.discovery import parse_argv
from numatui.session.machine import MachineInfo
from numatui.session.record import Record, RecordNotWritten


class RecordBook:
    """The record of one QEMU connection (a new book per connect)."""

    def __init__(self, file: Path | None, note: Callable[[str], object]) -> None:
        #: ``--record FILE``: the user's own (followed; never overwritten when unusable)
        self.file = file
        self._note = note
        #: what numatui told this QEMU; None until :meth:`open`
        self.record: Record | None = None
        #: where ``record`` is kept (None: not kept)
        self.path: Path | None = None
        self._existed = self._saved = self._dirty = False
        self._refused: str | None = None

    def open(self, info: MachineInfo, pid: int | None, status: str) -> None:
        """Find this QEMU's record: by the peer's identity (``pid``) in a trusted
        state directory, or the ``--record`` file."""
        self._refused = None
        guard = records.machine_guard(info)
        identity = records.identify(pid)
        path: Path | None = self.file
        if path is None and identity is not None:
            problem = records.dir_problem()
            if problem is None:
                path = records.path_for(identity)
            else:  # nothing read from it, nothing written into it
                self._refused = (f"records are off ({problem}): what was set over QMP "
                                 "before (distances, nodes added live) is unknown")
        found: Record | None = None
        if path is not None:
            try:
                found = records.load(path, follow=self.file is not None)
            except NumaError as exc:
                self._note(f"record: {exc}")
                self._refused = f"record not used: {exc}"
                if self.file is not None:  # the user's file: never overwrite it
                    path = None
        if found is not None:
            other = (found.identity is not None and identity is not None and found.identity != identity) \
                or (found.identity is not None and identity is None) \
                or (bool(found.machine) and found.machine != guard)
            if other:
                self._refused = (f"the record {path} is of another QEMU "
                                 "(or this one restarted): not used")
                self._note(self._refused)
                found, path = None, None
        self._existed = self._saved = found is not None
        self.record = found or Record(identity=identity, machine=guard, first_seen=status or None)
        self.path = path
        if found is not None:
            self._note(f"record of this QEMU read from {path}")

    def merge(self, argv: Sequence[str] | None, nodes: Sequence[Node], distances: Sequence[Distance],
              memdev_size: Callable[[str | None], int | None],
              ) -> tuple[list[Node], list[Distance], list[int]]:
        """Nodes and distances: QEMU's command line (``argv``; ``nodes`` and
        ``distances`` as learnt from it), then what the record says numatui
        sent (later, so it wins for the same pair).  Returns them, and the
        nodes QEMU has that neither its command line nor the record explains."""
        parsed = parse_argv(argv)
        declared = {n.id for n in parsed.nodes} if parsed is not None else None
        by_id = {n.id: n for n in nodes}
        out = list(distances)
        rec = self.record
        if rec is not None:
            for node_id, node in rec.nodes.items():
                if declared is not None and node_id in declared:
                    continue  # QEMU would have refused it (Duplicate): not ours
                size = node.size if node.size is not None else memdev_size(node.memdev)
                by_id[node_id] = replace(node, id=node_id, size=size, created=LIVE)
            dists = {(d.src, d.dst): d for d in out}
            dists.update({(d.src, d.dst): d for d in rec.distance_list()})
            out = [dists[k] for k in sorted(dists)]
        strangers = []
        if declared is not None:  # a node QEMU has that its command line lacks was added live
            for node_id, node in list(by_id.items()):
                if node_id not in declared and not node.live:
                    by_id[node_id] = Node(id=node_id, memdev=node.memdev, size=node.size, created=LIVE)
                    strangers.append(node_id)
        return [by_id[i] for i in sorted(by_id)], out, strangers

    def unknowns(self, strangers: Sequence[int], *, launched: bool, booted: bool,
                 argv: Sequence[str] | None, derived: bool) -> list[str]:
        """What numatui cannot know about this QEMU, one short sentence each
        (``launched``: numatui started it and it runs; ``derived``: the board
        cannot list its slots)."""
        out: list[str] = []
        if self._refused:
            out.append(self._refused)
        if launched:
            return out  # numatui started it: nobody else told it anything
        if booted and argv and not any(a in ("--preconfig", "-preconfig") for a in argv[1:]):
            return out  # never in preconfig: nothing can have been set over QMP
        # an identity but no record file: the state directory is untrusted, said above
        records_off = self.file is None and self.path is None \
            and self.record is not None and self.record.identity is not None
        if not self._existed and not records_off:
            if self.record is not None and self.record.identity is None and self.file is None:
                out.append("QMP cannot read distances or nodes added live, and this QEMU is not a "
                           "local unix-socket peer numatui can identify, so it keeps no record of it: "
                           "they are unknown (name a record file with --record FILE)")
            elif booted:
                out.append("numatui did not talk to this QEMU before it booted: distances set over "
                           "QMP are unknown (QMP cannot read them)")
            else:
                out.append("numatui has no record of this QEMU: distances or nodes another QMP client "
                           "set are unknown (QMP cannot read them)")
        if not self._existed and derived and not booted:
            out.append("this board cannot list its CPU slots before boot: a mapping another "
                       "client set is unknown")
        for node_id in strangers:
            out.append(f"node {node_id} is not in QEMU's command line and numatui did not add it: "
                       "its memory is unknown")
        return out

    def change(self, change: Callable[[Record], object]) -> None:
        """Apply ``change`` to the record and merge it into the file under its
        lock (:func:`records.update`); RecordNotWritten when the file cannot be
        written (the change stays in memory)."""
        if self.record is None:
            self.record = Record()
        pending = self.record.derived_mapping if self._dirty else None
        self._dirty = False

        def apply(record: Record) -> None:
            change(record)
            if pending is not None:
                record.derived_mapping = pending

        before = copy.deepcopy(self.record)
        apply(self.record)
        if self.path is None:
            return
        self.record = records.update(self.path, apply, before, follow=self.file is not None)
        self._saved = True

    def keep_mapping(self, mapping: Mapping[SlotKey, int], derived: bool) -> None:
        """After a set-numa-node type cpu: the ``mapping`` QEMU cannot list
        (``derived`` boards); on other boards only that numatui was here (QMP
        reads the rest).  Kept in memory; :meth:`flush` writes it (after an
        apply on derived boards, before x-exit-preconfig, at close), so
        mapping costs no file write per command."""
        kept = [(dict(k), v) for k, v in mapping.items()] if derived else []
        if self.record is None:
            self.record = Record()
        if self.record.derived_mapping != kept or not self._saved:
            self.record.derived_mapping = kept
            self._dirty = True

    def flush(self, quiet: bool = False) -> None:
        """Write what :meth:`keep_mapping` kept; ``quiet``: a failure is
        noted, not raised (closing, booting: the change was made earlier)."""
        if not self._dirty:
            return
        try:
            self.change(lambda r: None)
        except RecordNotWritten as exc:
            if not quiet:
                raise
            self._note(str(exc))
