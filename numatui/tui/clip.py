"""Text from the QMP peer, made safe and cut to a readable length for notifications."""

from __future__ import annotations

from numatui.model import sanitise

#: Text from QEMU longer than this is cut in notifications (the QMP log and --log keep it).
MAX_NOTICE = 1500


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    """``text`` through the sanitiser (controls visible, newlines kept), cut to
    ``limit`` characters with a marker saying how much was left out."""
    return sanitise.multi_line(text, limit)
