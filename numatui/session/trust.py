"""What numatui trusts on disk before it reads state from it or runs a program.

numatui saves state in ``$XDG_STATE_HOME/numatui`` and ``launch --resume``
starts the QEMU named in it, so a file anyone else could write would be a way
to make the user run a program.  The rules (each check returns None when the
thing may be trusted, else the one-line reason):

- numatui's own directories (state: autosaves, records, screenshots; cache:
  a copy no clipboard took): a real directory (not a symlink), owned by the
  user, mode 0700 (:func:`state_dir_problem`); one that fails holds nothing
  numatui reads or writes (:func:`private_dir_problem` makes a missing one);
- a record (:mod:`numatui.session.record`): the user's own file, else it is
  ignored (:func:`foreign_owner`);
- a state file to resume: a regular file (not a symlink), owned by the user,
  mode 0600, in such a directory (:func:`state_file_problem`);
- the program to start (argv[0], found through ``PATH`` as exec finds it): a
  regular executable file owned by root or the user, writable by nobody
  else, in a directory (every directory up to ``/``) writable by nobody else
  (:func:`program_problem`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _owner_ok(st: os.stat_result, allow_root: bool = False) -> bool:
    return st.st_uid == os.geteuid() or (allow_root and st.st_uid == 0)


def state_dir_problem(directory: Path, what: str = "state directory") -> str | None:
    """Why ``directory`` must not hold state (None: it may, or it does not exist yet)."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{what} {directory}: {exc.strerror}"
    fix = f"chmod 700 {directory}"
    if stat.S_ISLNK(st.st_mode):
        return (f"{what} {directory} is a symlink (to {os.readlink(directory)}), not a "
                f"directory of yours: remove it (numatui makes a private one)")
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {directory} is not a directory: remove it"
    if not _owner_ok(st):
        return f"{what} {directory} belongs to uid {st.st_uid}, not you: remove it"
    if stat.S_IMODE(st.st_mode) != 0o700:
        return f"{what} {directory} has mode {stat.S_IMODE(st.st_mode):04o}, not 0700: {fix}"
    return None


def private_dir_problem(directory: Path, what: str = "state directory") -> str | None:
    """None when numatui may keep files in ``directory`` (made 0700 when
    missing, parents included); else the one-line reason and fix."""
    problem = state_dir_problem(directory, what)
    if problem is not None:
        return problem
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the {what} {directory}: {exc.strerror}"
    return state_dir_problem(directory, what)  # raced, or an umask/ACL made it other than 0700


def foreign_owner(st: os.stat_result, path: Path) -> str | None:
    """The line saying ``path`` (its fstat ``st``) is another user's, else None."""
    if _owner_ok(st):
        return None
    return f"{path} belongs to uid {st.st_uid}, not you: ignored"


def state_file_problem(path: Path) -> str | None:
    """Why the state file ``path`` must not be resumed (None: it may)."""
    directory = path.parent
    problem = state_dir_problem(directory)
    if problem is not None:
        return problem
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file (a symlink or other): numatui resumes only files it wrote"
    if not _owner_ok(st):
        return f"{path} belongs to uid {st.st_uid}, not you: numatui resumes only your own files"
    if stat.S_IMODE(st.st_mode) != 0o600:
        return (f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, not 0600 (numatui writes 0600): "
                f"check who changed it, then chmod 600 {path}")
    return None


def resolve_program(name: str, path_env: str | None = None) -> Path | None:
    """``name`` as exec finds it: as given when it holds a ``/``, else the first
    executable regular file in ``PATH`` (None when there is none)."""
    if "/" in name:
        return Path(name)
    search = os.environ.get("PATH", os.defpath) if path_env is None else path_env
    for entry in search.split(os.pathsep):
        candidate = Path(entry or ".") / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _writable_by_others(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)) or not _owner_ok(st, allow_root=True)


def program_problem(name: str, path_env: str | None = None) -> str | None:
    """Why ``name`` (a saved argv[0]) must not be started (None: it may)."""
    found = resolve_program(name, path_env)
    if found is None:
        return f"program {name!r} is not in PATH"
    try:
        real = Path(os.path.realpath(found))
        st = os.stat(real)
    except OSError as exc:
        return f"program {found}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & stat.S_IXUSR:
        return f"program {found} is not an executable regular file"
    if _writable_by_others(st):
        return (f"program {real} is owned by uid {st.st_uid} or writable by others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}): numatui starts only programs of root or yours")
    for depth, directory in enumerate(real.parents):
        try:
            dst = os.stat(directory)
        except OSError as exc:
            return f"directory {directory}: {exc.strerror}"
        # above its own directory, a sticky one (/tmp) cannot have entries renamed by others
        if _writable_by_others(dst) and not (depth and dst.st_mode & stat.S_ISVTX
                                             and _owner_ok(dst, allow_root=True)):
            return (f"program {real} is in {directory}, which others can write "
                    f"(uid {dst.st_uid}, mode {stat.S_IMODE(dst.st_mode):04o}): numatui does not start it")
    return None
