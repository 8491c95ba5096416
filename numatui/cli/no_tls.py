"""numatui's process imports asyncio and qemu.qmp without the ``ssl`` module:
numatui never speaks TLS (QMP over a unix socket or plain TCP; libvirt
through its own C library), and loading OpenSSL was ~10 ms of every
``numatui`` process, a tenth of a whole ``numatui show``.

asyncio imports ``ssl`` only if it can (CPython without OpenSSL is a
supported build): with ``ssl`` hidden while it is imported, its TLS paths
raise ``RuntimeError`` ("ssl module not available"), never a connection
without TLS.  qemu.qmp names ``ssl.SSLContext`` in annotations only: it gets
a placeholder class.  Then ``ssl`` is unhidden, so a later ``import ssl`` gets
the real module.  Done once, before anything imports asyncio (first thing in
:mod:`numatui.cli`); where asyncio or qemu.qmp is already imported (a test
runner, a program embedding numatui) nothing is changed.  A QMP monitor over
TLS is not supported; supporting one means dropping this module.

tests/test_cli_imports.py pins it: ``numatui show`` imports no ``ssl``, and
after it asyncio refuses TLS loudly while ``import ssl`` still works.
"""

from __future__ import annotations

import sys
import types


def import_without_ssl() -> None:
    if any(name in sys.modules for name in ("ssl", "asyncio", "qemu.qmp")):
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401  (asyncio.sslproto etc. keep ssl = None)

        placeholder = types.ModuleType("ssl", "numatui's stand-in while qemu.qmp is imported")
        placeholder.SSLContext = type("SSLContext", (), {})  # type: ignore[attr-defined]
        sys.modules["ssl"] = placeholder
        import qemu.qmp  # noqa: F401
    finally:
        del sys.modules["ssl"]


import_without_ssl()
