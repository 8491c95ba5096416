"""The host panel (``H``): the host's nodes beside the guest's, read-only."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from numatui.core.vm import Vm
from numatui.model.host_panel import host_panel_lines
from numatui.tui.paint import FollowsVm, update_static


class HostPanel(Static, FollowsVm):
    """Each host node's CPUs, memory and the guest nodes bound to it; hidden until toggled."""

    DEFAULT_CSS = """
    HostPanel { display: none; padding: 0 1; border-top: solid $primary; }
    HostPanel.shown { display: block; }
    """

    def __init__(self, vm: Vm, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.vm = vm

    def toggle(self) -> bool:
        self.toggle_class("shown")
        self.redraw()
        return self.has_class("shown")

    def redraw(self) -> None:
        if not self.has_class("shown"):
            return
        vm = self.vm
        lines = host_panel_lines(vm.host.get(), vm.session.nodes, pinning=vm.session.pinning,
                                 pinned=vm.pinned, unpinned=vm.unpinned, error=vm.host.error)
        content = Text("\n".join(lines))  # data, never markup; the first line is the title
        content.stylize("bold", 0, len(lines[0]))
        update_static(self, content)
