"""Every action of the app as a command-palette entry (ctrl+p)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from textual.app import SystemCommand

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.tui.grid import CpuGrid


class Palette(Protocol):
    """What the palette needs of the app: its Vm, its grid and its actions."""

    vm: Vm

    @property
    def grid(self) -> CpuGrid: ...

    def action_assign(self, node: int) -> None: ...
    def action_add_node(self) -> None: ...
    def action_distances(self) -> None: ...
    def action_memory(self) -> None: ...
    def action_undo(self) -> None: ...
    def action_redo(self) -> None: ...
    def action_relaunch(self) -> None: ...
    def action_copy_needed_plan(self) -> None: ...
    def action_copy(self) -> None: ...
    def action_next_view(self) -> None: ...
    def action_exit_preconfig(self) -> None: ...
    def action_hotplug(self) -> None: ...
    def action_unplug(self) -> None: ...
    def action_toggle_log(self) -> None: ...
    def action_help(self) -> None: ...
    async def action_quit(self) -> None: ...


def numatui_commands(app: Palette) -> Iterable[SystemCommand]:
    grid = app.grid
    session = app.vm.session
    node_ids = sorted({n.id for n in session.nodes}
                      | {s.node_id for s in session.topology.slots if s.node_id is not None})
    for node in node_ids:
        yield SystemCommand(
            f"Assign to node {node}",
            f"Put the selection (or the cursor slot) on node {node}, live",
            lambda node=node: app.action_assign(node),
        )
    yield SystemCommand("Add a node", "Declare a new memoryless NUMA node in QEMU (n)",
                        app.action_add_node)
    yield SystemCommand("Edit distances", "The node x node distance matrix, sent live (d)",
                        app.action_distances)
    yield SystemCommand("Edit node memory", "Split the RAM across nodes; relaunches a QEMU numatui "
                        "started (m)", app.action_memory)
    history = app.vm.keeper.history
    yield SystemCommand(f"Undo ({history.undo_description() or 'nothing to undo'})",
                        "Relaunch QEMU with the plan before the last change (ctrl+z)", app.action_undo)
    yield SystemCommand(f"Redo ({history.redo_description() or 'nothing to redo'})",
                        "Relaunch QEMU with the change again (ctrl+y)", app.action_redo)
    yield SystemCommand("Relaunch or reconnect", "After QEMU went away: a new QEMU with the plan "
                        "(numatui started it), or connect again (R)", app.action_relaunch)
    yield SystemCommand("Copy the plan this move needs", "JSON plan to apply to a QEMU restarted "
                        "with --preconfig (QEMU cannot move an assigned CPU)", app.action_copy_needed_plan)
    yield SystemCommand("Select the cursor's socket", "s", lambda: grid.action_select_group("socket-id"))
    yield SystemCommand("Select the cursor's core", "c", lambda: grid.action_select_group("core-id"))
    yield SystemCommand("Select every unassigned slot", "a", grid.action_select_unassigned)
    yield SystemCommand("Clear the selection", "escape", grid.action_clear)
    yield SystemCommand("Copy the command line", "Copy what the command-line panel shows (y)",
                        app.action_copy)
    yield SystemCommand("Switch the command-line view",
                        "-numa options, full command line, JSON plan, libvirt XML (v)",
                        app.action_next_view)
    yield SystemCommand("Exit preconfig and boot", "List the preflight findings, then boot (X)",
                        app.action_exit_preconfig)
    yield SystemCommand("Hot-plug CPUs", "device_add into the selected empty slots, after boot (p)",
                        app.action_hotplug)
    yield SystemCommand("Unplug CPUs", "Ask the guest to eject the selected hot-plugged CPUs (u)",
                        app.action_unplug)
    yield SystemCommand("Toggle the QMP log", "Commands, replies and events (l)", app.action_toggle_log)
    yield SystemCommand("Help", "Keys and what QEMU allows (?)", app.action_help)
    yield SystemCommand("Quit", "Quit and print the -numa options (q)", app.action_quit)
