"""Plain words for QEMU's refusals of ``set-numa-node``."""

from __future__ import annotations


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
