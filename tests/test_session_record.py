"""The record of what numatui told a QEMU: identity, file, and what a session makes of it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, numa_node_args

from numatui.model.errors import NumaError
from numatui.model.plan import LIVE, Node
from numatui.session import record
from numatui.session.errors import BadRequest
from numatui.session.session import Session

G = 1 << 30


def test_start_time_survives_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    fields = ["S"] + [str(i) for i in range(4, 22)] + ["987654", "0", "0"]
    (proc / "42" / "stat").write_text("42 (qemu ) x) (y) " + " ".join(fields) + "\n")
    assert record.start_time(42, proc) == 987654
    assert record.start_time(43, proc) is None
    (proc / "44").mkdir()
    (proc / "44" / "stat").write_text("44 (short) S 1\n")
    assert record.start_time(44, proc) is None


def test_identity_of_a_live_process_changes_with_the_process() -> None:
    me = record.identify(os.getpid())
    assert me is not None and me.start > 0 and me.boot != "noboot"
    child = subprocess.Popen(["sleep", "30"])
    try:
        other = record.identify(child.pid)
        assert other is not None and other != me and other.key != me.key
    finally:
        child.kill()
        child.wait()
    assert record.identify(None) is None


def test_file_round_trip_and_junk(tmp_path: Path) -> None:
    rec = record.Record(identity=record.Identity(1, 2, "b" * 36), machine={"type": "x"},
                        nodes={2: Node(2, "m2", G, LIVE, LIVE)}, memdevs={"m2": G},
                        distances={(0, 2): 30}, derived_mapping=[({"socket-id": 1}, 0)],
                        first_seen="prelaunch")
    path = tmp_path / "r.record"
    record.save(path, rec)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = record.load(path)
    assert again == rec
    assert record.load(tmp_path / "none.record") is None
    for junk in ("[", "[]", json.dumps({"version": 2}), json.dumps({"version": 1, "nodes": [{"id": "x"}]}),
                 json.dumps({"version": 1, "distances": [{"src": 0}]})):
        path.write_text(junk)
        with pytest.raises(NumaError, match="numatui record"):
            record.load(path)


def test_prune_drops_records_of_gone_processes(tmp_path: Path) -> None:
    me = record.identify(os.getpid())
    assert me is not None
    mine = record.path_for(me, tmp_path)
    gone = tmp_path / f"{me.boot[:8]}-{2 ** 22 + 7}-1{record.SUFFIX}"  # beyond pid_max
    reused = tmp_path / f"{me.boot[:8]}-{os.getpid()}-{me.start + 1}{record.SUFFIX}"
    other_boot = tmp_path / f"zzzzzzzz-1-1{record.SUFFIX}"
    for p in (mine, gone, reused, other_boot):
        p.write_text("{}")
    record.prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other_boot.name])


async def test_a_second_session_finds_what_the_first_sent(qemu_factory: Any) -> None:
    q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(1, 1024)])
    first = await Session.connect(q.sock)
    try:
        assert first.unknowns and first.book.path is not None
        await first.add_node(1, size=G)
        await first.add_node(2)
        await first.set_distance(0, 1, 21)
    finally:
        await first.close()
    second = await Session.connect(q.sock)
    try:
        assert second.unknowns == []
        assert [(n.id, n.memdev, n.size, n.created, n.memdev_created) for n in second.nodes] == [
            (0, "m0", G, None, None), (1, "m1", G, LIVE, LIVE), (2, None, None, LIVE, None)]
        assert [(d.src, d.dst, d.val) for d in second.distances] == [(0, 1, 21)]
        assert second.record is not None and second.record.first_seen == "prelaunch"
        # a node with memory is checked before object-add: no orphan backend
        with pytest.raises(BadRequest, match="node 1 exists already"):
            await second.add_node(1, size=G)
    finally:
        await second.close()
