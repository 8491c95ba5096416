"""The headless face: ``numatui COMMAND``.

- :mod:`numatui.cli.parser`: the grammar (subcommands, options, usage errors);
- :mod:`numatui.cli.run`: :func:`main`, the one place an error becomes a line
  and an exit code, and the dispatch of each command;
- :mod:`numatui.cli.launch`: starting or reaching QEMU, the session and the
  application layer on it, the TUI;
- :mod:`numatui.cli.commands`, :mod:`numatui.cli.host`: each command's lines;
- :mod:`numatui.cli.io`: the safe output stream, reading plan files;
- :mod:`numatui.cli.signals`: SIGTERM/SIGHUP end numatui promptly;
- :mod:`numatui.cli.no_tls`: asyncio and qemu.qmp imported without ``ssl`` (first).
"""

import gc

# The imports below make tens of thousands of long-lived objects: a cyclic
# collection among them (some thirty during the imports, ~4 ms) finds nothing.
_collecting = gc.isenabled()
gc.disable()
try:
    import numatui.cli.no_tls  # noqa: F401  (before anything imports asyncio)
    from numatui.cli.run import main
finally:
    if _collecting:
        gc.enable()

__all__ = ["main"]
