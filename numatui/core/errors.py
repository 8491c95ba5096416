"""The application layer's own errors: what numatui refuses before sending
anything (QEMU's refusals stay :class:`numatui.session.errors.QemuRefused`).

Not session errors: a face tells "numatui will not" (a warning, nothing
sent, exit 2) from "QEMU said no" by the type, never by the message text.
"""

from __future__ import annotations


class ActionRefused(Exception):
    """An action numatui will not do now (booted, disconnected, no such node, ...):
    nothing was sent.  The message is one sentence for the user."""


class NothingToDo(ActionRefused):
    """Undo or redo with nothing left in the history: said, not an error."""
