"""Text from the QMP peer, cut to a readable length for notifications."""

from __future__ import annotations

#: Text from QEMU longer than this is cut in notifications (the QMP log and --log keep it).
MAX_NOTICE = 1500


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    more = len(text) - limit
    return f"{text[:limit]} … ({more} more characters; the QMP log has the start, --log FILE all)"
