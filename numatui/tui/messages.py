"""Messages from the session to the app, and plain words for QEMU's refusals."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class SessionChanged(Message):
    """A QMP event arrived or the run state changed (``event`` is None then)."""

    def __init__(self, event: dict[str, Any] | None) -> None:
        super().__init__()
        self.event = event


class TranscriptAppended(Message):
    """A new transcript entry (command, reply, error, event or note)."""

    def __init__(self, entry: Any) -> None:
        super().__init__()
        self.entry = entry


def refusal_reason(qemu_message: str, node: int) -> str:
    """Why QEMU refused a set-numa-node, in plain words."""
    if "already assigned" in qemu_message:
        return ("QEMU cannot move a CPU that is already on a node: there is no undo in "
                "preconfig. Nothing else changed; to start over, quit and start QEMU again.")
    if "Invalid node-id" in qemu_message or "must be defined" in qemu_message:
        return f"Node {node} does not exist in QEMU yet: press n to add a node."
    if "not supported" in qemu_message:
        return "This board has no such CPU prop."
    return "QEMU refused the change; the grid shows what QEMU has now."
