"""What a QEMU binary unpacked into a private prefix needs to run.

A QEMU unpacked from distribution packages into a directory of its own (e.g.
``dpkg -x`` of Debian's bookworm-backports QEMU 10.0 into
``.cache/qemu-10.0``: ``PREFIX/usr/bin/qemu-system-x86_64``) was built for
``/usr``: left alone it reads the firmware of ``/usr/share/qemu`` and loads
the modules of ``/usr/lib/<triplet>/qemu``, i.e. those of the system's QEMU,
another build.  QEMU aborts on a module of another build ("Only modules from
the same build can be loaded", or an assertion in ``module_load_dso``).  So
such a binary runs with ``-L PREFIX/usr/share/qemu`` (part of its command
line: exported command lines need it too) and ``QEMU_MODULE_DIR`` pointing at
its own modules (part of its environment).

A binary in ``/usr/bin`` or ``/usr/local/bin`` (its build's own places) needs
neither.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Prefixes a QEMU build expects to live in: nothing to add there.
SYSTEM_ROOTS = (Path("/usr"), Path("/usr/local"), Path("/"))


@dataclass(frozen=True)
class QemuBinary:
    """A QEMU binary and, when it lives in a private prefix, that prefix's data."""

    path: str
    #: ``PREFIX/usr/share/qemu`` when the binary brings its own, else None.
    data_dir: Path | None = None
    #: ``PREFIX/usr/lib/<triplet>/qemu`` when the binary brings its own modules.
    module_dir: Path | None = None

    def data_args(self) -> list[str]:
        """``["-L", data_dir]`` for a private prefix, else ``[]``."""
        return ["-L", str(self.data_dir)] if self.data_dir is not None else []

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str] | None:
        """The environment to run it with: ``base`` (default ``os.environ``)
        plus ``QEMU_MODULE_DIR``; None (inherit unchanged) when nothing is needed."""
        if self.module_dir is None:
            return None
        env = dict(os.environ if base is None else base)
        env["QEMU_MODULE_DIR"] = str(self.module_dir)
        return env


def qemu_binary(binary: str) -> QemuBinary:
    """Look at ``binary`` (a name on PATH or a path) and say what it needs.

    A binary that is not found is returned as it is (running it will say so).
    """
    found = shutil.which(binary)
    if found is None:
        return QemuBinary(binary)
    real = Path(os.path.realpath(found))
    bindir = real.parent
    root = bindir.parent  # PREFIX/usr for PREFIX/usr/bin/qemu-system-*
    if bindir.name != "bin" or root in SYSTEM_ROOTS:
        return QemuBinary(binary)
    data = root / "share" / "qemu"
    if not data.is_dir():
        return QemuBinary(binary)
    modules = sorted(p for p in root.glob("lib/*/qemu") if p.is_dir())
    if not modules and (root / "lib" / "qemu").is_dir():
        modules = [root / "lib" / "qemu"]
    return QemuBinary(binary, data_dir=data, module_dir=modules[0] if modules else None)
