"""A record of what numatui told one QEMU, for facts QMP cannot read back.

QMP has no way to read distances (ever), the nodes that exist in preconfig,
which memory backends were made by ``object-add`` rather than the command
line, or the mapping on boards that refuse ``query-hotpluggable-cpus`` (arm
virt, riscv virt) before boot.  Whatever numatui sent and QEMU accepted is
therefore written down per QEMU instance, and any later numatui process that
connects to the same QEMU (show, export, apply, connect, the TUI) reads it.
What QMP can read always wins; the record only fills the rest.

Identity.  For a local unix socket the peer's pid (``SO_PEERCRED``), its
start time (field 22 of ``/proc/PID/stat``, clock ticks since boot) and the
kernel's boot id: a restarted QEMU, or a new process that reuses the pid,
has another start time, so one VM's record is never applied to another.  A
TCP peer has no pid: numatui keeps no record of it unless the user names a
file (``--record FILE``); such a file also carries the machine it was made
on (QEMU version, machine type, smp, RAM) and is not used when those differ.

Storage: ``xdg.state_dir()`` (0700, files 0600), one
``<boot>-<pid>-<start>.record`` file per QEMU (not ``.json``, so the
saved-state listing never mistakes one for a plan).  Records of processes
that no longer exist are removed when a new one is written.  When the state
directory fails the trust rules (:mod:`numatui.session.trust`) no record is
read from it or written to it, and what only a record could tell is an
unknown; a record of another user is ignored (:func:`load`).

Two numatui processes may talk to one QEMU (a TUI, and ``apply`` on its
second monitor): every change is merged into the file under an exclusive
``flock`` of a lock file beside it (:func:`update`: read what is there,
apply this change, write a temporary file and rename it), so one writer
never drops what another recorded.  A record that cannot be written fails
the command that made the change (:class:`RecordNotWritten`).

Why not a marker inside QEMU (``object-add`` of e.g. a ``secret`` or
``memory-backend`` object whose id or data encodes the record, read back by
any client with ``qom-list /objects``)?  It would travel with the QEMU and
need no identity at all, which is its one real advantage.  Against it: it
adds objects to the user's VM that the guest-visible configuration and
``-object``-aware tools (libvirt, migration) then see, and that cannot be
removed in preconfig; objects are write-once, so every change would add
another; ``qom-list`` only gives names and types, so the data must hide in
ids or properties of an object type chosen for that and not for its meaning;
and any QMP client (the peer) controls what numatui would then trust as its
own record.  A file in numatui's private state directory, keyed by an
identity the kernel vouches for, leaves the VM untouched and is written only
by the user; what it cannot cover (TCP without ``--record``) is said as an
unknown instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from numatui.model.errors import NumaError
from numatui.model.hmat import HmatCache, HmatLb, cache_from_args, lb_from_args
from numatui.model.plan import LIVE, Distance, Node
from numatui.session.errors import BadRequest, SessionError
from numatui.session.files import (
    DOCUMENT_CAP,
    SYSFS_CAP,
    FileRefused,
    decode,
    open_regular,
    read_bytes,
    read_fd,
    read_optional,
    write_atomic,
)
from numatui.session.machine import MachineInfo
from numatui.session.trust import foreign_owner, private_dir_problem
from numatui.session.xdg import state_dir

SUFFIX = ".record"
RECORD_VERSION = 1


@dataclass(frozen=True)
class Identity:
    """One QEMU process: pid, its start time and the boot it belongs to."""

    pid: int
    start: int
    boot: str

    @property
    def key(self) -> str:
        return f"{self.boot[:8]}-{self.pid}-{self.start}"

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start, "boot": self.boot}


def start_time(pid: int, proc: str | Path = "/proc") -> int | None:
    """Field 22 of ``/proc/PID/stat`` (starttime, clock ticks after boot), or None."""
    try:
        raw = read_optional(Path(proc) / str(pid) / "stat", SYSFS_CAP, "/proc stat file")
    except FileRefused:
        return None
    if raw is None:
        return None
    text = raw.decode(errors="replace")
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = text[text.rfind(")") + 1:].split()
    try:
        return int(rest[19])  # rest[0] is field 3
    except (IndexError, ValueError):
        return None


def boot_id(proc: str | Path = "/proc") -> str:
    with contextlib.suppress(FileRefused):
        raw = read_optional(Path(proc) / "sys" / "kernel" / "random" / "boot_id", SYSFS_CAP, "boot id")
        if raw:
            return raw.decode(errors="replace").strip()
    return "noboot"


def identify(pid: int | None, proc: str | Path = "/proc") -> Identity | None:
    """The identity of process ``pid``; None without a pid or when /proc cannot tell."""
    if pid is None:
        return None
    start = start_time(pid, proc)
    if start is None:
        return None
    return Identity(pid=pid, start=start, boot=boot_id(proc))


@dataclass
class Record:
    """What numatui sent one QEMU and QEMU accepted."""

    identity: Identity | None = None
    #: QEMU version, machine type, smp, RAM: checked when a named file is used
    machine: dict[str, Any] = field(default_factory=dict)
    #: nodes numatui added with set-numa-node type node
    nodes: dict[int, Node] = field(default_factory=dict)
    #: memory backends numatui made with object-add: id -> bytes
    memdevs: dict[str, int] = field(default_factory=dict)
    distances: dict[tuple[int, int], int] = field(default_factory=dict)
    #: boards without query-hotpluggable-cpus: slot props -> node, as QEMU's matching left it
    derived_mapping: list[tuple[dict[str, int], int]] = field(default_factory=list)
    #: the run state numatui first saw this QEMU in ("prelaunch", "running", ...)
    first_seen: str | None = None
    #: the plan's vCPU pinning after boot ("node", "cpu"), as a plan or preset asked
    pinning: str | None = None
    #: set-numa-node hmat-lb / hmat-cache QEMU accepted, in order (QMP cannot read HMAT back)
    hmat_lb: list[HmatLb] = field(default_factory=list)
    hmat_cache: list[HmatCache] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.nodes or self.memdevs or self.distances or self.derived_mapping
                    or self.hmat_lb or self.hmat_cache)

    def distance_list(self) -> list[Distance]:
        return [Distance(s, d, v) for (s, d), v in sorted(self.distances.items())]

    # -- file ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "qemu": self.identity.to_dict() if self.identity else None,
            "machine": self.machine,
            "first-seen": self.first_seen,
            "nodes": [{k: v for k, v in n.to_dict().items() if k != "created"}  # all are "live"
                      for _, n in sorted(self.nodes.items())],
            "memdevs": [{"id": k, "size": v} for k, v in sorted(self.memdevs.items())],
            "distances": [{"src": s, "dst": d, "val": v} for (s, d), v in sorted(self.distances.items())],
            "derived-mapping": [{"props": p, "node-id": n} for p, n in self.derived_mapping],
            **({"pinning": self.pinning} if self.pinning else {}),
            "hmat-lb": [lb.to_args() for lb in self.hmat_lb],
            "hmat-cache": [c.to_args() for c in self.hmat_cache],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Record:
        """Raises NumaError on anything that is not a record this numatui wrote."""
        try:
            if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
                raise ValueError("not a version 1 record")
            q = data.get("qemu")
            identity = Identity(pid=_i(q["pid"]), start=_i(q["start"]), boot=str(q["boot"])) if q else None
            read = (Node.from_dict(raw, f"nodes[{i}]") for i, raw in enumerate(data.get("nodes", [])))
            nodes = {n.id: replace(n, created=LIVE) for n in read}
            memdevs = {str(m["id"]): _i(m["size"]) for m in data.get("memdevs", [])}
            dists = {(_i(d["src"]), _i(d["dst"])): _i(d["val"]) for d in data.get("distances", [])}
            derived = [({str(k): _i(v) for k, v in m["props"].items()}, _i(m["node-id"]))
                       for m in data.get("derived-mapping", [])]
            machine = data.get("machine") or {}
            if not isinstance(machine, dict):
                raise ValueError("machine must be an object")
            first = data.get("first-seen")
            lbs = [lb_from_args("hmat-lb", x) for x in data.get("hmat-lb", [])]
            caches = [cache_from_args("hmat-cache", x) for x in data.get("hmat-cache", [])]
            return cls(identity=identity, machine=machine, nodes=nodes, memdevs=memdevs,
                       distances=dists, derived_mapping=derived,
                       first_seen=str(first) if first is not None else None,
                       pinning=_s(data.get("pinning")), hmat_lb=lbs, hmat_cache=caches)
        except (KeyError, TypeError, ValueError, AttributeError, NumaError) as exc:
            raise NumaError(f"not a numatui record: {exc}") from None


def _i(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{v!r} is not a whole number")
    return v


def _s(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not a string")
    return v


class RecordNotWritten(SessionError):
    """QEMU accepted a change but its record cannot be written (disk full, a
    read-only directory): the command that made the change fails (exit 1)."""


def dir_problem() -> str | None:
    """Why records must not be kept in the state directory (None: they may)."""
    return private_dir_problem(state_dir())


def path_for(identity: Identity, directory: Path | None = None) -> Path:
    return (directory or state_dir()) / f"{identity.key}{SUFFIX}"


def load(path: Path, *, follow: bool = True) -> Record | None:
    """The record at ``path``; None when there is none.  NumaError (one line)
    when it is unreadable, not a record, or another user's file (ignored);
    ``follow=False`` (the state directory's records): a symlink is refused."""
    try:
        fd, st = open_regular(path, "record", follow=follow)
        try:
            foreign = foreign_owner(st, path)
            if foreign is not None:
                raise NumaError(f"record {foreign}")
            text = decode(read_fd(fd, DOCUMENT_CAP, "record", path), "record", path)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NumaError(f"cannot read the record {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise NumaError(f"{path} is not a numatui record (not JSON)") from None
    return Record.from_dict(data)


def check_named(path: Path) -> None:
    """A ``--record FILE`` that exists must be a regular file within the cap,
    in UTF-8: else BadRequest (one line, exit 2) before anything connects."""
    try:
        if path.exists():
            decode(read_bytes(path, DOCUMENT_CAP, "record"), "record", path)
    except FileRefused as exc:
        raise BadRequest(str(exc)) from None


#: How long a writer waits for another numatui process's lock on a record.
LOCK_WAIT = 10.0


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` of ``.NAME.lock`` beside ``path`` (never a link)."""
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError(f"{lock} stays locked by another numatui process") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock


def same_qemu(a: Record, b: Record) -> bool:
    """Whether two records describe one QEMU (identity and machine)."""
    return a.identity == b.identity and (not a.machine or not b.machine or a.machine == b.machine)


def update(path: Path, change: Callable[[Record], object], base: Record, *,
           follow: bool = True) -> Record:
    """Apply ``change`` to the record in ``path`` (re-read under the lock, so
    another process's changes are kept; ``base`` when there is none or it is
    not this QEMU's) and write it back atomically.  Returns what was written.
    RecordNotWritten (one line) when it cannot be written."""
    problem = dir_problem() if path.parent == state_dir() else None  # it may have changed since
    if problem is not None:
        raise RecordNotWritten(f"QEMU accepted the change, but records are off now: {problem}")
    try:
        with locked(path):
            try:
                current = load(path, follow=follow)
            except NumaError:
                current = None  # unreadable or another user's: ours replaces it
            record = current if current is not None and same_qemu(current, base) else base
            change(record)
            save(path, record)
    except OSError as exc:
        raise RecordNotWritten(f"QEMU accepted the change, but the record {path} cannot be written "
                               f"({exc.strerror or exc}): later numatui processes would not know it; "
                               f"make room or fix {path.parent}, then make the change again") from None
    return record


def save(path: Path, record: Record) -> None:
    """Write atomically (0600); drop records of dead QEMUs."""
    write_atomic(path, json.dumps(record.to_dict(), indent=1) + "\n")
    if path.parent == state_dir():
        prune(path.parent, keep=path)


def prune(directory: Path, keep: Path | None = None, proc: str | Path = "/proc") -> None:
    """Remove this boot's records whose process is gone (or is another process now)."""
    boot = boot_id(proc)[:8]
    for p in directory.glob(f"{boot}-*{SUFFIX}"):
        if p == keep:
            continue
        parts = p.name.removesuffix(SUFFIX).split("-")
        try:
            pid, start = int(parts[1]), int(parts[2])
        except (IndexError, ValueError):
            continue
        if start_time(pid, proc) != start:
            with contextlib.suppress(OSError):
                p.unlink()
            with contextlib.suppress(OSError):
                p.with_name(f".{p.name}.lock").unlink()


def machine_guard(info: MachineInfo) -> dict[str, Any]:
    """What must match for a user-named record file to describe this QEMU."""
    return {"qemu": info.qemu_version, "type": info.machine_type, "smp": dict(info.smp),
            "ram": info.ram_size}
