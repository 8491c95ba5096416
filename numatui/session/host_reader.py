"""Read the host's NUMA view from ``/sys`` (or a recorded tree under a root
directory, like hwloc's ``HWLOC_FSROOT``) into :class:`HostTopology`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from numatui.model.host import CPU_DIR, HostTopology, parse_host
from numatui.session.errors import BadRequest
from numatui.session.files import SYSFS_CAP, FileRefused, read_optional


class DirectoryFiles:
    """:class:`numatui.model.host.HostFiles` over a directory (``/`` for this machine)."""

    def __init__(self, root: str | Path = "/") -> None:
        self.root = Path(root)

    def read(self, path: str) -> str | None:
        """The file as text, as the kernel writes it: a trailing NUL (some
        sysfs files, and trees saved by hwloc's tools) read as a line end, a
        missing newline or an empty file as they are.  None when it is missing
        or unreadable; FileRefused (one line) for a FIFO, a device or a file
        over 1 MiB (no sysfs file this reader uses is that large)."""
        try:
            raw = read_optional(self.root / path, SYSFS_CAP, "host tree file")
        except ValueError as exc:  # an embedded NUL in the path
            if isinstance(exc, FileRefused):
                raise
            return None
        return None if raw is None else raw.decode(errors="replace").replace("\0", "\n")

    def list(self, path: str) -> Sequence[str]:
        try:
            return sorted(os.listdir(self.root / path))
        except OSError:
            return []


def read_host(root: str | Path = "/") -> HostTopology:
    """The host under ``root``; BadRequest (exit 2) when it is not a /sys tree."""
    base = Path(root)
    if not base.is_dir():
        raise BadRequest(f"--host-root {root}: no such directory")
    if not (base / CPU_DIR).is_dir():
        raise BadRequest(f"--host-root {root}: there is no {CPU_DIR} under it "
                         "(give the directory that holds sys/ and proc/)")
    return parse_host(DirectoryFiles(base))
