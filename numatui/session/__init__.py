"""The live layer: a QMP session with one QEMU (async, qemu.qmp only, no Textual).

``Session.connect(address)`` reads the machine; ``assign``/``add_node``/
``set_distance``/``exit_preconfig`` change it in preconfig; ``hotplug``/
``unplug`` after boot.  Modules: address (QMP addresses), errors, transcript
(the QMP log), connect + connection (the link), machine (facts read over QMP),
discovery + peer (where the NUMA nodes come from), session (the operations),
launcher (starting QEMU).
"""

from numatui.session.address import Address
from numatui.session.errors import (
    BadAddress,
    BadRequest,
    CommandTimeout,
    ConnectFailed,
    Disconnected,
    PreflightBlocked,
    QemuRefused,
    SessionError,
)
from numatui.session.machine import MachineInfo, RunState
from numatui.session.session import DISCONNECTED_EVENT, Session
from numatui.session.transcript import Entry, Transcript

__all__ = [
    "DISCONNECTED_EVENT",
    "Address",
    "BadAddress",
    "BadRequest",
    "CommandTimeout",
    "ConnectFailed",
    "Disconnected",
    "Entry",
    "MachineInfo",
    "PreflightBlocked",
    "QemuRefused",
    "RunState",
    "Session",
    "SessionError",
    "Transcript",
]
