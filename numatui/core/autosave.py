"""Autosave and resume: the plan and QEMU's arguments, on disk after every change.

One JSON file per VM in ``$XDG_STATE_HOME/numatui/`` (default
``~/.local/state/numatui/``), a private 0700 directory::

    {"version": 1, "name": "web1", "argv": ["qemu-system-x86_64", ...],
     "launched": true, "address": "unix:/tmp/numatui-x/qmp.sock",
     "plan": {<the plan file>}, "saved": "2026-11-26T08:00:00+00:00",
     "history": {"position": 1, "states": [{"description": "start", "plan": {...}}, ...]}}

``argv`` is QEMU's command line without numatui's monitor and --preconfig
(what ``numatui launch --resume`` starts again), present only when numatui
launched QEMU (``"launched": true``).  For a QEMU numatui attached to, its
own argv (when readable) is kept under ``"qemu_argv"``, for export and
``apply`` only: nothing ever starts it (it holds the running VM's own
``-qmp`` sockets, and may come from another user's process).  ``history`` is
the undo history (:meth:`numatui.model.history.History.to_dict`): at most
the last 50 steps, fewer when they would pass :data:`HISTORY_BYTES`, so a
file stays far below the 16 MiB read cap; ``--resume`` brings it back, and a
file without it (older numatui) resumes with a history that starts there.

Trust (:mod:`numatui.session.trust`): the directory must be a real 0700 directory of
the user's, else nothing is saved (:func:`usable_state_dir`); ``--resume``
takes only files numatui launched, 0600 and the user's, whose argv[0] is a
program of root or the user that nobody else can write; "newest" is the
file's mtime, not its ``saved`` field.  Files are written to a
temporary file in the same directory and renamed over the old one
(``os.replace``), so a crash leaves the old or the new file, never half of
one.  The file name is ``<-name>-<hash>.json`` (or ``vm-<hash>.json``), the
hash over the argv (or the QMP address), so two VMs never share a file.
``numatui apply ADDRESS FILE`` reads these files too (the plan is under
``"plan"``; see :func:`numatui.model.plan.saved_state_plan`).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numatui.model.errors import NumaError
from numatui.model.history import SAVED_LIMIT, History
from numatui.model.plan import PLAN_VERSION, Plan, loads_strict
from numatui.model.qemu_args import LAUNCHER_MARK, iter_options
from numatui.model.smp import split_opts
from numatui.session.files import DOCUMENT_CAP, FileRefused, read_text, write_atomic
from numatui.session.record import identify
from numatui.session.replay import without_numa_cpu_dist
from numatui.session.trust import (
    private_dir_problem,
    program_problem,
    state_dir_problem,
    state_file_problem,
)
from numatui.session.xdg import state_dir

if TYPE_CHECKING:
    from numatui.session.session import Session

SUFFIX = ".json"
#: The most a saved undo history takes in a state file, as compact JSON (written with
#: json's spaces it is about a tenth more; the read cap is 16 MiB)
HISTORY_BYTES = 4 << 20


class SavedStateError(NumaError):
    """No such saved state, or a file that is not one (one line, exit 2 in the CLI)."""


def vm_name(argv: Sequence[str] | None) -> str | None:
    """The guest name of ``-name NAME`` / ``-name guest=NAME,...``."""
    if not argv:
        return None
    name = None
    with contextlib.suppress(NumaError):
        for opt in iter_options(list(argv[1:])):
            if opt.name == "name" and opt.value:
                pairs = dict(split_opts(opt.value, "guest", "-name"))
                name = pairs.get("guest") or name
    return name


def _stable_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` without what changes from run to run: numatui's monitor
    (its private directory), --preconfig, and ``-numa cpu``/``dist`` (the plan's)."""
    out: list[str] = []
    with contextlib.suppress(NumaError):
        for opt in iter_options(list(argv[1:])):
            value = opt.value or ""
            if opt.name == "preconfig" or LAUNCHER_MARK in value:
                continue
            out.extend(opt.tokens)
        return [argv[0], *without_numa_cpu_dist(out)]
    return list(argv)


def state_key(argv: Sequence[str] | None, address: str | None = None) -> str:
    """The file stem for a VM: ``web1-1a2b3c4d`` from ``-name web1``, else ``vm-1a2b3c4d``."""
    basis = "\0".join(_stable_argv(argv)) if argv else f"address\0{address or ''}"
    digest = hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    name = vm_name(argv)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] if name else ""
    return f"{slug or 'vm'}-{digest}"


@dataclass(frozen=True)
class SavedState:
    """One saved state file."""

    path: Path
    name: str | None
    argv: list[str] | None
    plan: Plan
    saved: str
    launched: bool = False
    address: str | None = None
    #: an attached QEMU's own argv: for export and apply, never started
    qemu_argv: list[str] | None = None
    #: the launched QEMU's identity ({"pid", "start", "boot"}): resume refuses while it runs
    qemu: dict[str, Any] | None = None
    #: the undo history as saved (:func:`history_dict`); None in older files
    history: dict[str, Any] | None = None

    def undo_history(self) -> History | None:
        """The saved undo history (None when the file has none)."""
        return History.from_dict(self.history) if self.history is not None else None

    @property
    def key(self) -> str:
        return self.path.name.removesuffix(SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "name": self.name,
                "argv": self.argv if self.launched else None,
                "qemu_argv": self.qemu_argv, "launched": self.launched, "address": self.address,
                "plan": self.plan.to_dict(), "saved": self.saved,
                **({"qemu": self.qemu} if self.qemu else {}),
                **({"history": self.history} if self.history else {})}


#: How the one line about an untrusted state directory starts (records live there too).
STATE_OFF = "autosave is off, and records are off too"


def usable_state_dir(directory: Path | None = None) -> str | None:
    """None when state may be saved in ``directory`` (made 0700 when missing);
    else the one line saying why not and how to fix it."""
    problem = private_dir_problem(directory or state_dir())
    return f"{STATE_OFF}: {problem}" if problem is not None else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def save(path: Path, plan: Plan, *, argv: Sequence[str] | None, name: str | None = None,
         launched: bool = False, address: str | None = None,
         qemu: dict[str, Any] | None = None, history: History | None = None) -> SavedState:
    """Save atomically into a directory that passes the trust rules; returns
    what was saved (SavedStateError when the directory fails them)."""
    state = SavedState(path=path, name=name if name is not None else vm_name(argv),
                       argv=list(argv) if argv is not None and launched else None, plan=plan,
                       saved=_now(), launched=launched, address=address,
                       qemu_argv=list(argv) if argv is not None and not launched else None,
                       qemu=qemu if launched else None,
                       history=history_dict(history) if history is not None else None)
    problem = private_dir_problem(path.parent)  # checked at every save: it may have changed
    if problem is not None:
        raise SavedStateError(f"{STATE_OFF}: {problem}")
    write_atomic(path, _render(state.to_dict()))
    return state


def _render(data: dict[str, Any]) -> str:
    """One key a line, each value on its line: readable, and written by
    json's C encoder (``indent=`` takes its pure-Python one: a second for a
    long history of a 4096-vCPU VM)."""
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"


def load(path: str | Path) -> SavedState:
    """Read a saved state file.  SavedStateError (a NumaError) when it is not one."""
    p = Path(path)
    try:
        text = read_text(p, DOCUMENT_CAP, "saved state")
    except FileRefused as exc:
        raise SavedStateError(str(exc)) from None
    try:
        data = loads_strict(text)  # a key given twice is refused, not "last wins"
    except (ValueError, RecursionError) as exc:
        raise SavedStateError(f"{p}: not a numatui saved state (not JSON: {exc})") from None
    if not isinstance(data, dict) or "plan" not in data:
        raise SavedStateError(f"{p}: not a numatui saved state (no \"plan\")")
    try:
        plan = Plan.from_dict(data)
    except NumaError as exc:
        raise SavedStateError(f"{p}: {exc}") from None
    argv = _argv_field(p, data, "argv")
    qemu_argv = _argv_field(p, data, "qemu_argv")
    launched = data.get("launched") is True
    if not launched:  # an attached QEMU's command line (older files kept it as argv): never started
        qemu_argv, argv = qemu_argv or argv, None
    name, address, qemu, history = (data.get(k) for k in ("name", "address", "qemu", "history"))
    if history is not None:
        try:
            History.from_dict(history)
        except NumaError as exc:
            raise SavedStateError(f"{p}: {exc}") from None
    return SavedState(path=p, name=name if isinstance(name, str) else None, argv=argv, plan=plan,
                      saved=str(data.get("saved", "")), launched=launched,
                      address=address if isinstance(address, str) else None, qemu_argv=qemu_argv,
                      qemu=qemu if isinstance(qemu, dict) else None, history=history)


def history_dict(history: History, budget: int = HISTORY_BYTES) -> dict[str, Any] | None:
    """The last :data:`SAVED_LIMIT` states of ``history``, fewer (the oldest
    first) while they take more than ``budget`` bytes of compact JSON; None
    when there is nothing to undo or redo."""
    return history.to_dict(SAVED_LIMIT, budget) if len(history) >= 2 else None


def _argv_field(p: Path, data: dict[str, Any], field: str) -> list[str] | None:
    argv = data.get(field)
    if argv is not None and (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)
                             or not argv):
        raise SavedStateError(f"{p}: \"{field}\" must be a list of strings")
    return argv


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def list_saved(directory: Path | None = None) -> list[SavedState]:
    """Every readable saved state, newest first by the file's mtime (never its own
    ``saved`` field); unreadable files are skipped."""
    d = directory or state_dir()
    out = []
    for p in sorted(d.glob(f"*{SUFFIX}")) if d.is_dir() else []:
        with contextlib.suppress(SavedStateError):
            out.append(load(p))
    return sorted(out, key=lambda s: _mtime(s.path), reverse=True)


def resumable(state: SavedState) -> SavedState:
    """``state`` when numatui may start its QEMU again, else SavedStateError with
    the one-line reason (nothing from a refused file is run)."""
    if not state.launched or not state.argv:
        raise SavedStateError(f"{state.path}: numatui did not launch that QEMU (it attached to it), "
                              "so it does not start it; use numatui apply ADDRESS FILE on a QEMU you start")
    problem = state_file_problem(state.path) or program_problem(state.argv[0])
    if problem is not None:
        raise SavedStateError(f"not resuming {state.path}: {problem}")
    return state


def find(name: str | None = None, directory: Path | None = None) -> SavedState:
    """The state to resume: a file path, a file stem, a -name, or (None) the newest
    (by mtime) that numatui launched.  Every candidate must pass
    :func:`resumable`.  SavedStateError listing what there is otherwise."""
    where = directory or state_dir()
    problem = state_dir_problem(where)
    if name is not None and (os.sep in name or name.endswith(SUFFIX)) and Path(name).is_file():
        return resumable(load(name))
    if problem is not None:
        raise SavedStateError(f"not resuming: {problem}")
    states = [s for s in list_saved(directory) if s.launched and s.argv]
    if name is None:
        if not states:
            raise SavedStateError(f"nothing to resume: no saved state of a QEMU numatui launched in {where}")
        return resumable(states[0])
    for hits in ([s for s in states if s.key == name], [s for s in states if s.name == name],
                 [s for s in states if s.key.startswith(name)]):
        if hits:
            return resumable(hits[0])
    known = ", ".join(s.key for s in states[:8]) or "none"
    raise SavedStateError(f"no saved state {name!r} in {where} (saved: {known})")


class Autosaver:
    """Saves one session's plan and QEMU argv to one file after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_session(cls, session: Session, directory: Path | None = None) -> Autosaver:
        """The file for this VM (name and hash from its arguments)."""
        argv, _ = _argv_of(session)
        return cls((directory or state_dir()) / (state_key(argv, str(session.address)) + SUFFIX))

    def save_session(self, session: Session, history: History | None = None) -> SavedState:
        """Save the session's plan now (the argv of its current QEMU) and ``history``."""
        argv, launched = _argv_of(session)
        identity = identify(getattr(session.launcher, "pid", None)) if launched else None
        return save(self.path, session.plan(), argv=argv, launched=launched,
                    address=str(session.address), qemu=identity.to_dict() if identity else None,
                    history=history)


def _argv_of(session: Session) -> tuple[list[str] | None, bool]:
    launcher = session.launcher
    user_argv = getattr(launcher, "user_argv", None)
    if launcher is not None and user_argv:
        return list(user_argv), True
    return (list(session.qemu_argv) if session.qemu_argv else None), False
